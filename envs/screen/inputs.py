"""Sending hybrid actions as mouse and keyboard input, and the stop switch.

:class:`InputController` turns an action of a :class:`~envs.screen.actions.HybridActionSpec` into
presses, releases and moves on a backend, keeping track of what is held so that keys held across
steps are not re-tapped and everything can be released at once (:meth:`InputController.release_all`,
thread-safe: the stop switch calls it from its listener thread).

Backends: :class:`PynputInput` (pynput; on X11 the mouse through XTEST, to the window under the
pointer; keys to the window with the keyboard focus, which ScreenGame-v0 gives the captured window
first) and :class:`DryRunInput` (records what would be sent).
pynput is imported when a :class:`PynputInput` or :class:`StopSwitch` is created.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from envs.optional import import_optional
from envs.options import positive_int_option
from envs.screen.actions import KEY_NAMES, HybridActionSpec, check_key_name, pynput_key_name
from envs.screen.capture import Region
from envs.screen.options import check_methods, finite_number

BACKEND_METHODS = ("move", "button", "key", "close")


def check_backend(backend: object, where: str = "input") -> None:
    """TypeError naming ``where`` unless ``backend`` has the input backend's methods (``move(x, y)``,
    ``button(name, down)``, ``key(name, down)``, ``close()``)."""
    check_methods(backend, where, BACKEND_METHODS,
                  what="an input backend ('pynput', 'dry-run', or an object with move/button/key/close)")


class DryRunInput:
    """Records input instead of sending it: :attr:`events` is a list of tuples
    ``("move", x, y)``, ``("button", name, down)``, ``("key", name, down)``."""

    def __init__(self):
        self.events: list[tuple] = []

    def move(self, x: int, y: int) -> None:
        self.events.append(("move", int(x), int(y)))

    def button(self, name: str, down: bool) -> None:
        self.events.append(("button", name, bool(down)))

    def key(self, name: str, down: bool) -> None:
        self.events.append(("key", name, bool(down)))

    def close(self) -> None:
        pass


class PynputInput:
    """Mouse and keyboard through pynput (XTEST on X11)."""

    def __init__(self):
        needed_for = "Mouse and keyboard input (ScreenGame-v0's input='pynput')"
        keyboard, mouse = (import_optional(f"pynput.{m}", needed_for) for m in ("keyboard", "mouse"))

        self._kb_mod, self._mouse_mod = keyboard, mouse
        self._kb = keyboard.Controller()
        self._mouse = mouse.Controller()
        self._keys: dict[str, object] = {}

    def resolve_key(self, name: str):
        if name not in self._keys:
            check_key_name(name, "key")
            kb = self._kb_mod
            self._keys[name] = kb.KeyCode.from_char(name) if len(name) == 1 else kb.Key[pynput_key_name(name)]
        return self._keys[name]

    def move(self, x: int, y: int) -> None:
        self._mouse.position = (int(x), int(y))

    def button(self, name: str, down: bool) -> None:
        b = getattr(self._mouse_mod.Button, name)
        (self._mouse.press if down else self._mouse.release)(b)

    def key(self, name: str, down: bool) -> None:
        k = self.resolve_key(name)
        (self._kb.press if down else self._kb.release)(k)

    def close(self) -> None:
        # drop the controllers now, so their X connections close while the display is still there
        self._kb = None
        self._mouse = None


class InputController:
    """Applies hybrid actions on a backend (see :mod:`envs.screen.actions` for what each type sends)."""

    def __init__(self, spec: HybridActionSpec, backend, drag_steps: int = 8, drag_step_s: float = 0.0):
        check_backend(backend)
        self.spec = spec
        self.backend = backend
        self.drag_steps = positive_int_option("drag_steps", drag_steps)  # 0 or -3 silently became 1
        self.drag_step_s = finite_number("drag_step_s", drag_step_s, minimum=0.0)
        self.held_keys: list[str] = []
        self.button_held = False
        self.enabled = True
        self._lock = threading.RLock()

    def apply(self, action: Mapping, region: Region) -> None:
        """Send ``action`` (checked against the space first: an action outside it is an error naming the key,
        and nothing is sent) at the start of a step on ``region``."""
        action = self.spec.check_action(action)
        with self._lock:
            if not self.enabled:
                return
            spec, b = self.spec, self.backend
            t = spec.type_names[action["type"]]
            if t != "key":
                self._release_keys()
            if t != "hold" and self.button_held:
                b.button("left", False)
                self.button_held = False
            size = region.size

            def at(p):
                x, y = spec.to_pixels(p, size)
                return region.left + x, region.top + y

            # what is pressed is recorded *before* the press is sent: an exception or Ctrl+C (a KeyboardInterrupt
            # at any bytecode) between the two would otherwise leave it down where release_all cannot see it
            if t == "move":
                b.move(*at(action["pointer"]))
            elif t == "click":
                b.move(*at(action["pointer"]))
                self.button_held = True
                b.button("left", True)
                b.button("left", False)
                self.button_held = False
            elif t == "drag":
                x0, y0 = at(action["pointer"])
                x1, y1 = at(action["drag_end"])
                b.move(x0, y0)
                self.button_held = True
                b.button("left", True)
                for i in range(1, self.drag_steps + 1):
                    f = i / self.drag_steps
                    if self.drag_step_s:
                        time.sleep(self.drag_step_s)
                    b.move(int(round(x0 + f * (x1 - x0))), int(round(y0 + f * (y1 - y0))))
                b.button("left", False)
                self.button_held = False
            elif t == "hold":
                b.move(*at(action["pointer"]))
                if not self.button_held:
                    self.button_held = True
                    b.button("left", True)
            elif t == "key":
                want = list(spec.held_keys(action))
                for k in reversed(self.held_keys):
                    if k not in want:
                        b.key(k, False)
                self.held_keys = [k for k in self.held_keys if k in want]
                for k in want:
                    if k not in self.held_keys:
                        self.held_keys.append(k)
                        b.key(k, True)

    def _release_keys(self) -> None:
        for k in reversed(self.held_keys):
            self.backend.key(k, False)
        self.held_keys = []

    def release_all(self) -> None:
        """Release every held key and button now (idempotent, thread-safe)."""
        with self._lock:
            self._release_keys()
            if self.button_held:
                self.backend.button("left", False)
                self.button_held = False

    @property
    def holding(self) -> bool:
        return bool(self.held_keys) or self.button_held


# pynput's hotkey listener counts a left or right modifier as the plain one: ctrl_l fires "<ctrl>"
_CANONICAL = {"alt_l": "alt", "alt_r": "alt", "alt_gr": "alt", "ctrl_l": "ctrl", "ctrl_r": "ctrl",
              "shift_l": "shift", "shift_r": "shift", "cmd_l": "cmd", "cmd_r": "cmd"}


_HOTKEY_SYNTAX = "write special keys in angle brackets, e.g. '<f12>' or '<ctrl>+<alt>+q'"


def _bracketed(part: str) -> str | None:
    """The name inside a hotkey part written ``<name>``, else None."""
    return part[1:-1] if len(part) > 2 and part[0] == "<" and part[-1] == ">" else None


def _canonical(name: str) -> str:
    key = name.lower() if len(name) == 1 else (pynput_key_name(name) or name.lower())
    return _CANONICAL.get(key, key)


def check_hotkey_not_in_keys(hotkey: str, keys: tuple[str, ...], where: str = "stop_hotkey") -> None:
    """ValueError naming ``where`` when the agent's own ``keys`` can press every key of ``hotkey`` at once: pynput
    shows a process its own key presses, so the agent would press the stop switch itself."""
    ours = {_canonical(k): k for k in keys}
    pressed_by_agent = []
    for part in _hotkey_parts(hotkey, where):
        key = _canonical(_bracketed(part) or part)
        if key not in ours:
            return
        pressed_by_agent.append(ours[key])
    raise ValueError(f"{where}: {hotkey!r} is pressed by the agent's own action keys {pressed_by_agent}, so an "
                     "action would stop the env; pick a hotkey the actions cannot press, e.g. '<ctrl>+<alt>+q'")


def _hotkey_parts(hotkey: str, where: str) -> list[str]:
    if not isinstance(hotkey, str) or not hotkey:
        raise ValueError(f"{where}: need a pynput hotkey string ({_HOTKEY_SYNTAX}), got {hotkey!r}")
    parts, start = [], 0
    for i, c in enumerate(hotkey):  # as pynput splits: a '+' that begins a part is the key '+'
        if c == "+" and i != start:
            parts.append(hotkey[start:i])
            start = i + 1
    if start == len(hotkey):
        raise ValueError(f"{where}: {hotkey!r} ends with '+'; {_HOTKEY_SYNTAX}")
    parts.append(hotkey[start:])
    return parts


def check_hotkey(hotkey: str, where: str = "stop_hotkey") -> None:
    """ValueError naming ``where`` unless ``hotkey`` is a pynput ``GlobalHotKeys`` string (the rules of pynput's
    ``HotKey.parse``, checked without importing pynput): parts joined by ``+``, each one character or a
    ``<name>`` of :data:`~envs.screen.actions.KEY_NAMES` (or ``<virtual key code>``), none twice."""
    seen: set[str] = set()
    for part in _hotkey_parts(hotkey, where):
        inner = _bracketed(part)
        if len(part) == 1:
            key = part.lower()
        elif inner is not None and (inner.lower() in KEY_NAMES or inner.isdigit()):
            key = inner.lower()
        else:
            name = pynput_key_name(inner if inner is not None else part)
            hint = f": write it '<{name}>'" if name else f"; {_HOTKEY_SYNTAX} (names: {', '.join(sorted(KEY_NAMES))})"
            raise ValueError(f"{where}: {hotkey!r}: {part!r} is neither one character nor a <key name>{hint}")
        if key in seen:
            raise ValueError(f"{where}: {hotkey!r} names {part!r} twice")
        seen.add(key)


class StopSwitch:
    """A global hotkey (pynput ``GlobalHotKeys`` syntax, e.g. ``"<f12>"`` or ``"<ctrl>+<alt>+q"``) that
    calls ``on_stop`` from its listener thread and sets :attr:`pressed`."""

    def __init__(self, hotkey: str, on_stop: Callable[[], None]):
        check_hotkey(hotkey)
        keyboard = import_optional("pynput.keyboard", "The stop hotkey (ScreenGame-v0's stop_hotkey)")

        self.hotkey = hotkey
        self.pressed = threading.Event()
        self._on_stop = on_stop

        def fire():
            self.pressed.set()
            self._on_stop()

        self._listener = keyboard.GlobalHotKeys({hotkey: fire})
        self._listener.start()
        self._listener.wait()

    def stop(self) -> None:
        if self._listener is not None:
            lst = self._listener
            lst.stop()
            # pynput's X11 listener disables its RECORD context without flushing, so its thread lingers
            # until the next input event (and dies noisily when the X server goes away): flush it
            # through the listener's own stop connection (pynput 1.8 internals; harmless if absent).
            with contextlib.suppress(Exception):
                lst._display_stop.record_disable_context(lst._context)
                lst._display_stop.flush()
            lst.join(timeout=2.0)
            self._listener = None


def as_action(spec: HybridActionSpec, action: Mapping) -> dict:
    """A copy of ``action`` with numpy values (for info / logs)."""
    return {k: np.array(action[k]) for k in ("type", "pointer", "drag_end", "keys") if k in action}
