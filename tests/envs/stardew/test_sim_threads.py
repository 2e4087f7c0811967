"""The batched simulator on several threads: every game plays bit for bit as it does on one."""

from __future__ import annotations

import pickle

import numba
import numpy as np
import pytest

from envs.stardew.sim import PARALLEL_MIN_GAMES, FishingSim, GameConfig, ThreadChoice
from envs.stardew.vector_env import StardewFishingVectorEnv

ARRAYS = ("obs", "final_obs", "reward", "terminated", "truncated", "outcome", "F", "I", "R", "E")

needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                       reason="numba has one thread here (NUMBA_NUM_THREADS or a 1-core machine)")


@needs_two_threads
@pytest.mark.parametrize("options", [
    {},
    {"treasure": 0.5, "frame_skip": 3, "reward": "seed", "level": (0, 20)},
    {"version": "1.6", "tackle": ["trap", "barbed"], "treasure": True, "reward": "sparse", "max_ticks": 300},
])
def test_the_same_seeds_play_bit_for_bit_the_same_games_on_one_thread_and_on_two(options):
    n = 2 * PARALLEL_MIN_GAMES + 37  # two threads, blocks of unequal length
    one = FishingSim(n, GameConfig(**options), num_threads=1)
    two = FishingSim(n, GameConfig(**options), num_threads=2)
    assert two._step_threads == 2 and one._step_threads == 1  # the parallel kernel is the one under test
    for sim in (one, two):
        sim.reset(seeds=range(1000, 1000 + n))
    rng = np.random.default_rng(7)
    ended = 0
    for t in range(600):
        actions = rng.integers(0, 2, n)
        autoreset = t % 50 != 49  # now and then a step that leaves the ended games ended
        one.step(actions, autoreset=autoreset)
        two.step(actions, autoreset=autoreset)
        for name in ARRAYS:
            a, b = getattr(one, name), getattr(two, name)
            assert a.tobytes() == b.tobytes(), f"step {t}: {name} differs between one thread and two"
        ended += int((one.terminated | one.truncated).sum())
    assert ended > n  # episodes ended, and the autoreset began new ones, on both


@needs_two_threads
def test_the_vector_env_returns_the_same_steps_on_one_thread_and_on_two():
    n = 2 * PARALLEL_MIN_GAMES
    envs = [StardewFishingVectorEnv(n, num_threads=k) for k in (1, 2)]
    firsts = [env.reset(seed=3)[0] for env in envs]
    assert firsts[0].tobytes() == firsts[1].tobytes()
    actions = np.random.default_rng(1).integers(0, 2, (300, n))
    for t in range(300):
        (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) = (env.step(actions[t]) for env in envs)
        for a, b in ((o1, o2), (r1, r2), (te1, te2), (tr1, tr2)):
            assert a.tobytes() == b.tobytes(), t
        assert i1.keys() == i2.keys()
        ended = np.flatnonzero(te1 | tr1)
        for key in ("final_obs", "final_observation"):
            if key in i1:
                assert all(i1[key][i].tobytes() == i2[key][i].tobytes() for i in ended)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "2", numba.config.NUMBA_NUM_THREADS + 1])
def test_a_thread_count_outside_what_numba_runs_is_refused_naming_the_option(bad):
    with pytest.raises(ValueError, match=r"num_threads: an integer from 1 to \d+.*got"):
        FishingSim(4, num_threads=bad)
    with pytest.raises(ValueError, match="num_threads"):
        StardewFishingVectorEnv(4, num_threads=bad)


def test_the_default_thread_count_is_numbas_and_a_small_batch_steps_on_the_calling_thread():
    assert FishingSim(4).num_threads == numba.config.NUMBA_NUM_THREADS
    assert FishingSim(PARALLEL_MIN_GAMES * 2 - 1, num_threads=1)._step_threads == 1
    assert FishingSim(PARALLEL_MIN_GAMES - 1)._step_threads == 1  # too few games to share out


def _steps(choice: ThreadChoice, k: int, threaded_s: float, one_s: float) -> list[bool]:
    """``k`` steps of ``choice`` taking these times; the ways it chose."""
    ways = []
    for _ in range(k):
        way = choice.next_way()
        choice.record(way, threaded_s if way else one_s)
        ways.append(way)
    return ways


def test_the_default_steps_the_faster_way_and_tries_again_ever_more_rarely():
    choice, trial = ThreadChoice(), 2 * ThreadChoice.TRIAL
    assert set(_steps(choice, trial, threaded_s=1e-3, one_s=2e-3)) == {True, False}  # a trial times both ways
    assert choice.threaded and choice.period == 2 * ThreadChoice.MIN_PERIOD
    assert _steps(choice, choice.period, 1e-3, 2e-3) == [True] * choice.period  # no trial until the period is over
    _steps(choice, trial, 1e-3, 2e-3)
    assert choice.threaded and choice.period == 4 * ThreadChoice.MIN_PERIOD  # the same answer: rarer trials


def test_a_step_much_slower_than_its_trial_brings_the_next_trial_forward():
    choice, trial = ThreadChoice(), 2 * ThreadChoice.TRIAL
    _steps(choice, trial, threaded_s=1e-3, one_s=2e-3)
    assert choice.threaded and choice.left > 1
    # other work takes the second core: the first slow step starts a trial, which chooses one thread
    _steps(choice, 1 + trial, threaded_s=5e-3, one_s=2e-3)
    assert not choice.threaded and choice.period == ThreadChoice.MIN_PERIOD


@needs_two_threads
def test_the_default_plays_the_same_games_as_one_thread_whichever_way_it_chooses():
    n = 2 * PARALLEL_MIN_GAMES + 5
    default, one = FishingSim(n), FishingSim(n, num_threads=1)
    for sim in (default, one):
        sim.reset(seeds=range(50, 50 + n))
    ways = set()
    rng = np.random.default_rng(3)
    for t in range(300):
        if t % 40 == 0:  # force a trial now and then: both ways are used
            default._choice.left = 0
        ways.add(default._choice.next_way())
        actions = rng.integers(0, 2, n)
        default.step(actions)
        one.step(actions)
        for name in ARRAYS:
            assert getattr(default, name).tobytes() == getattr(one, name).tobytes(), f"step {t}: {name}"
    assert ways == {True, False}


def test_a_pickled_default_simulator_is_the_default_again():
    copy = pickle.loads(pickle.dumps(FishingSim(8)))
    assert copy._choice is not None and copy.num_threads == numba.config.NUMBA_NUM_THREADS


def test_a_pickled_simulator_keeps_its_thread_count_and_its_games():
    sim = FishingSim(8, num_threads=1)
    sim.reset(seeds=range(8))
    sim.step(np.ones(8, dtype=np.int64))
    copy = pickle.loads(pickle.dumps(sim))
    assert copy.num_threads == 1
    for s in (sim, copy):
        s.step(np.zeros(8, dtype=np.int64))
    for name in ARRAYS:
        assert getattr(sim, name).tobytes() == getattr(copy, name).tobytes(), name


PROBE = """
import numpy as np
from envs.stardew.sim import PARALLEL_MIN_GAMES, FishingSim, step_games_parallel
sim = FishingSim(2 * PARALLEL_MIN_GAMES, num_threads=2)
sim.reset(seeds=range(sim.num_games))
sim.step(np.ones(sim.num_games, dtype=np.int64))
print(sum(step_games_parallel.stats.cache_hits.values()), sum(step_games_parallel.stats.cache_misses.values()))
"""


@needs_two_threads
def test_the_threaded_kernel_is_loaded_from_numbas_cache_in_a_new_process():
    """A parallel kernel is cached like the others (a new process does not compile it again)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=str(root))
    runs = [subprocess.run([sys.executable, "-c", PROBE], cwd=root, env=env, capture_output=True, text=True,
                           check=True) for _ in range(2)]
    hits, misses = map(int, runs[-1].stdout.split())
    assert (hits, misses) == (1, 0), runs[-1].stderr


def _play_in_child(queue) -> None:
    sim = FishingSim(2 * PARALLEL_MIN_GAMES, num_threads=2)
    sim.reset(seeds=range(sim.num_games))
    for t in range(50):
        sim.step(np.arange(sim.num_games) % 2 if t % 2 else np.ones(sim.num_games, dtype=np.int64))
    queue.put(sim.obs.tobytes() + sim.R.tobytes())


@needs_two_threads
def test_a_child_forked_after_the_threads_started_plays_the_same_games_on_its_own_thread():
    """GNU OpenMP cannot start again in a forked child (numba would end the process): the child steps its games
    on the calling thread, and they are the games the parent plays on two threads."""
    import multiprocessing

    here = FishingSim(2 * PARALLEL_MIN_GAMES, num_threads=2)
    here.reset(seeds=range(here.num_games))
    for t in range(50):
        here.step(np.arange(here.num_games) % 2 if t % 2 else np.ones(here.num_games, dtype=np.int64))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_play_in_child, args=(queue,))
    child.start()
    got = queue.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert got == here.obs.tobytes() + here.R.tobytes()
