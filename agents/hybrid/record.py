"""Record a person playing the game window: frames and their input, as hybrid actions aligned to env steps.

    python -m envs.games.fishing &                     # the game window (or: make play-fishing)
    python -m agents.hybrid.record --out demos/human   # play; F12 or Ctrl+C stops; one file per fish

How the two never mix: the recorder's ScreenGame-v0 uses the **dry-run input backend**, so the program sends no
input at all while recording; every event the pynput listener (X RECORD) sees comes from the person. An agent is
never run in the same process or display while recording.

Alignment: each env step lasts 1/30 s. The env's step grabs the frame at the end of the step; the action recorded
for the step is the person's input *during* it, read from the listener when the step ends:

* a reel key (``c``/``space``) down at any time in the step -> ``key`` with the keys that were down;
* else the left button down at the end of the step (or through it) -> ``hold`` at the pointer;
* else a press and release inside the step -> ``click`` at the pointer;
* else ``none`` (recorded: no-op steps are part of the demonstration).

Files: the demo format of :mod:`agents.hybrid.demos` (``source: "human"``), one episode (fish) per file, written
when the fish is caught or escapes.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

from agents.hybrid.demos import DemoWriter
from agents.hybrid.layout import HybridLayout
from envs.cli.argtypes import float_above, int_at_least


class InputListener:
    """The person's mouse and keyboard state, from pynput listeners; ``take()`` returns and clears a step's input."""

    def __init__(self, keys: tuple[str, ...]):
        from pynput import keyboard, mouse

        self._kb_mod, self._mouse_mod = keyboard, mouse
        self.names = keys
        self.lock = threading.Lock()
        self.down: set[str] = set()
        self.seen_keys: set[str] = set()
        self.button = False
        self.pressed_in_step = False
        self.released_in_step = False
        self.pos = (0, 0)
        self.stop_requested = threading.Event()
        self._k = keyboard.Listener(on_press=self._press, on_release=self._release)
        self._m = mouse.Listener(on_click=self._click, on_move=self._move)

    def _name(self, key: Any) -> str | None:
        if hasattr(key, "char") and key.char:
            return key.char.lower()
        return getattr(key, "name", None)

    def _press(self, key: Any, *_: Any) -> None:
        name = self._name(key)
        if name == "f12":
            self.stop_requested.set()
        with self.lock:
            if name in self.names:
                self.down.add(name)
                self.seen_keys.add(name)

    def _release(self, key: Any, *_: Any) -> None:
        with self.lock:
            self.down.discard(self._name(key))

    def _click(self, x: int, y: int, button: Any, pressed: bool, *_: Any) -> None:
        if button != self._mouse_mod.Button.left:
            return
        with self.lock:
            self.pos = (x, y)
            self.button = pressed
            if pressed:
                self.pressed_in_step = True
            else:
                self.released_in_step = True

    def _move(self, x: int, y: int, *_: Any) -> None:
        with self.lock:
            self.pos = (x, y)

    def start(self) -> InputListener:
        self._k.start()
        self._m.start()
        self._k.wait()
        self._m.wait()
        return self

    def stop(self) -> None:
        self._k.stop()
        self._m.stop()

    def take(self) -> dict[str, Any]:
        """The input of the step that just ended; clears the per-step flags."""
        with self.lock:
            out = {"keys": set(self.seen_keys) | set(self.down), "button": self.button,
                   "pressed": self.pressed_in_step, "released": self.released_in_step, "pos": self.pos}
            self.seen_keys = set(self.down)
            self.pressed_in_step = self.released_in_step = False
        return out


def input_to_action(spec: Any, inp: dict[str, Any], region: Any) -> dict[str, Any]:
    """A step's input -> the hybrid action that reproduces it (see the module doc for the precedence)."""
    names = spec.type_names
    pointer = spec.to_pointer((inp["pos"][0] - region.left, inp["pos"][1] - region.top),
                              (region.width, region.height))
    if "key" in names and inp["keys"]:
        return spec.make("key", keys=[1 if k in inp["keys"] else 0 for k in spec.keys])
    if "hold" in names and inp["button"]:
        return spec.make("hold", pointer=pointer)
    if "click" in names and inp["pressed"] and inp["released"]:
        return spec.make("click", pointer=pointer)
    return spec.noop()


def record(out: str, episodes: int = 10, max_seconds: float = 600.0, env: Any = None,
           source: str = "human") -> list[str]:
    from envs.games.fishing_screen import FISHING_ACTIONS, make_fishing_screen_env, meter_probe

    own = env is None
    env = env or make_fishing_screen_env(grayscale=False, input="dry-run", stop_hotkey=None)
    spec = env.action_spec
    layout = HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used)
    header = {"source": source, "controller": "a person at the game window (pynput listener)",
              "env": "ScreenGame-v0 (envs.games.fishing_screen)", "action_spec": FISHING_ACTIONS,
              "type_names": list(spec.type_names), "keys": list(spec.keys), "layout": layout.to_json(),
              "preprocess": repr(env.preprocess), "frame_stack": env.frames.depth, "ticks_per_step": 2,
              "step_hz": 30}
    writer = DemoWriter(out, header)
    listener = InputListener(spec.keys).start()
    written: list[str] = []
    t_end = time.monotonic() + max_seconds
    try:
        obs, _ = env.reset()
        writer.start(obs)
        listener.take()
        while len(written) < episodes and time.monotonic() < t_end and not listener.stop_requested.is_set():
            region = env._region()
            nobs, r, term, trunc, _ = env.step(spec.noop())  # dry-run: nothing is sent; this paces and grabs
            act = input_to_action(spec, listener.take(), region)
            writer.add(act, r, nobs)
            if term or trunc:
                full = meter_probe().value(env.render()) >= 0.999
                p = writer.end(terminal=term, outcome=("caught" if full else "escaped") if term else "truncated")
                if p is not None:
                    written.append(str(p))
                    print(f"episode {len(written)}: {p.name} ({'caught' if full else 'escaped'})", flush=True)
                nobs, _ = env.reset()
                writer.start(nobs)
                listener.take()
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop()
        if own:
            env.close()
    return written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m agents.hybrid.record", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="demos/human")
    p.add_argument("--episodes", type=int_at_least(1), default=10)
    p.add_argument("--max-seconds", type=float_above(0.0), default=600)
    args = p.parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():  # found now, not after the person has played
        p.error(f"--out: {args.out}: exists and is not a directory")
    files = record(args.out, args.episodes, args.max_seconds)
    print(f"{len(files)} episodes written to {args.out}")



if __name__ == "__main__":
    main()
