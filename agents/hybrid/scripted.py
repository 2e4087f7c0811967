"""The scripted demonstrator: hold the reel button while the fish is above the bar's centre, read from pixels.

It looks only at the game's picture (the RGB frame the window shows), never at the game's state: the green bar's rows
in a track column the fish never covers, and the fish's rows in the track's centre column.
"""

from __future__ import annotations

import numpy as np

from envs.stardew.render import BAR, BAR_EDGE, FISH, TRACK_W, TRACK_X

_BAR_COL = TRACK_X + 3
_FISH_COL = TRACK_X + TRACK_W // 2


def fish_and_bar(frame: np.ndarray) -> tuple[float | None, float | None]:
    """(fish centre row, bar centre row) in frame pixels from an RGB (600, 168, 3) frame; None if not seen."""
    col = frame[:, _BAR_COL, :3].astype(np.int16)
    bar = np.all(col == BAR, axis=1) | np.all(col == BAR_EDGE, axis=1)
    fcol = frame[:, _FISH_COL, :3].astype(np.int16)
    fish = np.all(fcol == FISH, axis=1)
    fy = float(np.flatnonzero(fish).mean()) if fish.any() else None
    rows = np.flatnonzero(bar)
    by = float((rows[0] + rows[-1]) / 2) if rows.size else None
    return fy, by


def naive_press(frame: np.ndarray) -> bool:
    """True (hold) while the fish is above the bar's centre on screen."""
    fy, by = fish_and_bar(frame)
    if fy is None or by is None:
        return False
    return fy < by
