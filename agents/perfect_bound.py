"""An upper bound on the perfect-catch rate that no policy, not even one that knows the future, can pass.

The fish's path does not depend on the player's input (the game draws the same random numbers whether
the fish is in the bar or not), and every fight starts with the fish at the bottom of a bar at rest.
Holding the button from the first tick puts the bar as high as any input sequence can put it at every
tick, as long as the fish stays in the bar (the bar's acceleration depends only on the button and on
that). So if, with the button held, the fish leaves the bar through the *top* before the bar has
touched the top of the track, every other input sequence loses the fish at that tick or earlier, and a
perfect catch of that fish is impossible. A policy's perfect rate is at most the share of the other
episodes.

    python -m agents.perfect_bound [--episodes 5000] [--seed0 90000000]

The bound is loose (it assumes every other episode could end in a perfect catch), but sound: on the
episodes it marks, no controller or trained policy of this project ever makes a perfect catch.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from agents.population import HARD, LEVELS, TEST_SEED0, protocol_config
from envs.stardew import rules as R
from envs.stardew.sim import FishingSim


def perfect_impossible(n: int = 5000, seed0: int = TEST_SEED0) -> dict[str, np.ndarray]:
    """For the protocol's episodes seeded ``seed0..seed0+n-1``: which cannot end in a perfect catch."""
    sim = FishingSim(n, protocol_config(), "seed")
    sim.reset(seeds=np.arange(seed0, seed0 + n))
    impossible = np.zeros(n, dtype=bool)
    decided = np.zeros(n, dtype=bool)
    touched_top = np.zeros(n, dtype=bool)
    hold = np.ones(n, dtype=np.int64)
    while not decided.all():
        bar = sim.F[:, R.F_BAR_POS].copy()  # the game tests the fish against the bar before it moves
        perfect = sim.I[:, R.I_PERFECT] != 0
        touched_top |= bar <= 0.0
        sim.step(hold, autoreset=False)
        lost = perfect & (sim.I[:, R.I_PERFECT] == 0) & ~decided
        out_through_top = sim.F[:, R.F_FISH_POS] < bar - 16.0  # the window's top edge is bar - 16
        impossible |= lost & out_through_top & ~touched_top
        decided |= lost | sim.terminated | sim.truncated
    difficulty = np.array([f.difficulty for f in sim.pool_fish])[sim.I[:, R.I_FISH_INDEX]]
    return {"impossible": impossible, "difficulty": difficulty, "level": sim.I[:, R.I_LEVEL].copy()}


def summary(res: dict[str, np.ndarray]) -> dict:
    imp, d, lv = res["impossible"], res["difficulty"], res["level"]
    return {
        "episodes": int(len(imp)),
        "perfect_upper_bound": float(1.0 - imp.mean()),
        "hard_perfect_upper_bound": float(1.0 - imp[d >= HARD].mean()),
        "by_level": {int(lvl): float(1.0 - imp[lv == lvl].mean()) for lvl in LEVELS if (lv == lvl).any()},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=5000)
    ap.add_argument("--seed0", type=int, default=TEST_SEED0)
    args = ap.parse_args(argv)
    s = summary(perfect_impossible(args.episodes, args.seed0))
    print(json.dumps(s, indent=1))


if __name__ == "__main__":
    main()
