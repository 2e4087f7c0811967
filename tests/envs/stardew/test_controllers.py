import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.evaluation.protocol import (
    DEV_SEED0,
    TEST_SEED0,
    dumps,
    figures,
    paired,
    protocol_config,
    protocol_options,
    run_episodes,
    summarize,
)
from envs.stardew import rules as R
from envs.stardew.controllers import Visible, make_controller
from envs.stardew.sim import FishingSim, GameConfig

SEEDS = 400
REPORT = Path(__file__).resolve().parents[3] / "reports" / "evaluation.json"


@pytest.fixture(scope="module")
def results():
    return {name: summarize(run_episodes(make_controller(name), n=SEEDS, seed0=DEV_SEED0 + 123_000))
            for name in ("random", "naive", "braking", "lead")}


def test_braking_controller_beats_random_and_naive_on_fixed_seeds(results):
    assert results["braking"]["catch"] > results["random"]["catch"] + 0.4
    assert results["braking"]["catch"] > results["naive"]["catch"]


def test_lead_controller_is_the_best_hand_written_one(results):
    assert results["lead"]["catch"] >= results["braking"]["catch"]
    assert results["lead"]["hard_catch"] > results["braking"]["hard_catch"]


def test_visible_from_obs_decodes_the_same_numbers_as_the_simulator():
    sim = FishingSim(64, GameConfig(), "default")
    sim.reset(seeds=np.arange(64))
    ctl = make_controller("lead")
    for _ in range(50):
        sim.step(ctl.act(sim))
    a, b = Visible.from_sim(sim), Visible.from_obs(sim.obs, sim.feature_names)
    for field in ("bar", "bar_speed", "height", "fish", "fish_vel", "progress"):
        np.testing.assert_allclose(getattr(b, field), getattr(a, field), atol=1e-3, err_msg=field)
    seed = FishingSim(64, GameConfig(), "seed")
    seed.reset(seeds=np.arange(64))
    for _ in range(50):
        seed.step(ctl.act(seed))
    c = Visible.from_obs(seed.obs, seed.feature_names, height=seed.I[:, 1])
    np.testing.assert_allclose(c.bar, seed.bobberBarPos, atol=1e-4)
    np.testing.assert_allclose(c.fish, seed.bobberPosition, atol=1e-4)


def test_controllers_drive_the_gym_env_from_its_observations():
    env = gym.make("StardewFishing-v0")
    ctl = make_controller("braking")
    caught = 0
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        for _ in range(20_000):
            a = int(ctl(Visible.from_obs(obs, env.unwrapped.feature_names))[0])
            obs, r, term, trunc, info = env.step(a)
            if term or trunc:
                break
        assert term or trunc
        caught += info["caught"]
    assert caught >= 2


def test_episodes_record_the_step_on_which_the_perfect_was_lost():
    ep = run_episodes(make_controller("lead"), n=200, seed0=DEV_SEED0 + 7_000)
    lost = ep.perfect_lost_step
    assert (lost[ep.perfect] == -1).all()
    assert ((lost > 0) & (lost <= ep.ticks))[ep.caught & ~ep.perfect].all()
    g = int(np.flatnonzero(ep.caught & ~ep.perfect)[0])
    # replayed alone, the same game keeps its perfect up to that step and loses it on it
    sim = FishingSim(1, protocol_config())
    sim.reset(seeds=[int(ep.seeds[g])])
    lead = make_controller("lead")
    for _ in range(lost[g] - 1):
        sim.step(lead.act(sim), autoreset=False)
    assert sim.I[0, R.I_PERFECT] == 1
    sim.step(lead.act(sim), autoreset=False)
    assert sim.I[0, R.I_PERFECT] == 0


def test_the_baselines_play_the_published_figures_again():
    """reports/ was written with the pinned numpy and numba on Gymnasium 0.29; the envs allow other versions
    (make test runs this in .venv-gym1 and .venv-oldest too), and none of them may move a single fish."""
    published = json.loads(REPORT.read_text())
    protocol = published["protocol"]
    if (protocol["episodes"], protocol["seeds"][0]) != (5000, TEST_SEED0):
        pytest.skip(f"{REPORT} holds a run of {protocol['episodes']} episodes from seed {protocol['seeds'][0]} "
                    "(make evaluate --episodes ...), not the published 5,000 held-out seeds")
    assert json.loads(dumps(protocol_options())) == protocol["config"], "the protocol's game options changed since reports/"
    runs = {name: run_episodes(make_controller(name), n=5000, seed0=TEST_SEED0)
            for name in ("random", "naive", "braking", "lead", "lead_seed")}
    for name, ep in runs.items():
        mine = json.loads(dumps(figures(ep)))
        theirs = {k: v for k, v in published["policies"][name].items() if k != "eval_seconds"}
        assert mine == theirs, f"{name} no longer plays the figures in {REPORT}"
        if name != "lead":
            key = f"{name} vs lead"
            assert json.loads(dumps(paired(runs["lead"], ep))) == published["paired"][key], key
