"""The hybrid action space of ScreenGame-v0, built from the hybrid-RL framework's ``action_space`` description.

A user writes the same dict the hybrid-RL framework's README documents::

    action_space = {
        "keys": ["w", "a", "s", "d", "space"],
        "mouse": {"min_pos": [0, 0], "max_pos": [640, 480], "actions": ["click", "drag"]},
    }
    spec = HybridActionSpec.from_seed_dict(action_space)
    spec.space        # Dict(type=Discrete(4), pointer=Box(-1,1,(2,)), drag_end=Box(-1,1,(2,)), keys=MultiBinary(5))
    spec.type_names   # ("none", "click", "drag", "key")

An action is a dict ``{"type": int, "pointer": float32[2], "drag_end": float32[2], "keys": int8[K]}``.
Each type reads only the parameters in :attr:`HybridActionSpec.params_used` and ignores the others.

Action types and what each does in one env step
------------------------------------------------

========  ======================  ===============================================================
type      parameters used          input sent at the start of the step
========  ======================  ===============================================================
none      --                       nothing; anything held is released
move      pointer                  pointer moves to ``pointer``; anything held is released
click     pointer                  pointer moves to ``pointer``, left button pressed and released
drag      pointer, drag_end        left button pressed at ``pointer``, moved in small steps to
                                   ``drag_end`` and released, all within the step
hold      pointer                  pointer moves to ``pointer`` and the left button is held down;
                                   it stays down over consecutive ``hold`` steps (a drag spread
                                   over steps) and is released by the first step of another type
key       keys                     exactly the keys set to 1 are held during this step
========  ======================  ===============================================================

Held keys (the ``key`` type): the ``keys`` vector is the set of keys that is down during the step.
A key set on consecutive ``key`` steps stays down across them (it is *not* released and re-pressed,
so the game sees one long press); a key that becomes 0 is released; new keys are pressed in the
order of the ``keys`` list (so ``["ctrl", "c"]`` with both set sends ctrl, then c: a combination),
and released in reverse order. Any step whose type is not ``key`` releases every held key first.
The input state during a step is therefore a function of that step's action alone, which makes the
action a person's input maps to unambiguous (demonstration recording) and the policy Markov in it.

Pointer coordinates are in [-1, 1], relative to the region: -1 is ``min_pos`` and +1 is ``max_pos``
(in region pixels; ``max_pos=None`` means the region's last pixel, and so does a coordinate of ``max_pos`` equal
to the region's width or height). The pixel sent is always inside ``[min_pos, max_pos]`` and inside the region.
``min_pos`` and ``max_pos`` are two finite numbers each, ``0 <= min_pos < max_pos`` per axis; a ``max_pos`` beyond
the captured region's size is refused by the env's ``reset`` (the pointer would leave the captured window).

Actions are checked against the space before any input is sent (:meth:`HybridActionSpec.check_action`): a dict
with the keys ``type`` (an integer 0..n-1, Python or numpy; not a float or a bool), ``pointer`` and
``drag_end`` (shape ``(2,)``, finite, within [-1, 1]; float32 rounding, up to ``1e-6`` beyond, is clipped) and
``keys`` (shape ``(len(keys),)``, or ``(1,)`` without keys; every value 0 or 1). Anything else is a ``ValueError``
(``TypeError`` for an action that is not a dict) naming the key and the value, and nothing is pressed. Every key
given is checked, also the parameters the action's type does not use; those may also be left out, so a key-only
game sends ``{"type": t, "keys": [...]}`` and a ``none`` action may be ``{"type": 0}``.

``move`` and ``hold`` are off unless asked for: list them in ``mouse.actions`` or pass
``move=True`` / ``hold=True``. Type order is fixed: none, move, click, drag, hold, key (the ones present).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from gymnasium import spaces

MOUSE_TYPES = ("move", "click", "drag", "hold")
ALL_TYPES = ("none", "move", "click", "drag", "hold", "key")
PARAMS_USED = {
    "none": (),
    "move": ("pointer",),
    "click": ("pointer",),
    "drag": ("pointer", "drag_end"),
    "hold": ("pointer",),
    "key": ("keys",),
}
PARAM_KEYS = ("pointer", "drag_end", "keys")
MOUSE_ENTRIES = ("min_pos", "max_pos", "actions")
# pynput.keyboard.Key's names (pynput 1.8; the same set on X11, Windows and macOS). pynput cannot be imported
# without a display, so key names are checked against this copy; a test compares it with pynput's own.
KEY_NAMES = frozenset((
    "alt", "alt_gr", "alt_l", "alt_r", "backspace", "caps_lock", "cmd", "cmd_l", "cmd_r", "ctrl", "ctrl_l",
    "ctrl_r", "delete", "down", "end", "enter", "esc", *(f"f{i}" for i in range(1, 21)), "home", "insert", "left",
    "media_next", "media_play_pause", "media_previous", "media_volume_down", "media_volume_mute",
    "media_volume_up", "menu", "num_lock", "page_down", "page_up", "pause", "print_screen", "right",
    "scroll_lock", "shift", "shift_l", "shift_r", "space", "tab", "up",
))
KEY_ALIASES = {"escape": "esc", "control": "ctrl", "return": "enter", "del": "delete", "spacebar": "space"}


def pynput_key_name(name: str) -> str | None:
    """The ``pynput.keyboard.Key`` name a multi-character key name means (aliases and case allowed), or None."""
    n = KEY_ALIASES.get(name.lower(), name).lower()
    return n if n in KEY_NAMES else None


# pointer values this far beyond [-1, 1] are float32 rounding (8 float32 steps at 1.0), clipped rather than refused
POINTER_TOLERANCE = 1e-6


def _seq(value: object, where: str, what: str) -> tuple:
    """``value`` as a tuple if it is a list, tuple or 1-D array, else a ValueError naming ``where``: a string, a
    number, None or a set (no order) is refused."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return tuple(value.tolist())
    if not isinstance(value, (list, tuple)):
        kind = f"the string {value!r}" if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
        raise ValueError(f"{where}: need a list of {what}, got {kind}")
    return tuple(value)


def _pos(value: object, where: str) -> tuple[float, float]:
    """A pointer bound ``[x, y]``: two finite numbers >= 0, or a ValueError naming ``where``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)
                       for v in value)):
        raise ValueError(f"{where}: need [x, y], two finite numbers (region pixels), got {value!r}")
    if min(value) < 0:
        raise ValueError(f"{where}: {list(value)} is left of or above the region: x and y must be >= 0 (region "
                         "pixels, 0 = its left / top edge)")
    return float(value[0]), float(value[1])


def check_key_name(name: str, where: str) -> None:
    """ValueError (naming ``where``) unless ``name`` is one character or a pynput ``Key`` name."""
    if not isinstance(name, str) or (len(name) != 1 and pynput_key_name(name) is None):
        raise ValueError(f"{where}: unknown key name {name!r}; use a single character or a pynput Key name "
                         f"({', '.join(sorted(KEY_NAMES))}; also {', '.join(KEY_ALIASES)})")


@dataclass(frozen=True)
class HybridActionSpec:
    """A hybrid (discrete type + continuous parameters + held keys) action space.

    Parameters
    ----------
    keys:
        Key names, pynput style: single characters (``"c"``) or ``pynput.keyboard.Key`` names
        (``"space"``, ``"ctrl"``, ``"shift"``, ``"enter"``, ``"left"``, ``"f1"``...: :data:`KEY_NAMES`, any
        case, or an alias in :data:`KEY_ALIASES`). Any other name is a ``ValueError`` here, whatever the
        input backend (dry-run included).
    mouse_actions:
        Any of ``"move"``, ``"click"``, ``"drag"``, ``"hold"``.
    min_pos, max_pos:
        The pointer's range in region pixels, ``[x, y]``: two finite numbers each, ``0 <= min_pos < max_pos`` on
        each axis (a ``ValueError`` otherwise; a ``max_pos`` beyond the region is refused by the env's ``reset``);
        default the whole region.
    """

    keys: tuple[str, ...] = ()
    mouse_actions: tuple[str, ...] = ("click", "drag")
    min_pos: tuple[float, float] | None = None
    max_pos: tuple[float, float] | None = None
    type_names: tuple[str, ...] = field(init=False)
    params_used: dict[str, tuple[str, ...]] = field(init=False, compare=False)
    space: spaces.Dict = field(init=False, compare=False)

    def __post_init__(self) -> None:
        keys = _seq(self.keys, "keys", "key names")
        mouse_actions = _seq(self.mouse_actions, "mouse actions", f"mouse actions ({', '.join(MOUSE_TYPES)})")
        for i, k in enumerate(keys):
            check_key_name(k, f"keys[{i}]")
        if len(set(keys)) != len(keys):
            raise ValueError(f"keys: duplicates in {keys}")
        unknown = [a for a in mouse_actions if a not in MOUSE_TYPES]
        if unknown:
            raise ValueError(f"mouse actions: unknown {unknown}; known {MOUSE_TYPES}")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "mouse_actions", tuple(a for a in MOUSE_TYPES if a in mouse_actions))
        for name in ("min_pos", "max_pos"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _pos(v, name))
        if self.min_pos is not None and self.max_pos is not None:
            bad = [axis for axis, lo, hi in zip("xy", self.min_pos, self.max_pos, strict=True) if not lo < hi]
            if bad:  # min > max flipped the axis: +1 went to the left / top
                raise ValueError(f"min_pos, max_pos: min_pos={list(self.min_pos)} is not below "
                                 f"max_pos={list(self.max_pos)} in {' and '.join(bad)}: need min_pos < max_pos "
                                 "on each axis")
        elif self.max_pos is not None and min(self.max_pos) <= 0:
            raise ValueError(f"max_pos: {list(self.max_pos)} is not right of and below min_pos=[0, 0] (the "
                             "default): need max_pos > 0 on each axis")
        present = {"none"} | set(self.mouse_actions) | ({"key"} if keys else set())
        types = tuple(t for t in ALL_TYPES if t in present)
        object.__setattr__(self, "type_names", types)
        object.__setattr__(self, "params_used", {t: PARAMS_USED[t] for t in types})
        sp = spaces.Dict({
            "type": spaces.Discrete(len(types)),
            "pointer": spaces.Box(-1.0, 1.0, (2,), np.float32),
            "drag_end": spaces.Box(-1.0, 1.0, (2,), np.float32),
            "keys": spaces.MultiBinary(max(1, len(keys))),
        })
        object.__setattr__(self, "space", sp)

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def from_seed_dict(cls, d: Mapping, move: bool = False, hold: bool = False) -> HybridActionSpec:
        """Build from the hybrid-RL framework's dict: ``{"keys": [...], "mouse": {"min_pos", "max_pos", "actions"}}``.

        ``max_pos`` may be a window size ``[w, h]`` as in the hybrid-RL framework; pointer +1 then maps to pixel
        ``max_pos - 1`` when ``max_pos`` equals the region size (see :meth:`to_pixels`).
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"action_space: need a dict with 'keys' and/or 'mouse', got {type(d).__name__}")
        unknown = set(d) - {"keys", "mouse"}
        if unknown:
            raise ValueError(f"action_space: unknown entries {sorted(unknown)}; expected 'keys' and 'mouse'")
        mouse = d.get("mouse", {})
        if not isinstance(mouse, Mapping):  # [] or None silently meant "no mouse"
            raise ValueError(f"action_space['mouse']: need a dict with {', '.join(MOUSE_ENTRIES)} (or leave it "
                             f"out for no mouse), got {mouse!r}")
        unknown = set(mouse) - set(MOUSE_ENTRIES)
        if unknown:
            raise ValueError(f"action_space['mouse']: unknown entries {sorted(unknown)}; expected "
                             f"{', '.join(repr(e) for e in MOUSE_ENTRIES)}")
        if "actions" in mouse:
            actions = list(_seq(mouse["actions"], "action_space['mouse']['actions']",
                                f"mouse actions ({', '.join(MOUSE_TYPES)})"))
        else:
            actions = ["click", "drag"] if mouse else []
        if move and "move" not in actions:
            actions.append("move")
        if hold and "hold" not in actions:
            actions.append("hold")
        bounds = {}
        for name in ("min_pos", "max_pos"):  # None: the default (the region's corner)
            v = mouse.get(name)
            bounds[name] = None if v is None else _pos(v, f"action_space['mouse']['{name}']")
        keys = _seq(d.get("keys", ()), "action_space['keys']", "key names")
        try:
            return cls(keys=keys, mouse_actions=tuple(actions), **bounds)
        except ValueError as e:  # name the entry of the dict the user wrote
            msg = str(e)
            for name in ("min_pos, max_pos", "min_pos", "max_pos"):
                if msg.startswith(name + ":"):
                    where = " and ".join(f"action_space['mouse']['{n}']" for n in name.split(", "))
                    raise ValueError(where + msg[len(name):]) from None
            raise

    # -- helpers -------------------------------------------------------------------------------------
    def type_index(self, name: str) -> int:
        if name not in self.type_names:
            raise ValueError(f"type: {name!r} is not a type of this action space; its types are {self.type_names}")
        return self.type_names.index(name)

    def type_of(self, action: Mapping) -> str:
        """The name of the action's type (the type checked as :meth:`check_action` does)."""
        if not isinstance(action, Mapping):
            raise TypeError(f"action: need a dict with keys 'type', 'pointer', 'drag_end', 'keys', got {action!r} "
                            f"({type(action).__name__})")
        if "type" not in action:
            raise ValueError(f"action: no 'type' in {sorted(action, key=str)}")
        return self.type_names[self._check_type(action["type"])]

    # -- checking actions ----------------------------------------------------------------------------
    def _check_type(self, t: object) -> int:
        n = len(self.type_names)
        v = t[()] if isinstance(t, np.ndarray) and t.shape == () else t
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or not 0 <= v < n:
            raise ValueError(f"action['type']: {t!r} is not in Discrete({n}): need an integer 0..{n - 1} (an index "
                             f"into {self.type_names}; a float or a bool is refused, not rounded)")
        return int(v)

    @staticmethod
    def _check_point(v: object, key: str, clip: bool = False) -> np.ndarray:
        a = np.asarray(v) if not isinstance(v, np.ndarray) else v
        if a.dtype.kind not in "iuf" or a.shape != (2,):
            raise ValueError(f"action[{key!r}]: need 2 numbers (x, y) in [-1, 1] (Box(-1, 1, (2,), float32)), got "
                             f"{v!r}")
        p = a.astype(np.float64)
        if not np.isfinite(p).all():
            raise ValueError(f"action[{key!r}]: {v!r} is not finite: need 2 numbers in [-1, 1]")
        if not clip and (np.abs(p) > 1.0 + POINTER_TOLERANCE).any():
            raise ValueError(f"action[{key!r}]: {v!r} is outside Box(-1, 1, (2,)): need x, y in [-1, 1] "
                             "(-1 = min_pos, +1 = max_pos)")
        return np.clip(p, -1.0, 1.0).astype(np.float32)

    def _check_keys(self, v: object) -> np.ndarray:
        n = self.space["keys"].n
        a = np.asarray(v) if not isinstance(v, np.ndarray) else v
        names = f"one per key of {list(self.keys)}" if self.keys else "unused: this space has no keys"
        if a.dtype.kind not in "biuf" or a.shape != (n,):
            raise ValueError(f"action['keys']: need {n} values of 0 or 1 ({names}), got {v!r}")
        if not ((a == 0) | (a == 1)).all():
            raise ValueError(f"action['keys']: {v!r} is not in MultiBinary({n}): every value must be 0 or 1")
        return (a == 1).astype(np.int8)

    def check_action(self, action: object) -> dict:
        """The action as the input controller reads it (``type`` an int, ``pointer``/``drag_end`` float32 in
        [-1, 1], ``keys`` int8 0/1), or an error naming the key and the value unless ``action`` is in
        :attr:`space` (see the module doc): nothing is sent for an action that is not."""
        if not isinstance(action, Mapping):
            raise TypeError(f"action: need a dict with keys 'type', 'pointer', 'drag_end', 'keys' (e.g. "
                            f"env.action_spec.make({self.type_names[-1]!r}, ...)), got {action!r} "
                            f"({type(action).__name__})")
        expected = ("type", *PARAM_KEYS)
        unknown = sorted((k for k in action if k not in expected), key=str)
        # a parameter the action's type does not read may be left out: a key-only game sends {"type", "keys"}
        try:
            used = PARAMS_USED[self.type_names[self._check_type(action["type"])]] if "type" in action else ()
        except ValueError:  # a type outside the space: said below, after what else is missing
            used = PARAM_KEYS
        missing = [k for k in expected if k not in action and (k == "type" or k in used)]
        if missing or unknown:
            what = "; ".join(s for s in (f"missing {missing}" if missing else "",
                                         f"unknown {unknown}" if unknown else "") if s)
            raise ValueError(f"action: {what}; the keys are {list(expected)}, 'type' and the parameters its type "
                             "reads required (env.action_spec.make(type_name, ...) builds one)")
        return {"type": self._check_type(action["type"]),
                "pointer": self._check_point(action.get("pointer", (0.0, 0.0)), "pointer"),
                "drag_end": self._check_point(action.get("drag_end", (0.0, 0.0)), "drag_end"),
                "keys": self._check_keys(action["keys"] if "keys" in action
                                         else np.zeros(self.space["keys"].n, np.int8))}

    def check_region(self, region_size: tuple[int, int]) -> None:
        """ValueError unless the pointer range fits the captured region of ``region_size`` = (width, height):
        a ``max_pos`` beyond it would send the pointer outside the captured window (onto other windows)."""
        w, h = region_size
        if self.max_pos is not None and (self.max_pos[0] > w or self.max_pos[1] > h):
            raise ValueError(f"action_space['mouse']['max_pos']: {list(self.max_pos)} is beyond the captured "
                             f"region's size {w}x{h} (width x height): pointer values would leave the captured "
                             f"window; need max_pos <= [{w}, {h}]")
        lo, hi = self._range(region_size)
        if not (lo < hi).all():
            raise ValueError(f"action_space['mouse']['min_pos']: {list(self.min_pos or (0.0, 0.0))} is not below the "
                             f"pointer's far corner {hi.tolist()} in the {w}x{h} (width x height) region: need "
                             "min_pos < max_pos on each axis")

    def noop(self) -> dict:
        """The ``none`` action (everything released)."""
        return self.make("none")

    def make(self, type_name: str, pointer: Sequence[float] = (0.0, 0.0), drag_end: Sequence[float] = (0.0, 0.0),
             keys: Sequence[int] | Sequence[str] = ()) -> dict:
        """An action dict; ``keys`` as a 0/1 vector or as key names to set."""
        k = np.zeros(self.space["keys"].n, dtype=np.int8)
        if len(keys) and isinstance(next(iter(keys)), str):
            for name in keys:
                if name not in self.keys:
                    raise ValueError(f"keys: {name!r} is not a key of this action space; its keys are "
                                     f"{list(self.keys)}")
                k[self.keys.index(name)] = 1
        elif len(keys):
            k[:] = self._check_keys(np.asarray(keys))
        return {"type": self.type_index(type_name), "pointer": np.asarray(pointer, dtype=np.float32),
                "drag_end": np.asarray(drag_end, dtype=np.float32), "keys": k}

    def held_keys(self, action: Mapping) -> tuple[str, ...]:
        """Keys down during a step with this action (in press order)."""
        if self.type_of(action) != "key":
            return ()
        k = self._check_keys(action["keys"])
        return tuple(name for name, v in zip(self.keys, k, strict=True) if v)

    def _range(self, region_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        size = np.array(region_size, dtype=np.float64)
        lo = np.array(self.min_pos if self.min_pos is not None else (0.0, 0.0), dtype=np.float64)
        hi = np.array(self.max_pos if self.max_pos is not None else size, dtype=np.float64)
        # a coordinate equal to the region's size (the hybrid-RL framework's window size) is its last pixel, axis by axis
        hi = np.where(hi == size, size - 1, hi)
        return lo, hi

    def to_pixels(self, pointer: Sequence[float], region_size: tuple[int, int]) -> tuple[int, int]:
        """Pointer in [-1, 1]^2 -> integer pixel (x, y) relative to the region's top-left corner.

        ``region_size`` is ``(width, height)``. A ``max_pos`` equal to the region size (the hybrid-RL framework's
        ``window_size``) is read as the size, so +1 maps to the last pixel, ``size - 1`` (axis by axis).
        Values outside [-1, 1] are clipped (NaN is refused); the pixel is always inside ``[min_pos, max_pos]``
        and inside the region.
        """
        lo, hi = self._range(region_size)
        p = self._check_point(pointer, "pointer", clip=True).astype(np.float64)
        xy = np.rint(lo + (p + 1.0) / 2.0 * (hi - lo))
        # rounding must not leave [min_pos, max_pos], nor the region (a region smaller than max_pos, e.g. a
        # followed window that shrank): the pixel stays on the captured window
        xy = np.minimum(np.maximum(xy, np.ceil(lo)), np.floor(hi))
        xy = np.clip(xy, 0, np.array(region_size, dtype=np.float64) - 1)
        return int(xy[0]), int(xy[1])

    def to_pointer(self, xy: Sequence[float], region_size: tuple[int, int]) -> np.ndarray:
        """Inverse of :meth:`to_pixels` (for recording a person's input): pixel -> [-1, 1]^2 float32."""
        lo, hi = self._range(region_size)
        span = np.where(hi > lo, hi - lo, 1.0)
        p = (np.asarray(xy, dtype=np.float64) - lo) / span * 2.0 - 1.0
        return np.clip(p, -1.0, 1.0).astype(np.float32)
