"""The hybrid action space of ScreenGame-v0, built from the seed's ``action_space`` description.

A user writes the same dict the seed README documents::

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
(in region pixels; ``max_pos=None`` means the region's last pixel). Values outside are clipped.

``move`` and ``hold`` are off unless asked for: list them in ``mouse.actions`` or pass
``move=True`` / ``hold=True``. Type order is fixed: none, move, click, drag, hold, key (the ones present).
"""

from __future__ import annotations

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
        The pointer's range in region pixels, ``[x, y]``; default the whole region.
    """

    keys: tuple[str, ...] = ()
    mouse_actions: tuple[str, ...] = ("click", "drag")
    min_pos: tuple[float, float] | None = None
    max_pos: tuple[float, float] | None = None
    type_names: tuple[str, ...] = field(init=False)
    params_used: dict[str, tuple[str, ...]] = field(init=False, compare=False)
    space: spaces.Dict = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.keys, str):
            raise ValueError(f"keys: need a list of key names, got the string {self.keys!r}")
        if isinstance(self.mouse_actions, str):
            raise ValueError(f"mouse actions: need a list, got the string {self.mouse_actions!r}")
        keys = tuple(self.keys)
        for i, k in enumerate(keys):
            check_key_name(k, f"keys[{i}]")
        if len(set(keys)) != len(keys):
            raise ValueError(f"keys: duplicates in {keys}")
        unknown = [a for a in self.mouse_actions if a not in MOUSE_TYPES]
        if unknown:
            raise ValueError(f"mouse actions: unknown {unknown}; known {MOUSE_TYPES}")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "mouse_actions", tuple(a for a in MOUSE_TYPES if a in self.mouse_actions))
        for name in ("min_pos", "max_pos"):
            v = getattr(self, name)
            if v is not None:
                v = tuple(float(x) for x in v)
                if len(v) != 2:
                    raise ValueError(f"{name}: need [x, y], got {v}")
                object.__setattr__(self, name, v)
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
        """Build from the seed's dict: ``{"keys": [...], "mouse": {"min_pos", "max_pos", "actions"}}``.

        ``max_pos`` may be a window size ``[w, h]`` as in the seed; pointer +1 then maps to pixel
        ``max_pos - 1`` when ``max_pos`` equals the region size (see :meth:`to_pixels`).
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"action_space: need a dict with 'keys' and/or 'mouse', got {type(d).__name__}")
        unknown = set(d) - {"keys", "mouse"}
        if unknown:
            raise ValueError(f"action_space: unknown entries {sorted(unknown)}; expected 'keys' and 'mouse'")
        mouse = d.get("mouse") or {}
        if not isinstance(mouse, Mapping):
            raise ValueError(f"action_space['mouse']: need a dict with {', '.join(MOUSE_ENTRIES)}, got {mouse!r}")
        unknown = set(mouse) - set(MOUSE_ENTRIES)
        if unknown:
            raise ValueError(f"action_space['mouse']: unknown entries {sorted(unknown)}; expected "
                             f"{', '.join(repr(e) for e in MOUSE_ENTRIES)}")
        if isinstance(mouse.get("actions"), str):
            raise ValueError(f"action_space['mouse']['actions']: need a list, got the string {mouse['actions']!r}")
        actions = list(mouse.get("actions", ["click", "drag"] if mouse else []))
        if move and "move" not in actions:
            actions.append("move")
        if hold and "hold" not in actions:
            actions.append("hold")
        mn, mx = mouse.get("min_pos"), mouse.get("max_pos")
        keys = d.get("keys", ())
        if isinstance(keys, str):
            raise ValueError(f"action_space['keys']: need a list of key names, got the string {keys!r}")
        return cls(keys=tuple(keys), mouse_actions=tuple(actions),
                   min_pos=None if mn is None else tuple(mn), max_pos=None if mx is None else tuple(mx))

    # -- helpers -------------------------------------------------------------------------------------
    def type_index(self, name: str) -> int:
        return self.type_names.index(name)

    def type_of(self, action: Mapping) -> str:
        return self.type_names[int(np.asarray(action["type"]).reshape(()))]

    def noop(self) -> dict:
        """The ``none`` action (everything released)."""
        return self.make("none")

    def make(self, type_name: str, pointer: Sequence[float] = (0.0, 0.0), drag_end: Sequence[float] = (0.0, 0.0),
             keys: Sequence[int] | Sequence[str] = ()) -> dict:
        """An action dict; ``keys`` as a 0/1 vector or as key names to set."""
        k = np.zeros(self.space["keys"].n, dtype=np.int8)
        if len(keys) and isinstance(next(iter(keys)), str):
            for name in keys:
                k[self.keys.index(name)] = 1
        elif len(keys):
            k[:] = np.asarray(keys, dtype=np.int8)
        return {"type": self.type_index(type_name), "pointer": np.asarray(pointer, dtype=np.float32),
                "drag_end": np.asarray(drag_end, dtype=np.float32), "keys": k}

    def held_keys(self, action: Mapping) -> tuple[str, ...]:
        """Keys down during a step with this action (in press order)."""
        if self.type_of(action) != "key":
            return ()
        k = np.asarray(action["keys"]).reshape(-1)
        return tuple(name for name, v in zip(self.keys, k, strict=False) if v)

    def _range(self, region_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        w, h = region_size
        lo = np.array(self.min_pos if self.min_pos is not None else (0.0, 0.0), dtype=np.float64)
        hi = np.array(self.max_pos if self.max_pos is not None else (w, h), dtype=np.float64)
        hi = np.minimum(hi, (w - 1, h - 1)) if self.max_pos is None or tuple(self.max_pos) == (w, h) else hi
        return lo, hi

    def to_pixels(self, pointer: Sequence[float], region_size: tuple[int, int]) -> tuple[int, int]:
        """Pointer in [-1, 1]^2 -> integer pixel (x, y) relative to the region's top-left corner.

        ``region_size`` is ``(width, height)``. A ``max_pos`` equal to the region size (the seed's
        ``window_size``) is read as the size, so +1 maps to the last pixel, ``size - 1``.
        """
        lo, hi = self._range(region_size)
        p = np.clip(np.asarray(pointer, dtype=np.float64).reshape(2), -1.0, 1.0)
        xy = lo + (p + 1.0) / 2.0 * (hi - lo)
        return int(round(xy[0])), int(round(xy[1]))

    def to_pointer(self, xy: Sequence[float], region_size: tuple[int, int]) -> np.ndarray:
        """Inverse of :meth:`to_pixels` (for recording a person's input): pixel -> [-1, 1]^2 float32."""
        lo, hi = self._range(region_size)
        span = np.where(hi > lo, hi - lo, 1.0)
        p = (np.asarray(xy, dtype=np.float64) - lo) / span * 2.0 - 1.0
        return np.clip(p, -1.0, 1.0).astype(np.float32)
