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
# The stop switch's default: a chord games do not use. pynput's listener only watches keys, it does not take them
# from the focused window, so a lone F12 also reached the game (a browser opened its developer tools on it).
# Not Ctrl+Alt+F12: X's keyboard map turns F12 pressed with Ctrl+Alt into XF86Switch_VT_12 (on a Linux console
# it switches to virtual terminal 12), so the listener never sees an F12 press in that chord.
DEFAULT_STOP_HOTKEY = "<ctrl>+<shift>+<f12>"


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


class KeyRepeat:
    """Turns the X server's key auto-repeat off for each key the env holds, and back on at :meth:`restore`.

    A key held through XTEST auto-repeats like a real one: the game gets a press event every 1/25 s (after a
    660 ms delay) instead of one long press. Each key's own repeat flag (``XChangeKeyboardControl``) is cleared
    the first time the env presses it, when it was set; :meth:`restore` sets it again (the env's ``close``, the
    SIGINT/SIGTERM/SIGHUP handler and the interpreter's exit call it). A process killed with SIGKILL cannot; then
    ``xset r <keycode>`` (or ``xset r on``) turns repeat back on. Only on X11 (python-xlib); elsewhere a no-op.
    """

    def __init__(self, display: str | None = None):
        self._d = None
        self._off: list[int] = []
        self._lock = threading.Lock()
        try:
            from Xlib import display as xdisplay

            self._d = xdisplay.Display(display)
        except Exception:  # not X11 (or no python-xlib): nothing to do
            self._d = None

    def keycode(self, keysym: int) -> int:
        return int(self._d.keysym_to_keycode(keysym)) if self._d is not None else 0

    def hold(self, keysym: int | None) -> None:
        """Called before a key is pressed: its repeat goes off (if it was on) until :meth:`restore`."""
        if self._d is None or keysym is None:
            return
        from Xlib import X

        with self._lock:
            code = self.keycode(keysym)
            if not code or code in self._off:
                return
            mask = self._d.get_keyboard_control().auto_repeats
            if mask[code // 8] & (1 << (code % 8)):
                self._d.change_keyboard_control(key=code, auto_repeat_mode=X.AutoRepeatModeOff)
                self._d.sync()
                self._off.append(code)

    def restore(self) -> None:
        """Auto-repeat back on for every key :meth:`hold` turned it off for (idempotent, thread-safe)."""
        if self._d is None:
            return
        from Xlib import X

        with self._lock:
            for code in self._off:
                with contextlib.suppress(Exception):
                    self._d.change_keyboard_control(key=code, auto_repeat_mode=X.AutoRepeatModeOn)
            self._off = []
            with contextlib.suppress(Exception):
                self._d.sync()

    def close(self) -> None:
        self.restore()
        if self._d is not None:
            with contextlib.suppress(Exception):
                self._d.close()
            self._d = None


class PynputInput:
    """Mouse and keyboard through pynput (XTEST on X11); a held key does not auto-repeat (see :class:`KeyRepeat`)."""

    def __init__(self):
        needed_for = "Mouse and keyboard input (ScreenGame-v0's input='pynput')"
        keyboard, mouse = (import_optional(f"pynput.{m}", needed_for) for m in ("keyboard", "mouse"))

        self._kb_mod, self._mouse_mod = keyboard, mouse
        self._kb = keyboard.Controller()
        self._mouse = mouse.Controller()
        self._keys: dict[str, object] = {}
        self.repeat = KeyRepeat()

    def keysym(self, name: str) -> int | None:
        """The X keysym of a key name (None where it has none, or off X11)."""
        k = self.resolve_key(name)
        vk = getattr(getattr(k, "value", k), "vk", None)
        if vk is None and getattr(k, "char", None):
            with contextlib.suppress(Exception):
                from pynput._util.xorg import char_to_keysym

                vk = char_to_keysym(k.char)
        return int(vk) if vk else None

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
        if down:
            with contextlib.suppress(Exception):  # never keeps a key from being pressed
                self.repeat.hold(self.keysym(name))
        (self._kb.press if down else self._kb.release)(k)

    def restore(self) -> None:
        """Auto-repeat back on for the keys this backend held."""
        self.repeat.restore()

    def close(self) -> None:
        self.repeat.close()
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

    # -- direct input, for reset hooks (tracked like an action's, so release_all covers it) ------------------
    def press_key(self, name: str) -> None:
        """Hold ``name`` down (any key name, not only the action space's) until :meth:`release_key` or
        :meth:`release_all`; nothing is sent while input is disabled (the stop switch)."""
        check_key_name(name, "key")
        with self._lock:
            if not self.enabled or name in self.held_keys:
                return
            self.held_keys.append(name)
            self.backend.key(name, True)

    def release_key(self, name: str) -> None:
        with self._lock:
            if name in self.held_keys:
                self.held_keys.remove(name)
                self.backend.key(name, False)

    def click_at(self, x: int, y: int, button: str = "left") -> None:
        """Move to the absolute screen pixel (x, y) and click ``button``."""
        with self._lock:
            if not self.enabled:
                return
            self.backend.move(int(x), int(y))
            if button == "left":
                self.button_held = True
            self.backend.button(button, True)
            self.backend.button(button, False)
            if button == "left":
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
    """A global hotkey (pynput ``GlobalHotKeys`` syntax, e.g. ``"<ctrl>+<shift>+<f12>"``, the default
    :data:`DEFAULT_STOP_HOTKEY`) that calls ``on_stop`` from its listener thread and sets :attr:`pressed`.

    The hotkey is watched, not consumed: the focused window (the game) receives the keys too. So pick a chord
    the game does not react to; a lone function key such as F12 opens a browser's developer tools."""

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
            stop_listener(self._listener)
            self._listener = None


def stop_listener(lst: object) -> None:
    """Stop a pynput listener and wait for its thread. pynput's X11 listener disables its RECORD context without
    flushing, so its thread lingers until the next input event (and dies noisily when the X server goes away):
    it is flushed through the listener's own stop connection (pynput 1.8 internals; harmless if absent)."""
    lst.stop()
    with contextlib.suppress(Exception):
        lst._display_stop.record_disable_context(lst._context)
        lst._display_stop.flush()
    lst.join(timeout=2.0)


def as_action(spec: HybridActionSpec, action: Mapping) -> dict:
    """A copy of ``action`` with numpy values (for info / logs)."""
    return {k: np.array(action[k]) for k in ("type", "pointer", "drag_end", "keys") if k in action}
