"""Observation features of StardewFishing-v0: what a policy may see, by name.

A player sees the bar and the fish move, the progress meter and the treasure chest, and can tell
speeds from consecutive frames. Those are the *visible* features. The game's hidden fields (the
fish's target, its internal speed, the sinker/floater drift) are offered as *privileged* features
for research only: a policy trained on them exploits what no player has and does not transfer to
the screen, so no preset uses them.

Positions are in the game's track pixels (y grows downward, 568 px for the bar's track); scaled
features map them to about [-1, 1]. The bounds hold for every option the env accepts: the bar is
up to 316 px tall (level 20, two Cork Bobbers and Deluxe Bait), the chest's catch level overshoots 1
by up to one step (0.0135), and the game starts the fish's hidden target at (100 - d)% of the track,
which is negative for difficulty > 100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from envs.stardew import rules as R
from envs.stardew.jit_cache import drop_stale_numba_cache

drop_stale_numba_cache(__file__)


@dataclass(frozen=True)
class Feature:
    name: str
    code: int
    low: float
    high: float
    visible: bool
    description: str


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("bar_center", 0, -1.5, 1.5, True, "centre of the green bar: (bobberBarPos + H/2) / 284 - 1"),
        Feature("bar_speed", 1, -4.0, 4.0, True, "bar speed: bobberBarSpeed / 16 (px per tick)"),
        Feature("bar_height", 2, -1.0, 0.15, True, "bar height: H / 284 - 1"),
        Feature("fish_pos", 3, -1.0, 1.0, True, "fish position: bobberPosition / 284 - 1"),
        Feature("fish_vel", 4, -4.0, 4.0, True, "fish movement over the last tick (what a player sees) / 16"),
        Feature(
            "fish_rel",
            5,
            -2.0,
            2.0,
            True,
            "fish minus the centre of the bar's catch window (bobberBarPos + H/2 - 30), / 284",
        ),
        Feature("progress", 6, -1.0, 1.0, True, "catch progress: 2 * distanceFromCatching - 1"),
        Feature("in_bar", 7, -1.0, 1.0, True, "+1 while the fish is in the bar (the reel spins), else -1"),
        Feature("treasure_visible", 8, -1.0, 1.0, True, "+1 while a treasure chest is on the track, else -1"),
        Feature("treasure_pos", 9, -1.0, 1.0, True, "chest position / 284 - 1 (-1 when none is shown)"),
        Feature("treasure_progress", 10, -1.0, 1.03, True, "chest catch level: 2 * treasureCatchLevel - 1"),
        Feature("bar_top", 11, -1.0, 1.0, True, "top of the bar: bobberBarPos / 284 - 1"),
        Feature("bobberBarPos", 12, 0.0, 568.0, True, "raw bar top position, px (the seed's feature 0)"),
        Feature("bobberPosition", 13, 0.0, 548.0, True, "raw fish position, px (the seed's feature 1)"),
        Feature("bobberBarSpeed", 14, -64.0, 64.0, True, "raw bar speed, px per tick (the seed's feature 2)"),
        Feature("distanceFromCatching", 15, 0.0, 1.0, True, "raw catch progress, 0..1"),
        Feature("bobberSpeed", 16, -64.0, 64.0, False, "PRIVILEGED: the fish's internal speed"),
        Feature("bobberTargetPosition", 17, -548.0, 548.0, False, "PRIVILEGED: where the fish is heading"),
        Feature("floaterSinkerAcceleration", 18, -1.5, 1.5, False, "PRIVILEGED: sinker/floater drift"),
    )
}

# The physical range of every number of a minigame's state under the game's own field names: what the game can
# hold, for every option the env accepts (the raw features' bounds above, the bar 96..316 px tall, fishing levels
# 0..20). The bridge client refuses a state message outside them and the seed-mod CSV loader a row outside them
# (agents.dqn.replay), so that a row the recorder wrote from a state the client took always loads again.
MAX_BAR_HEIGHT = 316  # level 20, 1.6 rules, two Cork Bobbers and Deluxe Bait
STATE_RANGES: dict[str, tuple[float, float]] = {
    **{n: (FEATURES[n].low, FEATURES[n].high) for n in (
        "bobberBarPos", "bobberPosition", "bobberBarSpeed", "distanceFromCatching", "bobberSpeed",
        "bobberTargetPosition", "floaterSinkerAcceleration")},
    "lastBobberPosition": (FEATURES["bobberPosition"].low, FEATURES["bobberPosition"].high),
    "bobberBarHeight": (96, MAX_BAR_HEIGHT),  # 96 + 8 per level, + Cork Bobbers, Deluxe Bait, beginner's rod
    "fishing_level": (0, 20),  # 10, plus food and rings
    "difficulty": (0, 200),  # the game's fish lie in 15..110; fish added by other mods may be harder
    "bar_tick": (0, 2**31 - 1),  # ticks since the bar opened: a year at 60 per second fits
    "treasurePosition": (0, R.BAR_TRACK_HEIGHT),
    "treasureCatchLevel": (0.0, 1.0135),  # overshoots 1 by up to one step
    "treasureScale": (0.0, 1.0),
    "fadeInScale": (0.0, 1.0),
}


def out_of_range(name: str, value: float) -> str | None:
    """Why ``value`` of the state field ``name`` is impossible in the game (``None`` when it is possible, or when
    :data:`STATE_RANGES` has no range for ``name``): "<name> <value> is outside the game's range [lo, hi]"."""
    rng = STATE_RANGES.get(name)
    if rng is None or rng[0] <= value <= rng[1]:  # NaN fails both comparisons
        return None
    return f"{name} {value!r} is outside the game's range [{rng[0]:g}, {rng[1]:g}]"


PRESETS: dict[str, tuple[str, ...]] = {
    # the default: everything a player sees that matters without a chest
    "default": ("bar_center", "bar_speed", "bar_height", "fish_pos", "fish_vel", "fish_rel", "progress", "in_bar"),
    # the default plus the chest, used automatically when treasure is on
    "treasure": (
        "bar_center",
        "bar_speed",
        "bar_height",
        "fish_pos",
        "fish_vel",
        "fish_rel",
        "progress",
        "in_bar",
        "treasure_visible",
        "treasure_pos",
        "treasure_progress",
    ),
    # exactly the seed mod's three raw numbers, in its order
    "seed": ("bobberBarPos", "bobberPosition", "bobberBarSpeed"),
}


def resolve(features: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A preset name or a list of feature names -> the tuple of names, checked."""
    if isinstance(features, str):
        if features in PRESETS:
            return PRESETS[features]
        features = (features,)
    if not isinstance(features, (list, tuple)) or not all(isinstance(n, str) for n in features):
        raise ValueError(f"features: a preset name {sorted(PRESETS)} or a list of feature names, got {features!r}")
    names = tuple(features)
    if not names:
        raise ValueError("features: at least one feature is needed")
    for n in names:
        if n not in FEATURES:
            raise ValueError(
                f"features: unknown feature {n!r}; known presets {sorted(PRESETS)}, features {sorted(FEATURES)}"
            )
    return names


def codes(names: tuple[str, ...]) -> np.ndarray:
    return np.array([FEATURES[n].code for n in names], dtype=np.int64)


def bounds(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([FEATURES[n].low for n in names], dtype=np.float32)
    high = np.array([FEATURES[n].high for n in names], dtype=np.float32)
    return low, high


@njit(cache=True)
def write_obs(F, I, g, feat, out):
    """Write game g's features (codes ``feat``) into the float32 row ``out``."""
    h = I[g, R.I_HEIGHT]
    bar = F[g, R.F_BAR_POS]
    fish = F[g, R.F_FISH_POS]
    for k in range(feat.shape[0]):
        c = feat[k]
        if c == 0:
            v = (bar + h * 0.5) / 284.0 - 1.0
        elif c == 1:
            v = F[g, R.F_BAR_SPEED] / 16.0
        elif c == 2:
            v = h / 284.0 - 1.0
        elif c == 3:
            v = fish / 284.0 - 1.0
        elif c == 4:
            v = (fish - F[g, R.F_PREV_FISH_POS]) / 16.0
        elif c == 5:
            v = (fish - (bar + h * 0.5 - 30.0)) / 284.0
        elif c == 6:
            v = 2.0 * F[g, R.F_PROGRESS] - 1.0
        elif c == 7:
            v = 1.0 if I[g, R.I_IN_BAR] != 0 else -1.0
        elif c == 8:
            v = 1.0 if _treasure_visible(F, I, g) else -1.0
        elif c == 9:
            v = F[g, R.F_TREASURE_POS] / 284.0 - 1.0 if _treasure_visible(F, I, g) else -1.0
        elif c == 10:
            v = 2.0 * F[g, R.F_TREASURE_LEVEL] - 1.0
        elif c == 11:
            v = bar / 284.0 - 1.0
        elif c == 12:
            v = bar
        elif c == 13:
            v = fish
        elif c == 14:
            v = F[g, R.F_BAR_SPEED]
        elif c == 15:
            v = F[g, R.F_PROGRESS]
        elif c == 16:
            v = F[g, R.F_FISH_SPEED]
        elif c == 17:
            v = F[g, R.F_FISH_TARGET]
        else:
            v = F[g, R.F_FSA]
        out[k] = v


@njit(cache=True)
def is_default(feat):
    """Whether ``feat`` is the default preset's codes, 0 to 7 in order (:func:`write_default_obs` writes them)."""
    k = 0
    while k < feat.shape[0] and feat[k] == k:
        k += 1
    return k == 8 and feat.shape[0] == 8


@njit(cache=True, inline="always")
def write_default_obs(F, I, g, out):
    """:func:`write_obs` for the default preset, without the loop over the codes: the same expressions in the same
    order, so the same float32 values bit for bit."""
    h = I[g, R.I_HEIGHT]
    bar = F[g, R.F_BAR_POS]
    fish = F[g, R.F_FISH_POS]
    out[0] = (bar + h * 0.5) / 284.0 - 1.0
    out[1] = F[g, R.F_BAR_SPEED] / 16.0
    out[2] = h / 284.0 - 1.0
    out[3] = fish / 284.0 - 1.0
    out[4] = (fish - F[g, R.F_PREV_FISH_POS]) / 16.0
    out[5] = (fish - (bar + h * 0.5 - 30.0)) / 284.0
    out[6] = 2.0 * F[g, R.F_PROGRESS] - 1.0
    out[7] = 1.0 if I[g, R.I_IN_BAR] != 0 else -1.0


@njit(cache=True)
def _treasure_visible(F, I, g):
    return I[g, R.I_TREASURE] != 0 and F[g, R.F_TREASURE_TIMER] <= 0.0 and F[g, R.F_TREASURE_SCALE] > 0.0
