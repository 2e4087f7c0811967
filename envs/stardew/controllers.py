"""Hand-written baseline controllers for the fishing minigame, vectorised over N games.

Every controller acts only on what a player sees (``evaluation.md``, "What a policy may see"): the
bar's top, speed and height, the fish's position and its movement over the last tick, and the catch
progress. :class:`Visible` holds those numbers for N games and is built from a :class:`FishingSim`
(:meth:`Visible.from_sim`, reading only the visible fields), from observations of the gym env
(:meth:`Visible.from_obs`) or from the env's ``info`` dict (:meth:`Visible.from_info`).

Coordinates are the game's (y grows downward). The fish counts as in the bar when
``barPos - 16 <= fishPos <= barPos + H - 44``, so the centre of the catch window, in fish
coordinates, is ``barPos + H/2 - 30``. Action 1 holds the button (the bar accelerates upward).

Controllers: ``random`` (press w.p. 1/2), ``naive`` (press while the fish is above the window's
centre), ``braking`` (FishingAutomaton's bang-bang controller with speed limits, facts section 4) and
``lead`` (the project's best hand-written controller: a sliding-mode controller on the fish's
predicted position, braking by the bar's stopping distance; its gains were tuned on the dev seeds).

This module imports only numpy: ``envs`` stays free of torch and SB3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from envs.stardew import rules as R

BAR_TRACK = 568.0
FISH_MAX = 532.0
WINDOW_OFFSET = 30.0  # window centre = barPos + H/2 - 30 (fish coordinates)


@dataclass
class Visible:
    """What a player sees of N games, as float64 arrays of shape (N,)."""

    bar: np.ndarray  # bobberBarPos: top of the bar, px
    bar_speed: np.ndarray  # bobberBarSpeed, px per tick (positive = moving down)
    height: np.ndarray  # bobberBarHeight H, px
    fish: np.ndarray  # bobberPosition, px
    fish_vel: np.ndarray  # fish movement over the last tick, px
    progress: np.ndarray  # distanceFromCatching, 0..1

    @property
    def centre(self) -> np.ndarray:
        """Centre of the catch window in fish coordinates."""
        return self.bar + 0.5 * self.height - WINDOW_OFFSET

    @property
    def in_window(self) -> np.ndarray:
        return (self.fish >= self.bar - 16.0) & (self.fish <= self.bar + self.height - 44.0)

    @classmethod
    def from_sim(cls, sim) -> Visible:
        """Read the visible fields of every game of a :class:`~envs.stardew.sim.FishingSim`."""
        fl, it = sim.F, sim.I
        fish = fl[:, R.F_FISH_POS].astype(np.float64)
        return cls(
            bar=fl[:, R.F_BAR_POS].astype(np.float64),
            bar_speed=fl[:, R.F_BAR_SPEED].astype(np.float64),
            height=it[:, R.I_HEIGHT].astype(np.float64),
            fish=fish,
            fish_vel=fish - fl[:, R.F_PREV_FISH_POS],
            progress=fl[:, R.F_PROGRESS].astype(np.float64),
        )

    @classmethod
    def from_obs(cls, obs: np.ndarray, feature_names: Sequence[str], height: float | np.ndarray | None = None,
                 prev_fish: np.ndarray | None = None) -> Visible:
        """Decode observations (N, K) or (K,) of the gym env back into pixels.

        Needs the bar (``bar_center``/``bar_top``/``bobberBarPos``), its speed, the fish, and the bar's
        height (feature ``bar_height`` or the ``height`` argument). The fish's movement comes from
        ``fish_vel`` or from ``prev_fish`` (else 0).
        """
        o = np.atleast_2d(np.asarray(obs, dtype=np.float64))
        col = {n: o[:, i] for i, n in enumerate(feature_names)}
        n = o.shape[0]
        if "bar_height" in col:
            h = (col["bar_height"] + 1.0) * 284.0
        elif height is not None:
            h = np.broadcast_to(np.asarray(height, dtype=np.float64), (n,)).copy()
        else:
            raise ValueError("Visible.from_obs: no bar_height feature; pass height=")
        if "bobberBarPos" in col:
            bar = col["bobberBarPos"]
        elif "bar_top" in col:
            bar = (col["bar_top"] + 1.0) * 284.0
        elif "bar_center" in col:
            bar = (col["bar_center"] + 1.0) * 284.0 - 0.5 * h
        else:
            raise ValueError("Visible.from_obs: no bar position feature")
        if "bobberBarSpeed" in col:
            bar_speed = col["bobberBarSpeed"]
        elif "bar_speed" in col:
            bar_speed = col["bar_speed"] * 16.0
        else:
            raise ValueError("Visible.from_obs: no bar speed feature")
        if "bobberPosition" in col:
            fish = col["bobberPosition"]
        elif "fish_pos" in col:
            fish = (col["fish_pos"] + 1.0) * 284.0
        elif "fish_rel" in col:
            fish = col["fish_rel"] * 284.0 + bar + 0.5 * h - WINDOW_OFFSET
        else:
            raise ValueError("Visible.from_obs: no fish position feature")
        if "fish_vel" in col:
            fish_vel = col["fish_vel"] * 16.0
        elif prev_fish is not None:
            fish_vel = fish - np.asarray(prev_fish, dtype=np.float64)
        else:
            fish_vel = np.zeros(n)
        if "distanceFromCatching" in col:
            progress = col["distanceFromCatching"]
        elif "progress" in col:
            progress = (col["progress"] + 1.0) * 0.5
        else:
            progress = np.full(n, 0.5)
        return cls(bar, bar_speed, h, fish, fish_vel, progress)

    @classmethod
    def from_info(cls, info: Mapping, prev_fish: float | None = None) -> Visible:
        """One game from the gym env's ``info`` (the game's own field names)."""
        fish = float(info["bobberPosition"])
        return cls(
            bar=np.array([info["bobberBarPos"]], dtype=np.float64),
            bar_speed=np.array([info["bobberBarSpeed"]], dtype=np.float64),
            height=np.array([info["bobberBarHeight"]], dtype=np.float64),
            fish=np.array([fish]),
            fish_vel=np.array([0.0 if prev_fish is None else fish - prev_fish]),
            progress=np.array([info["distanceFromCatching"]], dtype=np.float64),
        )


class Controller:
    """A policy over N games: ``controller(visible) -> actions`` (int64 0/1, shape (N,))."""

    name = "controller"

    def __call__(self, v: Visible) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def act(self, sim) -> np.ndarray:
        """Actions for every game of a FishingSim (reads only visible fields)."""
        return self(Visible.from_sim(sim))


class RandomController(Controller):
    """Press with probability 1/2 each tick."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def __call__(self, v: Visible) -> np.ndarray:
        return self.rng.integers(0, 2, v.bar.shape[0], dtype=np.int64)


class NaiveController(Controller):
    """Press while the fish's centre is above the catch window's centre."""

    name = "naive"

    def __call__(self, v: Visible) -> np.ndarray:
        return (v.fish < v.centre).astype(np.int64)


class BrakingController(Controller):
    """FishingAutomaton's bang-bang controller (facts section 4), target = the fish.

    If the bar moves faster than ``terminal`` px/tick, or the fish is inside the bar and the bar moves
    faster than an allowed speed (``v_centre`` at the centre growing quadratically to ``terminal`` at
    the bar's edge), brake: press iff the bar moves down. Near the bottom (within 30 px) moving down
    faster than 4 px/tick: press. Otherwise press iff the fish is above the bar's centre.
    """

    name = "braking"

    def __init__(self, terminal: float = 7.0, v_centre: float = 1.5, bottom_margin: float = 30.0,
                 bottom_speed: float = 4.0):
        self.terminal, self.v_centre = terminal, v_centre
        self.bottom_margin, self.bottom_speed = bottom_margin, bottom_speed

    def __call__(self, v: Visible) -> np.ndarray:
        half = 0.5 * (v.height - 28.0)  # half the catch window's width
        dist = np.abs(v.centre - v.fish)
        frac = np.clip(dist / half, 0.0, 1.0)
        v_allow = self.v_centre + (self.terminal - self.v_centre) * frac * frac
        speed = np.abs(v.bar_speed)
        inside = dist <= half
        brake = (speed > self.terminal) | (inside & (speed > v_allow))
        bottom = (v.bar > BAR_TRACK - v.height - self.bottom_margin) & (v.bar_speed > self.bottom_speed)
        chase = v.fish < v.centre
        press = np.where(brake, v.bar_speed > 0, np.where(bottom, True, chase))
        return press.astype(np.int64)


class LeadController(Controller):
    """The best hand-written controller: sliding-mode control on the fish's predicted position.

    The fish's position is predicted ``lead`` ticks ahead from its visible movement; the error
    ``e = predicted fish - window centre`` (positive: the fish is below) is compared with the distance
    the bar needs to match the fish's speed: with relative speed ``w = barSpeed - c * fishVel`` the
    switching function is ``s = e - kd * w - w|w| / (2 a)`` (``a`` = the bar's braking
    acceleration, 0.25 px/tick^2, x0.6 with the fish in the bar); press iff ``s < 0``. When the fish
    is low and the bar rests on the bottom, the game's bottom rule keeps the fish in the bar: release.
    """

    name = "lead"

    def __init__(self, lead: float = 2.0, kd: float = 2.5, kq: float = 2.0, c: float = 0.5, offset: float = 0.0):
        self.lead, self.kd, self.kq, self.c, self.offset = lead, kd, kq, c, offset

    def __call__(self, v: Visible) -> np.ndarray:
        pred = np.clip(v.fish + self.lead * v.fish_vel, 0.0, FISH_MAX)
        e = pred - (v.centre + self.offset)
        w = v.bar_speed - self.c * v.fish_vel
        a = np.where(v.in_window, 0.15, 0.25)
        s = e - self.kd * w - self.kq * w * np.abs(w) / (2.0 * a)
        press = s < 0.0
        # bottom rule: fish low and bar on the floor counts as in the bar, so stay down
        floor = (v.bar >= BAR_TRACK - v.height - 4.0) & (v.fish >= 548.0 - v.height) & (v.fish_vel >= -2.0)
        press &= ~floor
        return press.astype(np.int64)


class SeedInputController(LeadController):
    """The lead controller restricted to the seed mod's three inputs (bobberBarPos, bobberPosition,
    bobberBarSpeed): no fish movement (one frame shows none) and an assumed bar height (the inputs do not
    carry it). A baseline for, and the demonstrator of, the seed-contract model.
    """

    name = "lead_seed"

    def __init__(self, assumed_height: float = 116.0, kd: float = 2.5, kq: float = 2.0, offset: float = 0.0):
        super().__init__(lead=0.0, kd=kd, kq=kq, c=0.0, offset=offset)
        self.assumed_height = assumed_height

    def __call__(self, v: Visible) -> np.ndarray:
        blind = Visible(v.bar, v.bar_speed, np.full_like(v.bar, self.assumed_height), v.fish, np.zeros_like(v.fish),
                        v.progress)
        return super().__call__(blind)


CONTROLLERS: dict[str, type[Controller]] = {
    "random": RandomController,
    "naive": NaiveController,
    "braking": BrakingController,
    "lead": LeadController,
    "lead_seed": SeedInputController,
}


def make_controller(name: str, **kwargs) -> Controller:
    """A controller by name: ``random``, ``naive``, ``braking``, ``lead`` or ``lead_seed``."""
    if name not in CONTROLLERS:
        raise ValueError(f"controller: unknown {name!r}; known {sorted(CONTROLLERS)}")
    return CONTROLLERS[name](**kwargs)
