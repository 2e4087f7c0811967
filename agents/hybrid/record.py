"""Record a person playing a game window: frames and their input, as hybrid actions aligned to env steps.

    python -m envs.games.fishing &                     # the game window (or: make play-fishing)
    python -m agents.hybrid.record --out demos/human   # play; Ctrl+Shift+F12 or Ctrl+C stops; one file per fish

    # any game wrapped as a ScreenGame-v0 env, registered by your module:
    python -m agents.hybrid.record --env MyGame-v0 --gym-packages my_games --out demos/mygame --episodes 5

Any env whose unwrapped env has an ``action_spec`` (ScreenGame-v0's
:class:`~envs.screen.actions.HybridActionSpec`: its keys, its pointer, its mouse actions) can be recorded: the
recorder makes it with ``input="dry-run"`` and ``stop_hotkey=None`` added to ``--env-kwargs`` (so its entry point
must accept ScreenGameEnv's keyword arguments), and listens for the keys of that spec, not the reel keys. The stop
chord ``--stop-hotkey`` (default ``<ctrl>+<shift>+<f12>``) is watched, not consumed: the game sees it too.

How the two never mix: the recorder's ScreenGame-v0 uses the **dry-run input backend**, so the program sends no
input at all while recording; every event the pynput listener (X RECORD) sees comes from the person. An agent is
never run in the same process or display while recording.

Alignment: each env step lasts 1/30 s. The env's step grabs the frame at the end of the step; the action recorded
for the step is the person's input *during* it, read from the listener when the step ends:

* a key of the action spec down at any time in the step -> ``key`` with the keys that were down;
* else the left button down at the end of the step (or through it) -> ``hold`` at the pointer (where the spec
  has ``hold``);
* else a press and release inside the step -> ``drag`` from the press to the release when the spec has ``drag``
  and the pointer moved more than 2% of the region in between, else ``click`` at the pointer;
* else the pointer moved in the step -> ``move`` (where the spec has it);
* else ``none`` (recorded: no-op steps are part of the demonstration).

Files: the demo format of :mod:`agents.hybrid.demos` (``source: "human"``), one episode per file, written
when the episode ends (the fishing window: when the fish is caught or escapes).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.hybrid.demos import DemoWriter
from agents.hybrid.env_source import EnvArgError, EnvSource, add_env_args, episode_success, source_from_args
from agents.hybrid.layout import HybridLayout
from envs.cli.argtypes import float_above, int_at_least
from envs.screen.inputs import (
    DEFAULT_STOP_HOTKEY,
    _bracketed,
    _canonical,
    _hotkey_parts,
    check_hotkey,
    stop_listener,
)


class InputListener:
    """The person's mouse and keyboard state, from pynput listeners; ``take()`` returns and clears a step's input.

    ``keys`` are the action spec's key names (what is recorded); ``stop_hotkey`` a pynput hotkey string whose keys
    all down at once set :attr:`stop_requested`."""

    def __init__(self, keys: tuple[str, ...], stop_hotkey: str | None = DEFAULT_STOP_HOTKEY):
        from pynput import keyboard, mouse

        self._kb_mod, self._mouse_mod = keyboard, mouse
        self.names = keys
        self._canon = {_canonical(k): k for k in keys}
        self.chord: set[str] = set()
        if stop_hotkey is not None:
            check_hotkey(stop_hotkey, "--stop-hotkey")
            self.chord = {_canonical(_bracketed(p) or p) for p in _hotkey_parts(stop_hotkey, "--stop-hotkey")}
        self.all_down: set[str] = set()
        self.press_pos: tuple[int, int] | None = None
        self.moved = False
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
        if name is None:
            return
        canon = _canonical(name)
        with self.lock:
            self.all_down.add(canon)
            if self.chord and self.chord <= self.all_down:
                self.stop_requested.set()
            ours = self._canon.get(canon)
            if ours is not None:
                self.down.add(ours)
                self.seen_keys.add(ours)

    def _release(self, key: Any, *_: Any) -> None:
        name = self._name(key)
        if name is None:
            return
        canon = _canonical(name)
        with self.lock:
            self.all_down.discard(canon)
            self.down.discard(self._canon.get(canon, name))

    def _click(self, x: int, y: int, button: Any, pressed: bool, *_: Any) -> None:
        if button != self._mouse_mod.Button.left:
            return
        with self.lock:
            self.pos = (x, y)
            self.button = pressed
            if pressed:
                self.pressed_in_step = True
                self.press_pos = (x, y)
            else:
                self.released_in_step = True

    def _move(self, x: int, y: int, *_: Any) -> None:
        with self.lock:
            self.pos = (x, y)
            self.moved = True

    def start(self) -> InputListener:
        self._k.start()
        self._m.start()
        self._k.wait()
        self._m.wait()
        return self

    def stop(self) -> None:
        stop_listener(self._k)
        stop_listener(self._m)

    def take(self) -> dict[str, Any]:
        """The input of the step that just ended; clears the per-step flags."""
        with self.lock:
            out = {"keys": set(self.seen_keys) | set(self.down), "button": self.button,
                   "pressed": self.pressed_in_step, "released": self.released_in_step, "pos": self.pos,
                   "press_pos": self.press_pos, "moved": self.moved}
            self.seen_keys = set(self.down)
            self.pressed_in_step = self.released_in_step = self.moved = False
        return out


def input_to_action(spec: Any, inp: dict[str, Any], region: Any) -> dict[str, Any]:
    """A step's input -> the hybrid action that reproduces it (see the module doc for the precedence)."""
    names = spec.type_names
    size = (region.width, region.height)
    pointer = spec.to_pointer((inp["pos"][0] - region.left, inp["pos"][1] - region.top), size)
    if "key" in names and inp["keys"]:
        return spec.make("key", keys=[1 if k in inp["keys"] else 0 for k in spec.keys])
    if "hold" in names and inp["button"]:
        return spec.make("hold", pointer=pointer)
    if inp["pressed"] and inp["released"]:
        start = inp.get("press_pos") or inp["pos"]
        start_p = spec.to_pointer((start[0] - region.left, start[1] - region.top), size)
        if "drag" in names and float(np.abs(start_p - pointer).max()) > 0.04:
            return spec.make("drag", pointer=start_p, drag_end=pointer)
        if "click" in names:
            return spec.make("click", pointer=pointer)
    if "move" in names and inp.get("moved"):
        return spec.make("move", pointer=pointer)
    return spec.noop()


def spec_seed_dict(spec: Any) -> dict[str, Any]:
    """The seed-style dict of a HybridActionSpec (its keys and its mouse), for the demo header."""
    out: dict[str, Any] = {"keys": list(spec.keys)}
    if spec.mouse_actions:
        out["mouse"] = {"actions": list(spec.mouse_actions),
                        **({"min_pos": list(spec.min_pos)} if spec.min_pos is not None else {}),
                        **({"max_pos": list(spec.max_pos)} if spec.max_pos is not None else {})}
    return out


def make_recording_env(source: EnvSource) -> Any:
    """The env of ``source`` made to record a person: no input of its own (``input="dry-run"``), no stop switch
    (the recorder's listener has the stop chord). An env without an ``action_spec`` is an :class:`EnvArgError`."""
    from envs.screen.screen_env import action_spec_of

    src = EnvSource(source.env_id, {**dict(source.kwargs), "input": "dry-run", "stop_hotkey": None},
                    source.gym_packages, source.frame_stack, source.factory)
    try:
        env = src.make_raw()
    except EnvArgError as e:
        raise EnvArgError(e.option, f"{e} (the recorder passes input='dry-run' and stop_hotkey=None: the env's entry "
                                    "point must accept ScreenGameEnv's keyword arguments)") from None
    if action_spec_of(env) is None:
        env.close()
        raise EnvArgError("--env", f"{source.name}: has no action_spec (a ScreenGame-v0 env's HybridActionSpec): "
                                   "the recorder maps a person's keys and pointer onto it")
    return env


def record(out: str, episodes: int = 10, max_seconds: float = 600.0, env: Any = None,
           source: str = "human", env_source: EnvSource | None = None,
           stop_hotkey: str | None = DEFAULT_STOP_HOTKEY) -> list[str]:
    """Record ``episodes`` episodes of a person playing into ``out``; returns the files written.

    ``env``: a ScreenGameEnv (recorded as it is; its input should be dry-run), else ``env_source`` (any env with an
    ``action_spec``, made by :func:`make_recording_env`), else the fishing window."""
    from envs.screen.screen_env import action_spec_of

    own = env is None
    fishing = env is None and env_source is None
    header: dict[str, Any]
    if fishing:
        from envs.games.fishing_screen import FISHING_ACTIONS, make_fishing_screen_env

        env = make_fishing_screen_env(grayscale=False, input="dry-run", stop_hotkey=None)
    elif env is None:
        env = make_recording_env(env_source)
    spec = action_spec_of(env)
    inner = env.unwrapped
    layout = HybridLayout.from_space(inner.action_space, spec.type_names, spec.params_used)
    header = {"source": source, "controller": "a person at the game window (pynput listener)",
              "type_names": list(spec.type_names), "keys": list(spec.keys), "layout": layout.to_json(),
              "preprocess": repr(inner.preprocess), "frame_stack": inner.frames.depth,
              "step_hz": None if inner.period is None else round(1.0 / inner.period, 6)}
    if fishing:
        header.update(env="ScreenGame-v0 (envs.games.fishing_screen)", action_spec=FISHING_ACTIONS,
                      ticks_per_step=2, step_hz=30)
    else:
        header.update(env=env_source.env_id if env_source is not None else type(inner).__name__,
                      action_spec=spec_seed_dict(spec))
        if env_source is not None:
            header.update(env_kwargs=dict(env_source.kwargs), gym_packages=list(env_source.gym_packages))
    writer = DemoWriter(out, header)
    listener = InputListener(spec.keys, stop_hotkey).start()
    written: list[str] = []
    t_end = time.monotonic() + max_seconds
    try:
        obs, _ = env.reset()
        writer.start(obs)
        listener.take()
        while len(written) < episodes and time.monotonic() < t_end and not listener.stop_requested.is_set():
            region = inner._region()
            nobs, r, term, trunc, info = env.step(spec.noop())  # dry-run: nothing is sent; this paces and grabs
            act = input_to_action(spec, listener.take(), region)
            writer.add(act, r, nobs)
            if term or trunc:
                if fishing:
                    from envs.games.fishing_screen import meter_probe

                    full = meter_probe().value(env.render()) >= 0.999
                    outcome = ("caught" if full else "escaped") if term else "truncated"
                    extra: dict[str, Any] = {}
                else:
                    found = episode_success(info)
                    outcome = ("success" if found[1] else "failure") if found else ("ended" if term else "truncated")
                    extra = {"success": found[1]} if found else {}
                p = writer.end(terminal=term, outcome=outcome, **extra)
                if p is not None:
                    written.append(str(p))
                    print(f"episode {len(written)}: {p.name} ({outcome})", flush=True)
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
    p.add_argument("--stop-hotkey", default=DEFAULT_STOP_HOTKEY,
                   help="the chord that stops the recording (pynput syntax; watched, not consumed)")
    add_env_args(p, default=None, help_extra="; default: the fishing window")
    args = p.parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():  # found now, not after the person has played
        p.error(f"--out: {args.out}: exists and is not a directory")
    try:
        check_hotkey(args.stop_hotkey, "--stop-hotkey")
        env_source = source_from_args(args) if args.env is not None else None
        env = make_recording_env(env_source) if env_source is not None else None
    except EnvArgError as e:
        p.error(f"{e.option}: {e}")
    except ValueError as e:
        p.error(str(e))
    try:
        files = record(args.out, args.episodes, args.max_seconds, env=env, env_source=env_source,
                       stop_hotkey=args.stop_hotkey)
    finally:
        if env is not None:
            env.close()
    print(f"{len(files)} episodes written to {args.out}")



if __name__ == "__main__":
    main()
