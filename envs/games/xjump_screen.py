"""XJumpScreen-v0: Debian's ``xjump`` ("Falling Tower", Tatsuya Kudoh and Masato Taruishi) through ScreenGame-v0.

A second real game, written by nobody here, played the way any game on the screen is: frames grabbed from its
X11 window, keys sent through XTEST, the reward read from its pixels. ``apt-get install xjump`` (86 KB) brings it;
``python -m envs.games.xjump_screen --seconds 30`` starts it on ``$DISPLAY`` and plays it with the scripted
controller.

The tower sinks; the player (left / right arrow to run, up arrow to jump) must jump to higher floors before the
one under them sinks off the bottom. The game's score is the floor reached, drawn as a 10-digit counter above
the tower; a fall ends the game with a "Game Over" label, and the space bar then shows the high scores and, pressed
again, starts a new game.

## Action Space

Key-only, from the seed-style dict :data:`XJUMP_ACTIONS` (``{"keys": ["left", "right", "up"]}``): ScreenGame's
``Dict(type=Discrete(2), pointer, drag_end, keys=MultiBinary(3))``, types ``none`` and ``key``; a ``key`` action
holds the keys set to 1 for the step (``{"type": 1, "keys": [0, 1, 1]}``: run right and jump).

## Observation Space

``Box(0, 255, (4, 84, 84), uint8)``: the window cropped to the counter and the tower (``crop`` :data:`CROP`,
relative to the window: no title, no borders), grayscale 84x84, 4 frames.

## Rewards

:class:`FloorReward`: +1 for every floor the counter gains in a step (the game's own score, read from its digits).

## Episode End

| Condition   | When                                                                                   |
|-------------|----------------------------------------------------------------------------------------|
| terminated  | the "Game Over" label is up, or the high-score screen shows (:func:`game_state`)        |
| truncated   | ``max_episode_steps`` (an argument of ``gym.make``)                                     |

``reset`` runs :func:`reset_hook`: through the env's public input API it presses space until a new game starts
(waiting for a game in progress to end first), so each episode is one game from floor 1. With dry-run input (a
person being recorded) it sends nothing, and the reset waits up to ``reset_timeout_s`` (30 s) for the person to
start the next game.

## Arguments

``make_xjump_env(**kwargs)``: any ScreenGameEnv argument overrides the defaults (``window_class="xjump"``,
``crop=CROP``, ``step_hz=15``, ``reward=FloorReward()``, ``reset_hook=reset_hook``, ``render_mode="rgb_array"``).

## Reading the counter

The game draws its counter in the X server's ``fixed`` font (6x13). :class:`DigitReader` renders the digits
0-9 in that font with python-xlib on the same display and matches the counter's ten 6-pixel cells against them;
an unreadable counter reads as None (and gives no reward).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from typing import Any

import numpy as np

from envs.screen.actions import HybridActionSpec
from envs.screen.screen_env import ScreenGameEnv

WM_CLASS = "xjump"
XJUMP_ACTIONS = {"keys": ["left", "right", "up"]}
# (left, top, width, height) inside the xjump window: the floor counter and the tower, not the title or borders
CROP = (16, 60, 512, 446)
# in the cropped frame: the counter's label, the "Game Over" label, the tower
SCORE_RECT = (182, 13, 68, 17)
GAME_OVER_RECT = (184, 142, 62, 17)
TOWER_RECT = (0, 62, 512, 384)
GAME_OVER_RGB = (0, 0, 128)  # the label's shadow colour, drawn nowhere else
FLOOR_RGB = (255, 0, 0)
PLAYER_RGB = ((0, 255, 0), (255, 231, 199))  # trousers and face


def xjump_path() -> str | None:
    """The xjump binary (Debian installs it in /usr/games), or None."""
    return shutil.which("xjump") or (("/usr/games/xjump") if os.path.exists("/usr/games/xjump") else None)


def _rect(frame: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = rect
    return frame[y:y + h, x:x + w, :3]


def _is(colour_block: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return (colour_block == np.array(rgb, np.uint8)).all(axis=-1)


def game_state(frame: np.ndarray) -> str:
    """``"playing"``, ``"over"`` (the Game Over label) or ``"scores"`` (the high-score screen: a black tower)."""
    if _is(_rect(frame, GAME_OVER_RECT), GAME_OVER_RGB).mean() > 0.15:
        return "over"
    tower = _rect(frame, TOWER_RECT)
    if (tower.max(axis=-1) == 0).mean() > 0.9:
        return "scores"
    return "playing"


class DigitReader:
    """Reads the 10-digit floor counter: each 6-pixel cell matched against the digits of the X server's ``fixed``
    font, rendered with python-xlib on ``display`` (the font the game draws with)."""

    def __init__(self, display: str | None = None):
        from Xlib import X
        from Xlib import display as xdisplay

        d = xdisplay.Display(display)
        try:
            s = d.screen()
            font = d.open_font("fixed")
            q = font.query()
            w, h = 60, q.font_ascent + q.font_descent
            pm = s.root.create_pixmap(w, h, s.root_depth)
            gc = pm.create_gc(foreground=s.black_pixel, background=s.black_pixel)
            pm.fill_rectangle(gc, 0, 0, w, h)
            gc.change(foreground=s.white_pixel, font=font)
            pm.draw_text(gc, 0, q.font_ascent, b"0123456789")
            img = pm.get_image(0, 0, w, h, X.ZPixmap, 0xFFFFFFFF)
            bits = np.frombuffer(img.data, np.uint8).reshape(h, -1, 4)[:, :w, :3].max(axis=2) > 128
            pm.free()
            font.close()
        finally:
            d.close()
        rows = np.nonzero(bits.any(axis=1))[0]
        self.top, self.height = int(rows[0]), int(rows[-1] - rows[0] + 1)
        self.templates = np.stack([bits[rows[0]:rows[-1] + 1, 6 * i:6 * i + 6] for i in range(10)])

    def read(self, frame: np.ndarray) -> int | None:
        """The counter's value in an RGB frame of the cropped window, or None when it cannot be read."""
        lit = _rect(frame, SCORE_RECT).min(axis=-1) > 200
        ys, xs = np.nonzero(lit)
        if len(xs) == 0:
            return None
        top, left = int(ys.min()), int(xs.min())
        value = 0
        for i in range(10):
            cell = lit[top:top + self.height, left + 6 * i:left + 6 * i + 6]
            if cell.shape != self.templates.shape[1:]:
                return None
            dist = (self.templates != cell[None]).sum(axis=(1, 2))
            best = int(np.argmin(dist))
            if dist[best] > 2:
                return None
            value = value * 10 + best
        return value


class FloorReward:
    """The seed's reward interface over the game's own score: +1 per floor the counter gains; the episode ends
    when the game does (:func:`game_state` not ``"playing"``)."""

    def __init__(self) -> None:
        self.reader: DigitReader | None = None
        self.floor: int | None = None

    def reset(self) -> None:
        self.floor = None

    def _read(self, frame: np.ndarray) -> int | None:
        if self.reader is None:
            self.reader = DigitReader()
        return self.reader.read(frame)

    def calculate_reward(self, current_frame: np.ndarray, previous_frames: list, action: Any) -> float:
        value = self._read(current_frame)
        if value is None:
            return 0.0
        if self.floor is None:
            self.floor = self._read(previous_frames[-1]) if previous_frames else value
            self.floor = value if self.floor is None else self.floor
        gained = max(0, value - self.floor)
        self.floor = max(self.floor, value)
        return float(gained)

    def is_terminated(self, current_frame: np.ndarray, previous_frames: list) -> bool:
        return game_state(current_frame) != "playing"


def reset_hook(env: ScreenGameEnv, timeout_s: float = 30.0) -> None:
    """Start a new game: wait for a game in progress to end, then press space until one begins at floor 1.
    With dry-run input (a recording) it sends nothing: the person starts the next game."""
    if env.dry_run:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = game_state(env.grab_frame())
        if state == "playing":
            if _fresh(env):  # a game at floor 1 (a game that has not climbed yet counts as new)
                return
            env.wait_until(lambda f: game_state(f) != "playing", timeout_s=max(0.1, deadline - time.monotonic()))
            continue
        env.tap_key("space")
        env.wait_until(lambda f, s=state: game_state(f) != s, timeout_s=5.0)
    raise TimeoutError(f"xjump: no new game within {timeout_s} s")


def _fresh(env: ScreenGameEnv) -> bool:
    """A game at floor 1 (just begun)."""
    reader = env.reward_fn.reader if isinstance(env.reward_fn, FloorReward) and env.reward_fn.reader else None
    reader = reader or DigitReader()
    return reader.read(env.grab_frame()) == 1


def make_xjump_env(**kwargs: Any) -> ScreenGameEnv:
    """ScreenGame-v0 on the xjump window (see the module doc); ``kwargs`` override the defaults."""
    opts: dict[str, Any] = dict(action_space=XJUMP_ACTIONS, window_class=WM_CLASS, crop=CROP, step_hz=15.0,
                                reward=FloorReward(), reset_hook=reset_hook, reset_timeout_s=30.0,
                                render_mode="rgb_array")
    opts.update(kwargs)
    return ScreenGameEnv(**opts)


def _player_mask(tower: np.ndarray) -> np.ndarray:
    return _is(tower, PLAYER_RGB[0]) | _is(tower, PLAYER_RGB[1])


def _player(frame: np.ndarray) -> tuple[float, float] | None:
    ys, xs = np.nonzero(_player_mask(_rect(frame, TOWER_RECT)))
    if len(xs) < 5:
        return None
    return float(xs.mean()), float(ys.max())


def _floors(frame: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, left, right) of each floor segment in the tower: runs of red blocks (5-pixel gaps between blocks), side by
    side floors apart, the player's own red (drawn between its green and skin pixels) left out."""
    tower = _rect(frame, TOWER_RECT)
    red = _is(tower, FLOOR_RGB)
    ys, xs = np.nonzero(_player_mask(tower))
    if len(xs):
        red[max(0, ys.min() - 4):ys.max() + 5, max(0, xs.min() - 4):xs.max() + 5] = False
    rows = np.nonzero(red.sum(axis=1) >= 8)[0]
    out: list[tuple[int, int, int]] = []
    for band in np.split(rows, np.nonzero(np.diff(rows) != 1)[0] + 1) if len(rows) else []:
        cols = np.flatnonzero(red[band[0]:band[-1] + 1].any(axis=0))
        for run in np.split(cols, np.nonzero(np.diff(cols) > 8)[0] + 1):
            if len(run) and run[-1] - run[0] >= 8:
                out.append((int(band[0]), int(run[0]), int(run[-1])))
    return out


def scripted_action(spec: HybridActionSpec, frame: np.ndarray) -> dict:
    """Run under the nearest floor above the player and jump onto it (read from pixels)."""
    p = _player(frame)
    if p is None:
        return spec.noop()
    px, feet = p
    above = [f for f in _floors(frame) if f[0] < feet - 12]
    if not above:
        return spec.make("key", keys=["up"])
    row, left, right = max(above, key=lambda f: f[0])  # the lowest floor above: the next one to reach
    if px < left + 12:
        keys = ["right"]
    elif px > right - 12:
        keys = ["left"]
    else:
        keys = []
    return spec.make("key", keys=[*keys, "up"])


class XJumpWindow:
    """Runs ``xjump`` on ``display``; stops it on exit. For tests and the demo below."""

    def __init__(self, display: str | None = None, timeout_s: float = 10.0):
        self.display = display or os.environ.get("DISPLAY")
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None

    def start(self) -> XJumpWindow:
        path = xjump_path()
        if path is None:
            raise FileNotFoundError("xjump is not installed (apt-get install xjump; make system-deps)")
        env = {**os.environ, "DISPLAY": self.display}
        self.proc = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from envs.screen.capture import WindowNotFound, X11Windows

        w = X11Windows(self.display)
        try:
            deadline = time.monotonic() + self.timeout_s
            while True:
                try:
                    wid = w.find(WM_CLASS)
                    break
                except WindowNotFound:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        self.stop()
                        raise
                    time.sleep(0.05)
            w.focus(wid)
        finally:
            w.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> XJumpWindow:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def play(policy: str, episodes: int, env: ScreenGameEnv | None = None, max_steps: int = 600,
         seed: int = 0) -> list[int]:
    """Play ``episodes`` games with the ``scripted`` or a ``random`` controller; the floor each game reached
    (the game's own score, read from its counter)."""
    own = env is None
    env = env or make_xjump_env(max_episode_steps=max_steps)
    spec = env.action_spec
    rng = np.random.default_rng(seed)
    floors = []
    try:
        for _ in range(episodes):
            env.reset()
            while True:
                if policy == "scripted":
                    a = scripted_action(spec, env.render())
                else:
                    t = int(rng.integers(0, 2))
                    a = spec.make("key", keys=rng.integers(0, 2, 3).tolist()) if t else spec.noop()
                _, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    break
            floors.append(int(env.reward_fn.floor or 1))
    finally:
        if own:
            env.close()
    return floors


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m envs.games.xjump_screen", description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", choices=["scripted", "random"], default="scripted")
    p.add_argument("--episodes", type=int, default=3)
    args = p.parse_args(argv)
    with XJumpWindow():
        print(json.dumps({"policy": args.policy, "floors": play(args.policy, args.episodes)}))


if __name__ == "__main__":
    main()
