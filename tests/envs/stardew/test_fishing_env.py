"""StardewFishing-v0 as users reach it: gym.make, the checkers, seeding, options, the vector env."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import example, given, settings
from hypothesis import strategies as st

from envs.registration import GYMNASIUM_1
from envs.stardew import rules as R
from envs.stardew.fish import fish_table
from envs.stardew.fishing_env import StardewFishingEnv
from envs.stardew.sim import FishingSim, GameConfig
from envs.stardew.vector_env import StardewFishingVectorEnv

INFO_KEYS = {
    "bobberBarPos", "bobberPosition", "bobberBarSpeed", "bobberSpeed", "bobberBarHeight", "distanceFromCatching",
    "perfect", "caught", "fish", "difficulty", "motion_type", "fishing_level", "tick",
}


@pytest.mark.skipif(GYMNASIUM_1, reason="Gymnasium 1 loads no plugin entry points: there `import envs` registers")
def test_gym_make_works_in_a_fresh_interpreter_with_no_other_import():
    code = 'import gymnasium as gym; e = gym.make("StardewFishing-v0"); print(e.reset(seed=0)[0].shape)'
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(8,)"


def test_importing_envs_registers_every_env_in_a_fresh_interpreter():
    # the way in on Gymnasium 1.x, which dropped the plugin entry points 0.29 registers through
    code = ('import gymnasium as gym, envs; e = gym.make("StardewFishing-v0"); print(e.reset(seed=0)[0].shape);'
            'print(sorted(i for i in gym.registry if i in envs.registration.ENVS))')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["(8,)", "['FishingPixels-v0', 'ScreenGame-v0', 'StardewFishing-v0', 'XJumpScreen-v0']"]


def test_module_qualified_id_imports_the_package():
    env = gym.make("envs:StardewFishing-v0")
    assert env.unwrapped.spec.id == "StardewFishing-v0"


def test_envs_package_never_imports_the_agents_stack():
    code = (
        "import sys, gymnasium as gym; e = gym.make('envs:StardewFishing-v0'); e.reset(seed=0); e.step(1);"
        "from envs.stardew import vector_env, render;"
        "bad = [m for m in ('torch', 'stable_baselines3', 'imitation', 'agents') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("kwargs", [{}, {"features": "seed", "reward": "seed"}, {"treasure": True, "frame_skip": 4}])
def test_gymnasium_and_sb3_checkers_pass(kwargs):
    gym_check_env(gym.make("StardewFishing-v0", **kwargs).unwrapped)
    # the Gymnasium 1.x run of these tests (in make test) installs the envs without the agents stack
    sb3_check_env = pytest.importorskip("stable_baselines3.common.env_checker").check_env
    sb3_check_env(gym.make("StardewFishing-v0", **kwargs))


def test_info_carries_the_game_values_under_the_game_names():
    env = gym.make("StardewFishing-v0", fish="Legend", level=7)
    _, info = env.reset(seed=3)
    assert set(info) >= INFO_KEYS
    assert info["fish"] == "Legend" and info["difficulty"] == 110 and info["motion_type"] == "mixed"
    assert info["fishing_level"] == 7 and info["bobberBarHeight"] == 96 + 8 * 7
    _, _, _, _, info = env.step(1)
    assert set(info) >= INFO_KEYS and info["buttonPressed"] is True


def test_seed_features_are_exactly_the_raw_game_values():
    env = gym.make("StardewFishing-v0", features="seed")
    obs, info = env.reset(seed=5)
    for _ in range(30):
        obs, _, _, _, info = env.step(1)
    assert obs.tolist() == pytest.approx([info["bobberBarPos"], info["bobberPosition"], info["bobberBarSpeed"]])


def test_seed_reward_is_the_raw_progress():
    env = gym.make("StardewFishing-v0", reward="seed")
    env.reset(seed=1)
    _, reward, _, _, info = env.step(0)
    assert reward == pytest.approx(info["distanceFromCatching"])


@pytest.mark.parametrize(("action", "caught", "end_reward"), [(0, True, 1.0), (1, False, -1.0)])
def test_sparse_reward_is_plus_one_for_a_catch_minus_one_for_an_escape_and_zero_before(action, caught, end_reward):
    # a fish that sinks to the bottom and stays: the resting bar catches it, a bar held up lets it escape
    env = gym.make("StardewFishing-v0", reward="sparse", fish={"difficulty": 0, "behavior": "smooth"}, level=0)
    env.reset(seed=0)
    rewards = []
    done = False
    while not done:
        _, r, term, trunc, info = env.step(action)
        rewards.append(r)
        done = term or trunc
    assert term and info["caught"] is caught
    assert rewards[-1] == end_reward and set(rewards[:-1]) == {0.0}


def test_shaped_reward_sums_to_progress_change_plus_end_bonus():
    env = gym.make("StardewFishing-v0", fish="Carp", level=10)
    _, info = env.reset(seed=2)
    p0, total = info["distanceFromCatching"], 0.0
    done = False
    while not done:
        _, r, term, trunc, info = env.step(int(info["bobberPosition"] + 30 < info["bobberBarPos"] + 60))
        total += r
        done = term or trunc
    bonus = (10 + 5 * info["perfect"]) if info["caught"] else -10
    assert total == pytest.approx(100 * (info["distanceFromCatching"] - p0) + bonus, abs=1e-3)


def test_reset_with_the_same_seed_replays_the_same_episode():
    env = gym.make("StardewFishing-v0")

    def play():
        obs, _ = env.reset(seed=11)
        traj = [obs]
        for k in range(300):
            obs, r, term, trunc, _ = env.step(k % 4 == 0)
            traj.append(obs)
            if term or trunc:
                break
        return np.array(traj)

    assert np.array_equal(play(), play())


def test_different_seeds_play_different_minigames():
    # the evaluation seeds games 90,000,000 + g: every one of them must start its own minigame
    seeds = 90_000_000 + np.arange(1000)
    sim = FishingSim(len(seeds), GameConfig())
    sim.reset(seeds=seeds)
    assert len(np.unique(sim.R, axis=0)) == len(seeds)  # each game's .NET generator, seeded from its stream
    env = gym.make("StardewFishing-v0")
    generators = set()
    for seed in (0, 1, 2**32, 2**40 + 1):  # seeds differing only above the low 32 bits too
        env.reset(seed=seed)
        generators.add(env.unwrapped.sim.R[0].tobytes())
    assert len(generators) == 4


def test_scalar_env_and_batched_slots_play_identical_trajectories_across_episodes():
    seeds = [0, 17, 99]
    n_steps = 2500  # several episodes per slot
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, (n_steps, len(seeds)))
    batched = FishingSim(len(seeds), GameConfig())
    batched.reset(seeds=seeds)
    b_obs, b_rew, b_done = [], [], []
    for t in range(n_steps):
        batched.step(actions[t], autoreset=True)
        b_obs.append(batched.obs.copy())
        b_rew.append(batched.reward.copy())
        b_done.append(batched.terminated | batched.truncated)
    b_obs, b_rew, b_done = np.array(b_obs), np.array(b_rew), np.array(b_done)
    assert b_done.sum() >= 3 * len(seeds)
    for g, seed in enumerate(seeds):
        env = gym.make("StardewFishing-v0")
        env.reset(seed=seed)
        for t in range(n_steps):
            obs, r, term, trunc, _ = env.step(int(actions[t, g]))
            assert r == b_rew[t, g]
            if term or trunc:
                assert b_done[t, g]
                obs, _ = env.reset()
            assert np.array_equal(obs, b_obs[t, g]), (seed, t)


@settings(max_examples=25, deadline=None)
# float32, as in the game: at 440.00003 the bar plus its 128 px sums to exactly 568, so the bounce test
# (bar + H > 568) lets it stay a rounding step below the bottom; Hypothesis found this case
@example(actions=[0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0], fish="Lava Eel", level=4, seed=6, version="1.5")
@given(
    actions=st.lists(st.integers(0, 1), min_size=1, max_size=600),
    fish=st.sampled_from([f.name for f in fish_table()]),
    level=st.integers(0, 10),
    seed=st.integers(0, 2**32),
    version=st.sampled_from(["1.5", "1.6"]),
)
def test_bar_and_fish_stay_on_their_tracks_for_any_actions(actions, fish, level, seed, version):
    sim = FishingSim(1, GameConfig(fish=fish, level=level, version=version, treasure=0.5))
    sim.reset(seeds=[seed])
    h = int(sim.I[0, R.I_HEIGHT])
    for a in actions:
        sim.step(np.array([a]), autoreset=True)
        assert sim.F[0, R.F_BAR_POS] >= 0
        assert np.float32(sim.F[0, R.F_BAR_POS] + np.float32(h)) <= 568
        assert 0 <= sim.F[0, R.F_FISH_POS] <= 532
        assert 0 <= sim.F[0, R.F_PROGRESS] <= 1
        assert -1.5 <= sim.F[0, R.F_FSA] <= 1.5
        assert -1 <= sim.F[0, R.F_FISH_TARGET] <= 548


def test_fish_can_be_chosen_by_name_id_list_or_as_a_custom_fish():
    env = gym.make("StardewFishing-v0", fish=["Legend", 128])
    names = {env.reset(seed=s)[1]["fish"] for s in range(30)}
    assert names == {"Legend", "Pufferfish"}
    _, info = gym.make("StardewFishing-v0", fish={"difficulty": 95, "behavior": "dart"}).reset(seed=0)
    assert info["difficulty"] == 95 and info["motion_type"] == "dart"
    _, info = gym.make("StardewFishing-v0", level=(3, 3)).reset(seed=0)
    assert info["fishing_level"] == 3


def test_reset_options_switch_the_fish_for_the_next_episode():
    env = gym.make("StardewFishing-v0")
    _, info = env.reset(seed=0, options={"fish": "Octopus", "level": 2})
    assert info["fish"] == "Octopus" and info["fishing_level"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fish": "Moby Dick"}, "fish: no fish 'Moby Dick'"),
        ({"level": (5, 2)}, "level:"),
        ({"tackle": ["anchor"]}, "tackle: unknown 'anchor'"),
        ({"tackle": ["cork", "trap"]}, "one tackle slot"),
        ({"version": "1.7"}, "version:"),
        ({"features": ["bar_center", "x-ray"]}, "unknown feature 'x-ray'"),
        ({"reward": "money"}, "reward:"),
        ({"level": "5"}, "level: an integer 0..20"),
        ({"level": 5.5}, "level: an integer 0..20"),
        ({"tackle": "cork"}, "tackle: a list of names"),
        ({"tackle": {"cork": -1}, "version": "1.6"}, "tackle: the count of 'cork'"),
        ({"frame_skip": 2.5}, "frame_skip: an integer >= 1"),
        ({"max_ticks": 0}, "max_ticks: an integer >= 1"),
        ({"max_ticks": 20}, "max_ticks: the cap counts the 20 fade-in ticks"),
        ({"treasure": "yes"}, "treasure: a bool or a probability"),
        ({"training_rod": "no"}, "training_rod: True or False"),
        ({"fish": 3.5}, "fish: None, a name or id"),
        ({"fish": {"difficulty": "hard", "behavior": "dart"}}, "fish: difficulty must be an integer"),
        ({"reward_weights": {"catch": float("nan")}}, "reward_weights: 'catch' must be a finite number"),
        ({"fsh": "Legend"}, "unknown ['fsh']"),
        ({"level": 3, "lvl": 3, "treasur": True}, "unknown ['lvl', 'treasur']"),
    ],
)
def test_bad_options_raise_errors_that_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        gym.make("StardewFishing-v0", **kwargs)


def test_a_misspelt_option_is_the_same_value_error_in_gym_make_reset_and_the_vector_env():
    # the README promises ValueError naming the option wherever options are given; a TypeError from the
    # config's constructor named neither the env nor the options it takes
    with pytest.raises(ValueError, match=r"unknown \['fsh'\].*'fish'.*render_mode"):
        gym.make("StardewFishing-v0", fsh="Legend")
    with pytest.raises(ValueError, match=r"unknown \['fsh'\].*'fish'"):
        StardewFishingVectorEnv(2, fsh="Legend")
    with pytest.raises(ValueError, match=r"unknown \['fsh'\].*'fish'"):
        gym.make("StardewFishing-v0").reset(options={"fsh": "Legend"})


def final_outcomes(infos: dict, n: int) -> dict[int, tuple[np.ndarray, dict]]:
    """The games that ended this step: index -> (last observation, outcome), read from whichever form the
    installed Gymnasium uses for same-step autoreset (0.29: final_observation and a dict per game; 1.x:
    final_obs and a dict of arrays)."""
    if GYMNASIUM_1:
        if "final_obs" not in infos:
            return {}
        fi = infos["final_info"]
        return {i: (infos["final_obs"][i], {k: fi[k][i] for k in fi if not k.startswith("_") and fi["_" + k][i]})
                for i in range(n) if infos["_final_obs"][i]}
    if "final_observation" not in infos:
        return {}
    return {i: (infos["final_observation"][i], infos["final_info"][i])
            for i in range(n) if infos["_final_observation"][i]}


def test_vector_env_autoresets_in_the_same_step_and_reports_the_final_observation():
    venv = StardewFishingVectorEnv(8)
    assert venv.metadata["autoreset_mode"] == (gym.vector.AutoresetMode.SAME_STEP if GYMNASIUM_1 else "same-step")
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (8, 8) and venv.observation_space.contains(obs)
    ended = 0
    for _ in range(3000):
        obs, rew, term, trunc, infos = venv.step(np.ones(8, dtype=np.int64))
        for i, (last, outcome) in final_outcomes(infos, 8).items():
            ended += 1
            assert last.shape == (8,)
            assert isinstance(outcome["caught"], (bool, np.bool_))
            assert obs[i][6] == pytest.approx(2 * 0.3 - 1)  # the new episode starts at progress 0.3
    assert ended >= 8


@pytest.mark.skipif(not GYMNASIUM_1, reason="0.29's make_vec builds only its experimental vector API")
def test_make_vec_builds_the_batched_simulator_with_the_game_options():
    venv = gym.make_vec("StardewFishing-v0", num_envs=3, fish="Carp", features="seed")
    assert isinstance(venv, StardewFishingVectorEnv) and venv.num_envs == 3
    obs, _ = venv.reset(seed=5)
    assert obs.shape == (3, 3) and {venv.sim.fish_of(g).name for g in range(3)} == {"Carp"}
    np.testing.assert_array_equal(obs[1], gym.make("StardewFishing-v0", fish="Carp", features="seed").reset(seed=6)[0])


def test_vector_env_asked_to_render_says_where_frames_come_from():
    # gym.make_vec(id, render_mode=...) passes it on to the vector entry point on Gymnasium 1.x
    with pytest.raises(ValueError, match="render_mode='rgb_array': the batched simulator draws nothing.*sync"):
        StardewFishingVectorEnv(2, render_mode="rgb_array")
    if GYMNASIUM_1:
        with pytest.raises(ValueError, match="the batched simulator draws nothing"):
            gym.make_vec("StardewFishing-v0", num_envs=2, render_mode="rgb_array")
        venv = gym.make_vec("StardewFishing-v0", num_envs=2, vectorization_mode="sync", render_mode="rgb_array")
        venv.reset(seed=0)
        assert len(venv.render()) == 2


def test_vector_env_plays_as_gymnasiums_own_sync_vector_env_of_the_scalar_env():
    # the same games, step for step, as Gymnasium's SyncVectorEnv over StardewFishing-v0 (same-step autoreset),
    # in the installed Gymnasium's own vector protocol: observations, rewards, ends, final observations, outcomes
    n, steps = 6, 2500
    ours = StardewFishingVectorEnv(n, level=(0, 10))
    fns = [lambda: gym.make("StardewFishing-v0", level=(0, 10)) for _ in range(n)]
    if GYMNASIUM_1:
        theirs = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    else:
        theirs = gym.vector.SyncVectorEnv(fns)
    a, _ = ours.reset(seed=11)
    b, _ = theirs.reset(seed=11)
    np.testing.assert_array_equal(a, b)
    actions = np.random.default_rng(0).integers(0, 2, (steps, n))
    ended = 0
    for t in range(steps):
        a, ra, ta, ua, ia = ours.step(actions[t])
        b, rb, tb, ub, ib = theirs.step(actions[t])
        np.testing.assert_array_equal(a, b, err_msg=f"step {t}")
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ua, ub)
        fa, fb = final_outcomes(ia, n), final_outcomes(ib, n)
        assert fa.keys() == fb.keys(), t
        for i, (last, outcome) in fa.items():
            np.testing.assert_array_equal(last, fb[i][0])
            assert outcome == {k: fb[i][1][k] for k in outcome}, (t, i)
            assert set(outcome) == {"caught", "perfect", "tick", "fish", "fishing_level"}
            ended += 1
    assert ended >= 20


def test_rgb_render_draws_the_bar_and_fish_where_the_game_has_them():
    from envs.stardew import render as rd

    env = gym.make("StardewFishing-v0", render_mode="rgb_array")
    _, info = env.reset(seed=4)
    for _ in range(40):
        _, _, _, _, info = env.step(1)
    img = env.render()
    assert img.shape == (rd.HEIGHT, rd.WIDTH, 3) and img.dtype == np.uint8
    column = img[:, rd.TRACK_X + 4]
    bar_rows = np.flatnonzero(np.all(column == rd.BAR, axis=1))
    assert abs(bar_rows.min() - (rd.TRACK_Y + info["bobberBarPos"])) <= 3
    fish_rows = np.flatnonzero(np.all(img[:, rd.TRACK_X + rd.TRACK_W // 2] == rd.FISH, axis=1))
    assert abs(fish_rows.mean() - (rd.TRACK_Y + info["bobberPosition"] + rd.FISH_OFFSET)) <= 3


def test_socket_backend_takes_its_timeouts_as_options():
    env = gym.make("StardewFishing-v0", backend="socket", port=1, socket_timeouts={"timeout": 0.5, "reset_timeout": 2})
    remote = env.unwrapped.remote
    assert (remote.port, remote.timeout, remote.reset_timeout) == (1, 0.5, 2)
    env.close()


def test_numpy_integers_are_accepted_wherever_an_int_is():
    env = gym.make("StardewFishing-v0", fish=[np.int64(128)], level=np.int64(4), frame_skip=np.int32(2))
    _, info = env.reset(seed=0, options={"fish": np.int64(163), "level": np.array([1, 2])})
    assert info["fish"] == "Legend" and info["fishing_level"] in (1, 2)


def test_a_rejected_reset_option_leaves_the_env_as_it_was():
    env = gym.make("StardewFishing-v0", fish="Carp", level=3)
    env.reset(seed=0)
    for bad in ({"level": 99}, {"lvl": 3}, {"fish": "Moby Dick"}):
        with pytest.raises(ValueError, match="level|lvl|Moby Dick"):
            env.reset(options=bad)
    _, info = env.reset(options={"fish": "Octopus"})  # later option changes still work
    assert info["fish"] == "Octopus" and info["fishing_level"] == 3
    assert env.unwrapped.config.level == 3


def test_actions_other_than_0_or_1_are_refused_before_any_game_moves():
    env = gym.make("StardewFishing-v0")
    env.reset(seed=0)
    for bad in (2, -1, 1.7):
        with pytest.raises(ValueError, match="0 \\(release\\) or 1 \\(hold\\)"):
            env.unwrapped.step(bad)
    sim = FishingSim(4)
    sim.reset(seeds=[0, 1, 2, 3])
    before = sim.F.copy()
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        sim.step(np.array([1, 1]))
    with pytest.raises(ValueError, match="0 \\(release\\) or 1 \\(hold\\)"):
        sim.step(np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="integers 0 or 1"):
        sim.step(np.zeros(4))
    with pytest.raises(ValueError, match="idx must lie in 0..3"):
        sim.reset(idx=[1000])
    np.testing.assert_array_equal(sim.F, before)


def test_a_copied_or_pickled_env_goes_on_from_the_same_tick():
    env = gym.make("StardewFishing-v0")
    env.reset(seed=5)
    for _ in range(50):
        env.step(1)
    actions = np.random.default_rng(0).integers(0, 2, 200)
    copies = [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]
    runs = [[e.step(a) for a in actions] for e in [env, *copies]]
    for run in runs[1:]:
        for (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) in zip(runs[0], run, strict=True):
            np.testing.assert_array_equal(o1, o2)
            assert (r1, te1, tr1, i1["tick"]) == (r2, te2, tr2, i2["tick"])


def test_max_ticks_cuts_the_episode_at_exactly_that_many_game_ticks():
    # the fade-in's 20 ticks count, with or without skip_fade_in: 30 means 10 decisions after a skipped fade-in
    for skip, decisions in ((True, 10), (False, 30)):
        env = gym.make("StardewFishing-v0", fish="Legend", level=0, max_ticks=30, skip_fade_in=skip)
        env.reset(seed=7)
        steps, truncated, info = 0, False, {}
        while not truncated:
            _, _, terminated, truncated, info = env.step(steps % 2)
            steps += 1
            assert not terminated
        assert (steps, info["tick"]) == (decisions, 30)


def test_vector_env_refuses_a_negative_seed_as_the_scalar_env_does():
    venv = StardewFishingVectorEnv(3)
    with pytest.raises(ValueError, match=r"game 0's seed: an integer from 0 to 2\*\*64 - 1, got -1"):
        venv.reset(seed=-1)
    with pytest.raises(ValueError, match=r"game 2's seed: an integer from 0 to 2\*\*64 - 1, got -5"):
        venv.reset(seed=[0, 1, -5])
    with pytest.raises(gym.error.Error, match="greater or equal to zero"):
        gym.make("StardewFishing-v0").reset(seed=-1)


def test_vector_env_reset_without_a_seed_continues_each_game_stream():
    def run():
        venv = StardewFishingVectorEnv(3)
        venv.reset(seed=7)
        venv.step(np.ones(3, dtype=np.int64))
        obs, _ = venv.reset()
        return obs, venv.step(np.array([1, 0, 1]))[0]

    a, b = run(), run()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level": 20, "version": "1.6", "tackle": {"cork": 2}, "deluxe_bait": True},
        {"fish": "Legend", "features": ["bobberTargetPosition", "bobberSpeed", "floaterSinkerAcceleration"]},
        {"fish": {"difficulty": 200, "behavior": "dart"}, "features": ["bobberTargetPosition", "fish_vel"]},
        {"treasure": True, "fish": "Carp", "level": 10},
    ],
)
def test_observations_stay_inside_the_observation_space_at_the_option_extremes(kwargs):
    env = gym.make("StardewFishing-v0", skip_fade_in=False, **kwargs)
    space = env.observation_space
    chests = 0
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        assert space.contains(obs), obs
        done = False
        while not done:
            sim = env.unwrapped.sim
            # chase the chest while one shows, else follow the fish: reaches every feature's extremes
            tpos = sim.F[0, R.F_TREASURE_POS] if sim.F[0, R.F_TREASURE_TIMER] <= 0 and sim.I[0, R.I_TREASURE] else -1
            target = tpos if tpos >= 0 and not sim.I[0, R.I_TREASURE_CAUGHT] else sim.F[0, R.F_FISH_POS]
            window = sim.F[0, R.F_BAR_POS] + sim.I[0, R.I_HEIGHT] / 2 - 30 + 6 * sim.F[0, R.F_BAR_SPEED]
            obs, _, te, tr, info = env.step(int(target < window))
            assert space.contains(obs), (obs, info["tick"])
            done = te or tr
        chests += info["treasureCaught"]
    assert "treasure" not in kwargs or chests > 0


def test_steps_after_the_episode_ended_earn_nothing_until_reset():
    env = StardewFishingEnv(fish="Legend", level=0)
    env.reset(seed=0)
    done, steps = False, 0
    while not done:
        obs, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
        steps += 1
    with pytest.warns(UserWarning, match="call reset"):
        again = env.step(1)
    np.testing.assert_array_equal(again[0], obs)
    assert again[1:4] == (0.0, terminated, truncated) and again[4]["tick"] == info["tick"]
    env.reset(seed=0)
    assert env.step(0)[1] != 0.0  # a fresh episode pays again


def test_a_vector_env_reset_rejected_for_its_seeds_leaves_the_options_as_they_were():
    # the options were applied before the seeds were checked, so a refused reset still switched the fish
    venv = StardewFishingVectorEnv(2, fish="Carp")
    for seed in (-1, [0, 1, 2]):
        with pytest.raises(ValueError, match="seed"):
            venv.reset(seed=seed, options={"fish": "Legend"})
    assert venv.sim.config.fish == "Carp"
    venv.reset(seed=0)
    assert {venv.sim.fish_of(g).name for g in range(2)} == {"Carp"}


def test_an_array_of_actions_given_to_the_scalar_env_is_refused_naming_the_action():
    # a batch such as a vector policy's output was numpy's "setting an array element with a sequence" ([1]) or
    # "truth value of an array ... is ambiguous" ([0, 1]): neither said that the action was the problem
    env = gym.make("StardewFishing-v0")
    env.reset(seed=0)
    tick = env.unwrapped.sim.I[0, R.I_TICK]
    for bad in (np.array([1]), np.array([[0]]), np.array([0, 1])):
        with pytest.raises(ValueError, match=r"step: action must be 0 \(release\) or 1 \(hold\), got array"):
            env.step(bad)
    assert env.unwrapped.sim.I[0, R.I_TICK] == tick  # no game tick was played
    for good in (np.int64(1), np.array(0), True):
        env.step(good)


@pytest.mark.parametrize(
    ("timeouts", "message"),
    [
        ({"conect_timeout": 1.0}, r"socket_timeouts: unknown \['conect_timeout'\]"),
        ({"timeout": -1}, "socket_timeouts: 'timeout' must be a number of seconds > 0, got -1"),
        ({"connect_timeout": "5"}, "socket_timeouts: 'connect_timeout' must be a number of seconds > 0, got '5'"),
        ({"reset_timeout": float("nan")}, "socket_timeouts: 'reset_timeout' must be a number"),
        (5.0, "socket_timeouts: a dict"),
    ],
)
def test_bad_socket_timeouts_raise_a_value_error_naming_the_key_when_the_env_is_made(timeouts, message):
    # a misspelt key was RemoteGame's TypeError, and a bad value only failed at the first connect, as a socket
    # error that named no option ("'str' object cannot be interpreted as an integer")
    with pytest.raises(ValueError, match=message):
        gym.make("StardewFishing-v0", backend="socket", port=1, socket_timeouts=timeouts)


def test_a_rejected_reset_after_the_episode_ended_keeps_it_ended():
    env = gym.make("StardewFishing-v0", fish="Carp", level=3, max_ticks=100)
    env.reset(seed=0)
    done = False
    while not done:
        *_, terminated, truncated, last = env.step(1)
        done = terminated or truncated
    for bad_reset in ({"options": {"level": 99}}, {"seed": 2**64}, {"seed": -1}):
        with pytest.raises((ValueError, gym.error.Error)):
            env.reset(**bad_reset)
        with warnings.catch_warnings():  # the env warns once about steps after the end
            warnings.simplefilter("ignore")
            _, reward, *_, info = env.step(1)
        assert reward == 0.0 and info["tick"] == last["tick"]  # still the ended episode, not a tick more


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tackle": None}, "tackle: a list of names or ids"),
    ({"tackle": [["cork"]]}, "tackle: unknown ['cork']"),
    ({"tackle": {"cork": 2**70}}, "tackle: the count of 'cork' must be an integer 0..2"),
    ({"frame_skip": 2**70}, "frame_skip: 1180591620717411303424 is too large"),
    ({"max_ticks": 2**70}, "max_ticks: 1180591620717411303424 is too large"),
    ({"features": 123}, "features: a preset name"),
    ({"features": [["bar_center"]]}, "features: a preset name"),
    ({"port": 8765}, "port: only for backend='socket'"),
    ({"host": "localhost", "socket_timeouts": {"timeout": 1}}, "host, socket_timeouts: only for backend='socket'"),
    ({"backend": "socket", "port": 99999}, "port: an integer 1..65535, got 99999"),  # the OS would take 34463
    ({"backend": "socket", "port": 8765.9}, "port: an integer 1..65535, got 8765.9"),
    ({"backend": "socket", "host": 123}, "host: a host name or address"),
])
def test_options_of_the_wrong_type_or_size_raise_a_value_error_naming_them(kwargs, message):
    with pytest.raises(ValueError) as e:
        gym.make("StardewFishing-v0", **kwargs)
    assert message in str(e.value)


@pytest.mark.parametrize(("options", "message"), [
    (["fish"], "options: a dict of game options"),
    ("notadict", "options: a dict of game options"),
])
def test_reset_options_that_are_not_a_dict_are_refused_by_name(options, message):
    env = gym.make("StardewFishing-v0")
    with pytest.raises(ValueError, match=message):
        env.reset(options=options)


def test_seeds_past_2_64_are_refused_rather_than_replaying_a_smaller_seeds_games():
    env = gym.make("StardewFishing-v0")
    with pytest.raises(ValueError, match=r"seed: an integer from 0 to 2\*\*64 - 1, got 18446744073709551616"):
        env.reset(seed=2**64)
    venv = StardewFishingVectorEnv(2)
    with pytest.raises(ValueError, match="game 0's seed: an integer from 0 to"):
        venv.reset(seed=[2**64, 0])
    for bad in (1.5, True, "3"):
        with pytest.raises(ValueError, match="seed"):
            venv.reset(seed=bad)


def test_vector_env_seeds_past_2_63_stay_distinct_streams():
    # a list holding one went through float64, where seeds 1 apart (or 2**64 - 1 and 0) are one stream
    def game_0(seeds):
        venv = StardewFishingVectorEnv(2)
        obs, _ = venv.reset(seed=seeds)
        rows = [obs[0].copy()]
        for _ in range(40):
            obs, *_ = venv.step(np.ones(2, dtype=np.int64))
            rows.append(obs[0].copy())
        return np.array(rows)

    top = game_0([2**64 - 1, 0])
    assert not np.array_equal(game_0([2**63, 0]), game_0([2**63 + 1, 0]))
    assert not np.array_equal(top, game_0([0, 1]))  # 2**64 - 1 is not seed 0


@pytest.mark.parametrize("n", [0, -1, 2.0, "3", None, True])
def test_vector_env_num_envs_must_be_a_positive_integer(n):
    with pytest.raises(ValueError, match="num_envs: an integer >= 1"):
        StardewFishingVectorEnv(n)


def test_the_simulator_takes_seeds_as_any_sequence_of_integers():
    # benchmarks and training pass a range or a numpy array; a list must play the same games
    from envs.stardew.sim import FishingSim, GameConfig

    sim = FishingSim(3, GameConfig())
    games = []
    for seeds in ([4, 5, 6], range(4, 7), np.arange(4, 7), (4, 5, 6)):
        sim.reset(seeds=seeds)
        games.append(sim.obs.copy())
    assert all(np.array_equal(games[0], g) for g in games[1:])
