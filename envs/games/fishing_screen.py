"""The ready example: ScreenGame-v0 on the fishing window (``python -m envs.games.fishing``).

Everything the env knows about the game comes from the screen: the reward is the change of the
catch meter's filled fraction read from its pixels (x100, like StardewFishing-v0's shaped reward),
plus +10 when the meter fills (caught) and -10 when it empties (escaped), which also end the
episode. Between fish the game pauses; ``reset`` waits for the next fish to bite.

Run the scripted controller on a live window::

    python -m envs.games.fishing &                   # the game window
    python -m envs.games.fishing_screen --seconds 30   # plays it through ScreenGame-v0
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.games.fishing import WM_CLASS
from envs.screen.actions import HybridActionSpec
from envs.screen.rewards import BarFill, ProbeReward, Term, When
from envs.screen.screen_env import ScreenGameEnv
from envs.stardew.render import (
    BAR,
    FISH,
    HEIGHT,
    METER_BG,
    METER_W,
    METER_X,
    TRACK_W,
    TRACK_X,
    TRACK_Y,
    WIDTH,
)

# the seed's action dict for this game: C (use tool) and space reel; the mouse can click, drag, hold
FISHING_ACTIONS = {
    "keys": ["c", "space"],
    "mouse": {"min_pos": [0, 0], "max_pos": [WIDTH, HEIGHT], "actions": ["click", "drag", "hold"]},
}
METER_RECT = (METER_X + 2, TRACK_Y, METER_W - 4, 568)


def meter_probe() -> BarFill:
    """The catch meter's filled fraction (0 = escaped, 1 = caught), from its pixels."""
    return BarFill(METER_RECT, empty=METER_BG, tol=20, start="bottom")


def fishing_reward() -> ProbeReward:
    m = meter_probe()
    return ProbeReward(terms=[Term(m, weight=100.0, mode="delta")],
                       end=[When(m, "<=", 0.001, bonus=-10.0), When(m, ">=", 0.999, bonus=10.0)])


def make_fishing_screen_env(**kwargs) -> ScreenGameEnv:
    """ScreenGame-v0 on the fishing window (found by its X11 class); ``kwargs`` override the defaults."""
    opts = dict(action_space=FISHING_ACTIONS, window_class=WM_CLASS, reward=fishing_reward(), step_hz=30.0,
                render_mode="rgb_array", reset_timeout_s=5.0)
    opts.update(kwargs)
    return ScreenGameEnv(**opts)


def read_fish_and_bar(frame: np.ndarray) -> tuple[float, float] | None:
    """(fish centre row, bar centre row) read from an RGB frame of the window, or None if not seen."""
    cx = TRACK_X + TRACK_W // 2
    col = frame[:, cx - 8:cx + 4, :3].astype(np.int16)
    fish = np.nonzero((np.abs(col - FISH) <= 12).all(axis=2).any(axis=1))[0]
    edge = frame[:, TRACK_X + 4:TRACK_X + 8, :3].astype(np.int16)
    bar = np.nonzero((np.abs(edge - BAR) <= 12).all(axis=2).any(axis=1))[0]
    if fish.size == 0 or bar.size == 0:
        return None
    return float(fish.mean()), float((bar.min() + bar.max()) / 2.0)


def scripted_action(spec: HybridActionSpec, frame: np.ndarray) -> dict:
    """Hold C while the fish is above the bar's centre (read from pixels), else do nothing."""
    r = read_fish_and_bar(frame)
    if r is not None and r[0] < r[1]:
        return spec.make("key", keys=["c"])
    return spec.noop()


def play(seconds: float, env: ScreenGameEnv | None = None, until_caught: int | None = None) -> dict:
    """Run the scripted controller on the window for ``seconds`` (or until ``until_caught`` catches);
    returns counts of episode ends."""
    own = env is None
    env = env or make_fishing_screen_env()
    out = {"episodes": 0, "caught": 0, "escaped": 0, "steps": 0, "overruns": 0, "return": 0.0}
    try:
        env.reset()
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            obs, r, term, trunc, info = env.step(scripted_action(env.action_spec, env.render()))
            out["steps"] += 1
            out["return"] += r
            if term or trunc:
                out["episodes"] += 1
                full = meter_probe().value(env.render())
                out["caught" if full >= 0.999 else "escaped"] += int(term)
                out["overruns"] += info["overruns"]
                if until_caught is not None and out["caught"] >= until_caught:
                    break
                env.reset()
    finally:
        if own:
            env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m envs.games.fishing_screen", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args(argv)
    print(play(args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
