"""Simulator speed, measured beside Gymnasium's CartPole-v1 in the same run (the ratio is the figure).

    make bench            # or: python benchmarks/bench_env.py [--seconds 2]

Prints single-env steps/s through ``gym.make`` and through the bare env/simulator for both, and the
batched simulator's env-steps/s at 1, 256, 4,096 and 16,384 games (random actions, autoreset on), on one
thread and on two, beside Gymnasium's own batched CartPole (``CartPoleVectorEnv``, numpy, autoreset in
place) at the same sizes, and the default (``num_threads=None``, which steps on the threads while it measures
them to be faster than one). The batched figures are medians of interleaved rounds (each round times every
contender once, so all see the same load on a shared machine), and each ratio is the median of the
rounds' ratios. Where a step's time goes: ``python benchmarks/profile_kernel.py`` (docs/benchmarks.md).
Every episode after the first of a round starts with a plain ``reset()``, as in a training loop: a seeded
reset rebuilds the env's generator, which costs CartPole (an episode every ~23 random steps) far more
than the fishing env (one every ~170).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import gymnasium as gym
import numba
import numpy as np

from envs.stardew.sim import FishingSim, GameConfig


def interleaved_steps_per_second(loops: dict, seconds: float, rounds: int = 6) -> dict:
    """Steps/s of each ``name -> (step, reset, start)`` loop, measured in alternating short rounds so that
    every loop sees the same machine load; the best round of each counts. ``start`` (seeded) begins a round,
    untimed; ``reset`` starts each further episode."""
    best = dict.fromkeys(loops, 0.0)
    for _ in range(rounds):
        for name, (step, reset, start) in loops.items():
            start()
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / rounds:
                for k in range(1000):
                    if step(k):
                        reset()
                n += 1000
            best[name] = max(best[name], n / (time.perf_counter() - t0))
    return best


def env_loop(env):
    actions = np.random.default_rng(0).integers(0, 2, 1000).tolist()

    def step(k):
        _, _, term, trunc, _ = env.step(actions[k])
        return term or trunc

    return step, lambda: env.reset(), lambda: env.reset(seed=0)


SIZES = (1, 256, 4096, 16384)  # games stepped together
THREADS = (1, 2)


def make_sim(n: int, num_threads: int | None = None) -> FishingSim:
    """``FishingSim(n)`` on ``num_threads`` threads (None: its default), seeded 0..n-1. A simulator from before the
    ``num_threads`` option (bench_compare runs this inside an older tree) steps on one thread, as it always did."""
    if num_threads is None:
        sim = FishingSim(n, GameConfig())
    else:
        try:
            sim = FishingSim(n, GameConfig(), num_threads=num_threads)
        except TypeError:
            if num_threads != 1:
                raise
            sim = FishingSim(n, GameConfig())
    sim.reset(seeds=range(n))
    return sim


def batched_steps_per_second(n: int, seconds: float, windows: int, num_threads: int | None = None) -> float:
    """Env-steps/s of ``FishingSim(n)`` with autoreset and random actions, in 64-step blocks: the best of
    ``windows`` timed windows of ``seconds`` each, so a window the host stole time from does not count."""
    sim = make_sim(n, num_threads)
    actions = np.random.default_rng(1).integers(0, 2, (64, n))
    sim.step(actions[0])
    return max(_timed(sim.step, actions, n, seconds) for _ in range(windows))


def _timed(step, actions: np.ndarray, n: int, seconds: float) -> float:
    """Env-steps/s of ``step`` for about ``seconds`` (at least one block of steps; a block is up to 64 steps and
    about 65,536 env-steps, so that a large batch still gives short windows)."""
    block = max(1, min(len(actions), 65536 // n))
    steps, t0 = 0, time.perf_counter()
    while True:
        for k in range(block):
            step(actions[k])
        steps += block
        if time.perf_counter() - t0 >= seconds:
            return steps * n / (time.perf_counter() - t0)


def batched_rounds(n: int, threads: tuple[int, ...] = THREADS, seconds: float = 1.0, rounds: int = 5,
                   reference: bool = True) -> dict[str, list[float]]:
    """Env-steps/s per round of ``FishingSim(n)`` on each thread count in ``threads`` (keys ``"1 thread"``,
    ``"2 threads"``, ...) and, if ``reference``, of Gymnasium's ``CartPoleVectorEnv(n)`` (key ``"cartpole"``):
    random actions, autoreset, 64-step blocks. Each round times every contender once, for ``seconds`` in all,
    in an order that rotates, so that all of them see the same load; compare them round by round."""
    actions = np.random.default_rng(1).integers(0, 2, (64, n))
    steps = {}
    for k in threads:
        sim = make_sim(n, k)
        sim.step(actions[0])
        steps["default" if k is None else f"{k} thread{'s' if k > 1 else ''}"] = sim.step
    if reference:
        from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

        cart = CartPoleVectorEnv(num_envs=n)
        cart.reset(seed=0)
        cart.step(actions[0])
        steps["cartpole"] = cart.step
    names = list(steps)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out[name].append(_timed(steps[name], actions, n, seconds / len(names)))
    return out


def median_ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of ``a[i] / b[i]`` (both measured in round i)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def main(argv: list[str] | None = None) -> None:
    # imported here, not at the top: bench_compare imports this module inside an older tree, whose envs may
    # have no argtypes
    from envs.cli.argtypes import float_above, int_at_least

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float_above(0.0), default=3.0,
                        help="time per measurement (for a batched one, spread over the rounds)")
    parser.add_argument("--rounds", type=int_at_least(1), default=21,
                        help="interleaved rounds of the batched measurement (medians are reported)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; numpy {np.__version__}, gymnasium {gym.__version__}")

    # warm up numba's compiled kernels (cached on disk after the first run)
    warm = gym.make("StardewFishing-v0")
    warm.reset(seed=0)
    warm.step(0)

    sim = FishingSim(1, GameConfig())
    acts = np.random.default_rng(0).integers(0, 2, (1000, 1))
    loops = {
        "CartPole-v1 via gym.make": env_loop(gym.make("CartPole-v1")),
        "StardewFishing-v0 via gym.make": env_loop(gym.make("StardewFishing-v0")),
        "CartPole-v1 bare env": env_loop(gym.make("CartPole-v1").unwrapped),
        "StardewFishing-v0 bare env": env_loop(gym.make("StardewFishing-v0").unwrapped),
        "FishingSim(1).step (bare simulator)": (lambda k: sim.step(acts[k]) is None, lambda: None,
                                                lambda: sim.reset(seeds=[0])),  # it resets itself (autoreset)
    }
    rows = list(interleaved_steps_per_second(loops, args.seconds * len(loops)).items())

    print(f"\n{'single env':<40}{'steps/s':>14}")
    for name, sps in rows:
        print(f"{name:<40}{sps:>14,.0f}")
    cart_make, fish_make, cart_bare, fish_bare = (r[1] for r in rows[:4])
    print(f"\nratio StardewFishing-v0 / CartPole-v1 via gym.make: {fish_make / cart_make:.2f}")
    print(f"ratio StardewFishing-v0 / CartPole-v1 bare env:     {fish_bare / cart_bare:.2f}")

    print(f"\nbatched, autoreset: env-steps/s, medians of {args.rounds} interleaved rounds "
          f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    threads = tuple(k for k in THREADS if k <= numba.config.NUMBA_NUM_THREADS)  # numba's threads on this machine
    head = "".join(f"{f'{k} thread' + ('s' if k > 1 else ''):>14}" for k in threads)
    print(f"{'games':<8}{head}{'speed-up':>10}{'per thread':>12}{'default':>14}{'CartPoleVectorEnv':>19}"
          f"{'ratio':>8}{'default':>9}")
    for n in SIZES:
        # each contender is timed for --seconds in all, spread over the rounds
        res = batched_rounds(n, (*threads, None), seconds=args.seconds * (len(threads) + 2) / args.rounds,
                             rounds=args.rounds)
        names = [f"{k} thread{'s' if k > 1 else ''}" for k in threads]
        speedup = median_ratio(res[names[-1]], res[names[0]])
        ratio = median_ratio(res[names[-1]], res["cartpole"])
        cells = "".join(f"{statistics.median(res[k]):>14,.0f}" for k in names)
        print(f"{n:<8,}{cells}{speedup:>9.2f}x{speedup / threads[-1]:>11.2f}x{statistics.median(res['default']):>14,.0f}"
              f"{statistics.median(res['cartpole']):>19,.0f}{ratio:>8.2f}{median_ratio(res['default'], res['cartpole']):>9.2f}")
    print(f"ratio: FishingSim on {threads[-1]} thread(s) / CartPoleVectorEnv (numpy, one thread), median of the rounds' "
          "ratios, and the same for the default (num_threads=None: the threads while they are measured to be faster); "
          "speed-up: the thread counts' ratio; per thread: speed-up / threads")

if __name__ == "__main__":
    main()
