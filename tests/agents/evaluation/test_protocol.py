"""The population protocol's figures: run_episodes' labels, the summary statistics, strict JSON."""

import argparse
import json
import math

import numpy as np
import pytest

from agents.evaluation.protocol import (
    DEV_SEED0,
    dumps,
    paired,
    per_fish,
    per_level,
    protocol_config,
    run_episodes,
    summarize,
    wilson,
)
from envs.cli.argtypes import int_at_least
from envs.stardew import rules as R
from envs.stardew.controllers import make_controller
from envs.stardew.sim import O_PERFECT, FishingSim

SEED0 = DEV_SEED0 + 431_000


def strict_loads(text: str):
    def reject(token: str):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=reject)


def test_episodes_cut_off_by_max_steps_keep_their_own_fish_and_level():
    full = run_episodes(make_controller("braking"), n=60, seed0=SEED0)
    cut = run_episodes(make_controller("braking"), n=60, seed0=SEED0, max_steps=5)
    assert cut.truncated.all() and not cut.caught.any()
    np.testing.assert_array_equal(cut.level, full.level)
    np.testing.assert_array_equal(cut.fish, full.fish)
    np.testing.assert_array_equal(cut.difficulty, full.difficulty)
    assert summarize(cut)["truncated"] == 60 and summarize(full)["truncated"] == full.truncated.sum()
    assert sum(s["episodes"] for s in per_level(cut).values()) == 60
    assert {k: v["episodes"] for k, v in per_fish(cut).items()} == {k: v["episodes"] for k, v in per_fish(full).items()}


def test_a_perfect_counts_only_for_a_caught_fish():
    # cut by the safety cap after 40 ticks, the braking controller still holds most fish perfectly: none is caught
    ep = run_episodes(make_controller("braking"), n=40, seed0=SEED0, config=protocol_config(max_ticks=40))
    assert ep.truncated.all() and not ep.caught.any()
    assert not ep.perfect.any()
    s = summarize(ep)
    assert s["perfect"] == 0.0 and s["truncated"] == 40
    # the simulator's own outcome row (what the vector env reports) says the same of the fish it still held
    sim = FishingSim(40, protocol_config(max_ticks=40))
    sim.reset(seeds=np.arange(SEED0, SEED0 + 40))
    braking = make_controller("braking")
    for _ in range(20):
        sim.step(braking.act(sim), autoreset=False)
    assert sim.truncated.all() and sim.I[:, R.I_PERFECT].any()
    assert not sim.outcome[:, O_PERFECT].any()


def test_summary_rates_have_the_protocols_denominators():
    ep = run_episodes(make_controller("naive"), n=300, seed0=SEED0)
    s = summarize(ep)
    hard = ep.difficulty >= 90
    assert s["hard_episodes"] == hard.sum() > 0
    assert s["hard_catch"] == pytest.approx(ep.caught[hard].sum() / hard.sum())
    assert s["perfect"] == pytest.approx(ep.perfect.sum() / 300)  # over all episodes, not over catches
    assert s["mean_ticks_to_catch"] == pytest.approx(ep.ticks[ep.caught].mean())  # over catches only
    assert 0 < ep.caught.sum() < 300


def test_wilson_interval_matches_the_closed_form_and_its_edges():
    z = 1.959963984540054
    assert wilson(0, 20) == pytest.approx((0.0, z * z / (20 + z * z)))
    assert wilson(20, 20) == pytest.approx((20 / (20 + z * z), 1.0))
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, n in ((45, 100), (1, 3), (4466, 5000)):
        ci = scipy_stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_paired_counts_split_the_same_seeds_four_ways():
    a = run_episodes(make_controller("naive"), n=200, seed0=SEED0)
    b = run_episodes(make_controller("braking"), n=200, seed0=SEED0)
    p = paired(a, b)
    assert sum(p.values()) == 200
    assert p["new_successes"] - p["regressions"] == b.caught.sum() - a.caught.sum()
    with pytest.raises(ValueError, match="different seeds"):
        paired(a, run_episodes(make_controller("naive"), n=200, seed0=SEED0 + 1))


def test_rates_over_no_episodes_are_written_as_null_not_nan():
    ep = run_episodes(make_controller("random"), n=4, seed0=SEED0)
    res = {"overall": summarize(ep), "per_level": per_level(ep)}
    assert math.isnan(res["per_level"][next(lv for lv, s in res["per_level"].items() if not s["episodes"])]["catch"])
    back = strict_loads(dumps(res))
    assert all(s["catch"] is None for s in back["per_level"].values() if s["episodes"] == 0)
    assert back["overall"]["episodes"] == 4


@pytest.mark.parametrize("text", ["0", "-3", "many"])
def test_an_episode_count_below_one_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        int_at_least(1)(text)
    assert int_at_least(1)("7") == 7
    with pytest.raises(ValueError, match="at least 1"):
        run_episodes(make_controller("random"), n=int(text) if text != "many" else 0)
