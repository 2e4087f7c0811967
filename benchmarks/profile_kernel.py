"""Where a batched step's time goes: the simulator's kernel taken apart, per game and env step.

    python benchmarks/profile_kernel.py [--games 4096] [--rounds 7]
    PYTHONPATH=<another checkout> python benchmarks/profile_kernel.py   # the same parts of another tree's kernel

Times, on one thread, the whole ``FishingSim.step`` (autoreset on, random actions, the default game) and
small kernels that each do one part of it over the same games: the draws of the per-game .NET
``System.Random`` copy (as many a tick as the games make), the bar's physics (``fish_in_bar`` and
``move_bar``), a whole ``BobberBar.update`` tick (``rules.tick``), the observation (``write_obs``), a new
episode (``begin_episode``, weighted by how often an episode ends) and the Python around the kernel
(``FishingSim.step`` with one game, less the kernel alone, and the vector env's ``step`` less the
simulator's). The fish's motion is the tick less the draws, the bar and the progress bookkeeping, which
are small. Parts are timed in interleaved rounds on the calling thread's CPU time (other processes'
load counts less than on the wall clock); medians are printed, in ns per game per env step.
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time

import numpy as np
from numba import njit

from envs.stardew import features as feats
from envs.stardew import rules as R
from envs.stardew.sim import FishingSim, GameConfig, step_games
from envs.stardew.vector_env import StardewFishingVectorEnv

try:  # the kernel's own way through a game: borrowed arrays, one record's rows at constant offsets
    from envs.stardew.sim import _borrowed, _row
except ImportError:  # a tree from before it (profiled through PYTHONPATH): its tick took the strided arrays and g
    @njit(inline="always")
    def _borrowed(a):
        return a

    @njit(inline="always")
    def _row(a, g):
        return a[g:g + 1]

_default_obs = getattr(feats, "is_default", None)  # trees with the default preset's own writer


@njit
def _draws(Rs, n, k):
    Rs = _borrowed(Rs)
    s = 0
    for g in range(n):
        Rg = _row(Rs, g)
        for _ in range(k):
            s += R.net_next(Rg, 0, -10, 11)
    return s


@njit
def _draws_frac(Rs, n, k, extra_every):
    """``k`` draws per game, plus one more in every ``extra_every``-th game (a fractional mean)."""
    s = _draws(Rs, n, k)
    Rs = _borrowed(Rs)
    for g in range(0, n, extra_every):
        s += R.net_next(_row(Rs, g), 0, -10, 11)
    return s


@njit
def _bar(F, I, actions, cfg_i):
    F, I, cfg_i = _borrowed(F), _borrowed(I), _borrowed(cfg_i)
    for g in range(F.shape[0]):
        Fg, Ig = _row(F, g), _row(I, g)
        h = Ig[0, R.I_HEIGHT]
        pos = Fg[0, R.F_FISH_POS]
        bar = Fg[0, R.F_BAR_POS]
        in_bar = R.fish_in_bar(pos, bar, h)
        bar, speed = R.move_bar(bar, Fg[0, R.F_BAR_SPEED], actions[g] != 0, in_bar, pos, h, cfg_i)
        Fg[0, R.F_BAR_POS] = bar
        Fg[0, R.F_BAR_SPEED] = speed
        Ig[0, R.I_IN_BAR] = 1 if in_bar else 0


@njit
def _ticks(F, I, Rs, actions, cfg_i):
    F, I, Rs, cfg_i = _borrowed(F), _borrowed(I), _borrowed(Rs), _borrowed(cfg_i)
    for g in range(F.shape[0]):
        R.tick(_row(F, g), _row(I, g), _row(Rs, g), 0, actions[g] != 0, cfg_i)


if _default_obs is None:
    @njit
    def _features(F, I, feat, obs):
        F, I, feat, obs = _borrowed(F), _borrowed(I), _borrowed(feat), _borrowed(obs)
        for g in range(F.shape[0]):
            feats.write_obs(_row(F, g), _row(I, g), 0, feat, obs[g])
else:  # the kernel's own writer of the default preset
    @njit
    def _features(F, I, feat, obs):
        F, I, obs = _borrowed(F), _borrowed(I), _borrowed(obs)
        default = feats.is_default(feat)
        for g in range(F.shape[0]):
            if default:
                feats.write_default_obs(_row(F, g), _row(I, g), 0, obs[g])
            else:
                feats.write_obs(_row(F, g), _row(I, g), 0, feat, obs[g])


@njit
def _begin(F, I, Rs, E, fd, fm, pool, cfg_i, cfg_f, every):
    for g in range(0, F.shape[0], every):
        R.begin_episode(F, I, Rs, E, g, fd, fm, pool, cfg_i, cfg_f)


def _one_thread(cls, *args):
    """``cls(*args)`` on one thread; a tree from before the ``num_threads`` option always steps on one."""
    if "num_threads" in inspect.signature(cls).parameters:
        return cls(*args, num_threads=1)
    return cls(*args)


def _fresh(n: int, warm_steps: int = 300) -> tuple[FishingSim, np.ndarray]:
    """A simulator of ``n`` games played ``warm_steps`` random steps in (mid-episode, as in training)."""
    sim = _one_thread(FishingSim, n, GameConfig())
    sim.reset(seeds=range(n))
    actions = np.random.default_rng(1).integers(0, 2, (64, n))
    for t in range(warm_steps):
        sim.step(actions[t % 64])
    return sim, actions


def draws_and_ends_per_step(n: int, steps: int = 500) -> tuple[float, float]:
    """The mean number of .NET draws a game makes per env step, and the fraction of games whose episode ends."""
    sim, actions = _fresh(n)
    draws = ended = games = 0
    for t in range(steps):
        before = sim.R[:, R.R_INEXT].copy()
        sim.step(actions[t % 64], autoreset=False)
        done = sim.terminated | sim.truncated
        live = ~done & (sim.I[:, R.I_STATUS] == R.PLAYING)
        # the generator's index walks 1..55: a tick draws far fewer than 55 times
        draws += int(((sim.R[live, R.R_INEXT] - before[live]) % 55).sum())
        games += int(live.sum())
        ended += int(done.sum())
        sim.reset(idx=np.flatnonzero(done))
    return draws / games, ended / (steps * n)


def profile(n: int = 4096, rounds: int = 7, seconds: float = 0.4) -> dict[str, float]:
    """ns per game per env step of each part, medians of ``rounds`` interleaved rounds (one thread)."""
    d, end_rate = draws_and_ends_per_step(n)
    k, frac = int(d), d - int(d)
    extra_every = max(1, round(1 / frac)) if frac > 0.01 else n + 1
    every = max(1, round(1 / end_rate))
    sim, actions = _fresh(n)
    one, _ = _fresh(1)
    a1 = np.zeros(1, dtype=np.int64)
    venv = _one_thread(StardewFishingVectorEnv, n)
    venv.reset(seed=0)
    F, I, Rs = sim.F, sim.I, sim.R
    cfg_i, cfg_f = sim.cfg_i, sim.cfg_f
    scratch, _ = _fresh(n)  # begin_episode's games: the live ones must not restart
    obs = np.zeros_like(sim.obs)

    parts = {
        "whole step (FishingSim.step, autoreset)": (lambda t: sim.step(actions[t % 64]), n),
        ".NET System.Random draws": (lambda t: _draws_frac(Rs, n, k, extra_every), n),
        "bar physics (fish_in_bar, move_bar)": (lambda t: _bar(F, I, actions[t % 64], cfg_i), n),
        "one tick (rules.tick)": (lambda t: _ticks(F, I, Rs, actions[t % 64], cfg_i), n),
        "feature writing (write_obs)": (lambda t: _features(F, I, sim.feat, obs), n),
        "autoreset (begin_episode, per ended game)": (
            lambda t: _begin(scratch.F, scratch.I, scratch.R, scratch.E, scratch.fish_diff, scratch.fish_motion,
                             scratch.pool, cfg_i, cfg_f, every), n),
        "Python around the kernel (1 game: step)": (lambda t: one.step(a1), 1),
        "kernel alone (1 game)": (lambda t: step_games(one._S, one._C, one.L, a1, True), 1),
        "vector env step": (lambda t: venv.step(actions[t % 64]), n),
    }
    for fn, _ in parts.values():  # compile
        fn(0)
    times: dict[str, list[float]] = {name: [] for name in parts}
    for r in range(rounds):
        names = list(parts)
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, games = parts[name]
            calls, t0 = 0, time.thread_time()
            w0 = time.perf_counter()
            while time.perf_counter() - w0 < seconds:
                for t in range(16):
                    fn(t)
                calls += 16
            times[name].append((time.thread_time() - t0) / calls / games * 1e9)
    out = {name: statistics.median(v) for name, v in times.items()}
    out["draws per step"], out["episodes ended per game-step"] = d, end_rate
    return out


def main(argv: list[str] | None = None) -> None:
    try:
        from envs.cli.argtypes import int_at_least
    except ImportError:  # a checkout from before envs/cli, profiled through PYTHONPATH
        from envs.argtypes import int_at_least
    from envs.stardew import sim as simulator

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--games", type=int_at_least(1), default=4096)
    ap.add_argument("--rounds", type=int_at_least(1), default=7)
    args = ap.parse_args(argv)
    p = profile(args.games, args.rounds)
    whole = p["whole step (FishingSim.step, autoreset)"]
    tick = p["one tick (rules.tick)"]
    draws = p[".NET System.Random draws"]
    bar = p["bar physics (fish_in_bar, move_bar)"]
    wrapper_1 = p["Python around the kernel (1 game: step)"] - p["kernel alone (1 game)"]
    rows = [
        (".NET System.Random draws", draws),
        ("fish motion and the tick's bookkeeping", tick - draws - bar),
        ("bar physics", bar),
        ("feature writing", p["feature writing (write_obs)"]),
        ("autoreset", p["autoreset (begin_episode, per ended game)"]),
        ("end of step (reward, flags, outcome), loop", whole - tick - p["feature writing (write_obs)"]
         - p["autoreset (begin_episode, per ended game)"]),
    ]
    print(f"kernel: {simulator.__file__}")
    print(f"{args.games} games, one thread, default game, random actions; {p['draws per step']:.2f} .NET draws "
          f"per game-step, {p['episodes ended per game-step'] * 1000:.2f} episodes end per 1,000 game-steps; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'part':<46}{'ns per game-step':>18}{'share':>8}")
    for name, ns in rows:
        print(f"{name:<46}{ns:>18.1f}{ns / whole:>8.0%}")
    print(f"{'whole FishingSim.step':<46}{whole:>18.1f}{1:>8.0%}")
    print(f"\nPython around the kernel: {wrapper_1 * 1e-3:.2f} us per FishingSim.step call "
          f"({wrapper_1 / args.games:.2f} ns per game at {args.games} games)")
    venv_extra = p["vector env step"] - whole
    print(f"StardewFishingVectorEnv.step beyond FishingSim.step: {venv_extra:.1f} ns per game-step "
          f"({venv_extra * args.games * 1e-3:.0f} us per step: copies of the results, the final infos)")


if __name__ == "__main__":
    main()
