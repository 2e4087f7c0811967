"""Simulator speed, measured beside Gymnasium's CartPole-v1 in the same run (the ratio is the figure).

    make bench            # or: python benchmarks/bench_env.py [--seconds 2]

Prints single-env steps/s through ``gym.make`` and through the bare env/simulator for both, and the
batched simulator's env-steps/s at 1, 256 and 4096 games (random actions, autoreset on) beside
Gymnasium's own batched CartPole (``CartPoleVectorEnv``, numpy, autoreset in place) at the same sizes.
Every episode after the first of a round starts with a plain ``reset()``, as in a training loop: a seeded
reset rebuilds the env's generator, which costs CartPole (an episode every ~23 random steps) far more
than the fishing env (one every ~170).
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
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


def batched_steps_per_second(n: int, seconds: float, windows: int) -> float:
    """Env-steps/s of ``FishingSim(n)`` with autoreset and random actions, in 64-step blocks: the best of
    ``windows`` timed windows of ``seconds`` each, so a window the host stole time from does not count."""
    return batched_pair(n, seconds, windows)[0]


def batched_pair(n: int, seconds: float, windows: int, reference: bool = False) -> tuple[float, float | None]:
    """(FishingSim(n), CartPoleVectorEnv(n) if ``reference``) env-steps/s, random actions, autoreset, 64-step
    blocks, their windows alternating so that both see the same load; the best window of each counts."""
    sim = FishingSim(n, GameConfig())
    sim.reset(seeds=range(n))
    actions = np.random.default_rng(1).integers(0, 2, (64, n))
    sim.step(actions[0])
    cart = None
    if reference:
        from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

        cart = CartPoleVectorEnv(num_envs=n)
        cart.reset(seed=0)
        cart.step(actions[0])

    def timed(step) -> float:
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for k in range(64):
                step(actions[k])
            steps += 64
        return steps * n / (time.perf_counter() - t0)

    best, best_cart = 0.0, 0.0
    for _ in range(windows):
        best = max(best, timed(sim.step))
        if cart is not None:
            best_cart = max(best_cart, timed(cart.step))
    return best, (best_cart if cart is not None else None)


def main(argv: list[str] | None = None) -> None:
    # imported here, not at the top: bench_compare imports this module inside an older tree, whose envs may
    # have no argtypes
    from envs.cli.argtypes import float_above

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float_above(0.0), default=3.0, help="time per measurement")
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

    print(f"\n{'batched, autoreset (env-steps/s)':<34}{'FishingSim':>14}{'CartPoleVectorEnv':>20}{'ratio':>8}")
    for n in (1, 256, 4096):
        fish, cart = batched_pair(n, args.seconds / 6, windows=3, reference=True)
        print(f"{f'{n} games':<34}{fish:>14,.0f}{cart:>20,.0f}{fish / cart:>8.2f}")


if __name__ == "__main__":
    main()
