"""The population protocol of ``shared/design/evaluation.md``: episodes, seeds and summary figures.

A policy is anything with ``act(sim) -> actions`` (int64 0/1 for every game of a
:class:`~envs.stardew.sim.FishingSim`) and a ``features`` attribute naming the observation it reads
(hand-written controllers read only the visible fields of the simulator and need no features).

Seeds: training streams use seeds below ``DEV_SEED0``; the development set (checkpoint choice) starts
at ``DEV_SEED0`` and the held-out test set at ``TEST_SEED0``. Game slot ``g`` of an evaluation is
seeded with ``seed0 + g`` and plays its first episode, so every policy meets the same fish.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.stardew import rules as R
from envs.stardew.fish import fish_table
from envs.stardew.sim import O_FISH, O_LEVEL, O_PERFECT, O_STATUS, O_TICKS, FishingSim, GameConfig

DEV_SEED0 = 50_000_000
TEST_SEED0 = 90_000_000
HARD = 90  # "hard" fish: difficulty >= 90
LEVELS = tuple(range(11))


def protocol_config(**overrides) -> GameConfig:
    """The protocol's game: any rod fish, level 0..10, no tackle or treasure, caught before, 1.5.4."""
    kw = dict(fish=None, level=(0, 10), tackle=(), treasure=False, version="1.5", caught_before=True,
              max_ticks=20_000, frame_skip=1, skip_fade_in=True, reward="shaped")
    kw.update(overrides)
    return GameConfig(**kw)


def protocol_options() -> dict[str, Any]:
    """The protocol's game options as ``make evaluate`` records them (the reward weights only shape training)."""
    return {k: v for k, v in vars(protocol_config()).items() if k != "reward_weights"}


@dataclass
class Episodes:
    """Outcomes of one policy on a seed set (arrays of shape (n,))."""

    seeds: np.ndarray
    caught: np.ndarray
    perfect: np.ndarray
    truncated: np.ndarray
    ticks: np.ndarray
    fish: np.ndarray  # row of the fish table
    level: np.ndarray
    difficulty: np.ndarray
    decisions: int = 0  # env steps taken by the longest game
    perfect_lost_step: np.ndarray | None = None  # env step on which the perfect was lost (-1: never)

    def __len__(self) -> int:
        return len(self.seeds)


def act_on_active(act: Callable[[np.ndarray], np.ndarray], x: np.ndarray, active: np.ndarray | None) -> np.ndarray:
    """``act(x)`` on the rows of ``x`` whose games are ``active`` (all rows when ``active`` is None); the rows of
    ended games get 0. How a policy with ``supports_active = True`` serves :func:`run_episodes`, which waits for
    the slowest fish of thousands: most of its steps have most games ended."""
    if active is None:
        return np.asarray(act(x), dtype=np.int64)
    a = np.zeros(len(x), dtype=np.int64)
    if active.any():
        a[active] = act(x[active])
    return a


def run_episodes(policy, n: int = 5000, seed0: int = TEST_SEED0, config: GameConfig | None = None,
                 features=None, max_steps: int | None = None,
                 on_step: Callable[[FishingSim, int], None] | None = None) -> Episodes:
    """Play one episode in each of ``n`` games seeded ``seed0 .. seed0+n-1`` with ``policy``.

    Games still playing after ``max_steps`` env steps count as truncated (not caught). ``on_step(sim, k)``, when
    given, sees the games after every step ``k`` (``k = 0``: after the reset). A game's outcome is taken on the
    step it ends, but the simulator goes on stepping it (button released), so its state is its own only up to
    that step.
    """
    if n < 1:
        raise ValueError(f"run_episodes: n must be at least 1 episode, got {n}")
    cfg = config or protocol_config()
    feats = features if features is not None else getattr(policy, "features", None) or "default"
    sim = FishingSim(n, cfg, feats)
    sim.reset(seeds=np.arange(seed0, seed0 + n))
    if hasattr(policy, "reset"):
        policy.reset()
    done = np.zeros(n, dtype=bool)
    out = np.zeros((n, sim.outcome.shape[1]), dtype=np.int64)
    lost_at = np.full(n, -1, dtype=np.int64)
    steps = 0
    limit = max_steps or (cfg.max_ticks // cfg.frame_skip + 2)
    masked = getattr(policy, "supports_active", False)
    if on_step is not None:
        on_step(sim, 0)
    while not done.all() and steps < limit:
        # a policy that supports it computes actions only for games still playing (finished games idle)
        a = policy.act(sim, active=~done) if masked else policy.act(sim)
        sim.step(a, autoreset=False)
        steps += 1
        if on_step is not None:
            on_step(sim, steps)
        lost_at[(lost_at < 0) & ~done & (sim.I[:, R.I_PERFECT] == 0)] = steps
        new = (sim.terminated | sim.truncated) & ~done
        if new.any():
            out[new] = sim.outcome[new]
            done |= new
    if not done.all():
        # games cut off by max_steps have no outcome row; without their own fish and level they would all be
        # counted as table row 0 at level 0 in the per-fish and per-level figures
        out[~done, O_FISH] = sim.I[~done, R.I_FISH_INDEX]
        out[~done, O_LEVEL] = sim.I[~done, R.I_LEVEL]
        out[~done, O_TICKS] = sim.I[~done, R.I_TICK]
    table = fish_table(cfg.version)
    diff = np.array([table[i].difficulty if i < len(table) else 0 for i in range(len(table))])
    pool_ids = {f.id: i for i, f in enumerate(table)}
    row = np.array([pool_ids.get(sim.pool_fish[i].id, -1) for i in range(len(sim.pool_fish))])
    fish_rows = row[out[:, O_FISH]]
    return Episodes(
        seeds=np.arange(seed0, seed0 + n),
        caught=out[:, O_STATUS] == 1,
        perfect=(out[:, O_STATUS] == 1) & (out[:, O_PERFECT] == 1),
        truncated=(out[:, O_STATUS] == 3) | ~done,
        ticks=out[:, O_TICKS],
        fish=fish_rows,
        level=out[:, O_LEVEL],
        difficulty=diff[fish_rows],
        decisions=steps,
        perfect_lost_step=lost_at,
    )


def jsonable(obj: Any) -> Any:
    """``obj`` with every NaN float (a rate over no episodes) replaced by None.

    Python's json writes NaN as a bare ``NaN`` token, which is not JSON: strict readers (jq, JavaScript,
    ``json.loads(..., parse_constant=...)``) reject the whole file.
    """
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, np.floating):
        return jsonable(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def dumps(obj: Any, indent: int = 2) -> str:
    """Strict JSON of ``obj`` (NaN written as null)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(ep: Episodes, mask: np.ndarray | None = None) -> dict:
    """Catch rate (+ Wilson 95%), hard catch rate, perfect rate, mean ticks to catch, over ``mask``."""
    m = np.ones(len(ep), dtype=bool) if mask is None else mask
    n = int(m.sum())
    k = int(ep.caught[m].sum())
    hard = m & (ep.difficulty >= HARD)
    lo, hi = wilson(k, n)
    caught_ticks = ep.ticks[m & ep.caught]
    return {
        "episodes": n,
        "catch": k / n if n else float("nan"),
        "catch_ci95": [lo, hi],
        "hard_episodes": int(hard.sum()),
        "hard_catch": float(ep.caught[hard].mean()) if hard.any() else float("nan"),
        "perfect": float(ep.perfect[m].mean()) if n else float("nan"),
        "mean_ticks_to_catch": float(caught_ticks.mean()) if caught_ticks.size else float("nan"),
        "truncated": int(ep.truncated[m].sum()),
    }


def per_level(ep: Episodes) -> dict[int, dict]:
    return {lv: summarize(ep, ep.level == lv) for lv in LEVELS}


def per_fish(ep: Episodes) -> dict[str, dict]:
    table = fish_table("1.6")  # the 1.5 table's rows, in its order, then the fish 1.6 added
    res = {}
    for i, f in enumerate(table):
        m = ep.fish == i
        if m.any():
            s = summarize(ep, m)
            s["difficulty"] = f.difficulty
            s["behavior"] = f.behavior
            res[f.name] = s
    return res


def figures(ep: Episodes) -> dict[str, dict]:
    """A policy's figures as ``make evaluate`` records them: overall, per level and per fish."""
    return {"overall": summarize(ep), "per_level": per_level(ep), "per_fish": per_fish(ep)}


def paired(a: Episodes, b: Episodes) -> dict:
    """b against a on the same seeds: episodes b catches and a does not (new successes), and the reverse."""
    if not np.array_equal(a.seeds, b.seeds):
        raise ValueError("paired: the two runs used different seeds")
    return {
        "new_successes": int((b.caught & ~a.caught).sum()),
        "regressions": int((a.caught & ~b.caught).sum()),
        "both": int((a.caught & b.caught).sum()),
        "neither": int((~a.caught & ~b.caught).sum()),
    }
