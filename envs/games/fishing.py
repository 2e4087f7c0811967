"""The fishing minigame as a playable program: one game of :class:`~envs.stardew.sim.FishingSim`
drawn by :class:`~envs.stardew.render.MinigameRenderer`, at the game's 60 ticks per second.

Two uses, the same game code and the same picture:

* :class:`FishingGame`, offscreen: ``tick(pressed)`` advances one 60 Hz tick, ``frame()`` renders the
  current state to an RGB array. The hybrid agent trains on it as fast as the CPU allows.
* ``python -m envs.games.fishing``: a pygame window (title ``"Stardew fishing"``, X11 class
  ``stardew-fishing``) that a person or ScreenGame-v0 plays. Hold the left mouse button, ``C`` (the
  game's use-tool button) or space to reel the bar up; release to let it fall. After a catch or an
  escape the final picture stays for a short pause (``pause_ticks``), then the next fish bites.
  ``--state-file PATH`` appends one JSON line per tick with the game's state and the input events the
  window received during that tick, so another process (the tests, the benchmark) reads back what
  the game did.

Beside the game's own picture the window draws one addition, the *reel button lamp*: a small square
under the reel that is lit while the button is held (:data:`LAMP_RECT`, colours :data:`LAMP_ON` /
:data:`LAMP_OFF`). It shows a player that their input arrived and lets the benchmark time input to
pixels. It is in ``frame()`` too, so offscreen frames and window frames are the same picture.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from envs.cli.argtypes import float_above, int_at_least, int_between, output_file
from envs.stardew import rules as R
from envs.stardew.render import HEIGHT, METER_W, METER_X, TRACK_Y, WIDTH, ArrayRenderer, MinigameRenderer
from envs.stardew.sim import FishingSim, GameConfig

TITLE = "Stardew fishing"
WM_CLASS = "stardew-fishing"
TICKS_PER_SECOND = 60
# the reel button lamp: (x, y, w, h) in window pixels, lit while the reel button is held
LAMP_RECT = (METER_X + METER_W // 2 + 22, TRACK_Y + 536, 16, 8)
LAMP_ON = (255, 255, 255)
LAMP_OFF = (70, 40, 20)
REEL_KEYS = ("c", "space")

__all__ = ["FishingGame", "TITLE", "WM_CLASS", "LAMP_RECT", "LAMP_ON", "LAMP_OFF", "WIDTH", "HEIGHT", "main"]


class FishingGame:
    """One fishing minigame after another, ticked by the caller at 60 Hz.

    Parameters
    ----------
    config:
        Which fish and tackle (:class:`~envs.stardew.sim.GameConfig`). ``frame_skip`` is forced to 1:
        one :meth:`tick` is one game tick.
    seed:
        Seeds the game's episode stream (None: random).
    pause_ticks:
        Ticks the final picture of a caught or escaped fish stays before the next minigame starts
        (default 45, 0.75 s). During the pause input is ignored.
    renderer:
        A renderer to draw on (the window passes its own); by default an offscreen one.
    """

    def __init__(self, config: GameConfig | None = None, seed: int | None = None, pause_ticks: int = 45,
                 renderer: MinigameRenderer | None = None):
        config = dataclasses.replace(config or GameConfig(), frame_skip=1)
        self.config = config
        self.pause_ticks = int(pause_ticks)
        self.sim = FishingSim(1, config)
        self.renderer = renderer
        self.reset(seed)

    def __getstate__(self) -> dict:
        # copy.deepcopy / pickle (FishingPixels-v0 holds a game): the simulator copies itself and an offscreen
        # renderer, which holds pygame, is made again on the next frame; a window cannot be copied
        if self.renderer is not None and self.renderer.window:
            raise TypeError("FishingGame: a game drawn on a window cannot be copied or pickled; copy an offscreen one")
        return {**self.__dict__, "renderer": None}

    # -- game ----------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Start a new minigame (and zero the counters); ``seed`` reseeds the episode stream."""
        if seed is not None:
            self.sim.reset(seeds=[int(seed)])
        else:
            self.sim.reset(seeds=[int(np.random.default_rng().integers(0, 2**62))])
        self.caught_total = 0
        self.escaped_total = 0
        self.episodes = 0  # minigames finished (caught, escaped or truncated)
        self.ticks = 0  # ticks since reset, pauses included
        self.pause_left = 0
        self.pressed = False
        self.last_outcome: str | None = None  # "caught" | "escaped" | "truncated" of the last finished game
        self.last_perfect = False
        self.last_fish: str | None = None
        self.last_ticks = 0

    def new_minigame(self) -> None:
        """Abandon the minigame in progress (or the pause after one) and start the next fish of the stream now;
        the abandoned one is not counted in :attr:`episodes`."""
        self.pause_left = 0
        self.sim.reset()

    def tick(self, pressed: bool) -> None:
        """Advance one 60 Hz tick with the reel button ``pressed`` (held) or not."""
        self.ticks += 1
        self.pressed = bool(pressed)
        if self.pause_left > 0:
            self.pause_left -= 1
            if self.pause_left == 0:
                self.sim.reset()  # the next fish, from the same stream
            return
        sim = self.sim
        sim.step(np.array([1 if pressed else 0], dtype=np.int64), autoreset=False)
        if sim.terminated[0] or sim.truncated[0]:
            st = sim.state_dict(0)
            self.episodes += 1
            self.last_outcome = "caught" if st["caught"] else "escaped" if st["escaped"] else "truncated"
            self.caught_total += int(st["caught"])
            self.escaped_total += int(st["escaped"])
            self.last_perfect = bool(st["perfect"]) and st["caught"]
            self.last_fish = st["fish"]
            self.last_ticks = int(st["tick"])
            self.pause_left = max(1, self.pause_ticks)

    @property
    def paused(self) -> bool:
        """True between a finished minigame and the next one."""
        return self.pause_left > 0

    @property
    def state(self) -> dict:
        """The game's raw values (``sim.state_dict``) plus counters and the last outcome."""
        st = self.sim.state_dict(0)
        st.update(caught_total=self.caught_total, escaped_total=self.escaped_total, episodes=self.episodes,
                  ticks=self.ticks, paused=self.paused, pressed=self.pressed, last_outcome=self.last_outcome,
                  last_perfect=self.last_perfect, last_fish=self.last_fish, last_ticks=self.last_ticks)
        return st

    # -- picture -------------------------------------------------------------------------------------
    def _values(self) -> dict:
        """What the picture shows: :meth:`~envs.stardew.render.MinigameRenderer.draw_values`'s arguments."""
        fv, iv = self.sim.F[0], self.sim.I[0]
        visible = iv[R.I_TREASURE] != 0 and fv[R.F_TREASURE_TIMER] <= 0 and fv[R.F_TREASURE_SCALE] > 0
        return dict(
            bar_pos=float(fv[R.F_BAR_POS]), bar_height=int(iv[R.I_HEIGHT]), fish_pos=float(fv[R.F_FISH_POS]),
            progress=float(fv[R.F_PROGRESS]), treasure_pos=float(fv[R.F_TREASURE_POS]) if visible else None,
            treasure_level=float(fv[R.F_TREASURE_LEVEL]), in_bar=bool(iv[R.I_IN_BAR]), tick=int(iv[R.I_TICK]))

    def _draw(self):
        if self.renderer is None:
            self.renderer = MinigameRenderer(window=False)
        surf = self.renderer.draw_values(**self._values())
        surf.fill(LAMP_ON if self.pressed else LAMP_OFF, LAMP_RECT)
        return surf

    def frame(self, out: np.ndarray | None = None) -> np.ndarray:
        """The current picture, RGB (600, 168, 3) uint8, exactly what the window shows: drawn into an array by
        :class:`~envs.stardew.render.ArrayRenderer`, bit for bit the window's pygame picture (``out``: an array
        to draw into)."""
        global _ARRAY_RENDERER
        if _ARRAY_RENDERER is None:  # one for every game: what it holds (the still parts, the sprites) is shared
            _ARRAY_RENDERER = ArrayRenderer()
        return _ARRAY_RENDERER.draw_values(**self._values(), lamp=(LAMP_RECT, LAMP_ON if self.pressed else LAMP_OFF),
                                           out=out)


_ARRAY_RENDERER: ArrayRenderer | None = None


# -- the window --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m envs.games.fishing", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int_between(0, 2**64 - 1), default=None, help="seed of the fish stream (0..2**64-1)")
    p.add_argument("--fish", default=None, help="a fish name or id (default: the game's pool)")
    p.add_argument("--level", type=int_between(0, 20), default=None,
                   help="fishing level 0..20 (default: 0..10 at random)")
    p.add_argument("--pause", type=int_at_least(1), default=45,
                   help="ticks (>= 1) the final picture stays before the next fish (default 45)")
    p.add_argument("--state-file", type=output_file, default=None,
                   help="append one JSON line per tick (state + input events)")
    p.add_argument("--max-seconds", type=float_above(0.0), default=None, help="quit after this long (s, > 0)")
    p.add_argument("--fps", type=int_at_least(1), default=TICKS_PER_SECOND,
                   help=f"frames (ticks) per second, >= 1 (default {TICKS_PER_SECOND})")
    args = p.parse_args(argv)
    kw = {}
    if args.fish is not None:
        kw["fish"] = int(args.fish) if args.fish.isdecimal() else args.fish
    if args.level is not None:
        kw["level"] = args.level
    config = GameConfig(**kw)
    try:  # the game's options are checked before the window opens, as usage errors
        config.compile()
    except ValueError as e:  # e.g. "fish: no fish 'nosuch' ..."
        p.error(str(e))

    # opened before the window (appending: nothing in it is lost), so a file that cannot be written is a usage error
    try:
        out = open(args.state_file, "a", buffering=1) if args.state_file else None  # noqa: SIM115
    except OSError as e:
        p.error(f"argument --state-file: cannot write {args.state_file!r} ({e.strerror or e})")

    os.environ.setdefault("SDL_VIDEO_X11_WMCLASS", WM_CLASS)
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        renderer = MinigameRenderer(window=True, fps=args.fps, title=TITLE)
    except BaseException:
        if out is not None:
            out.close()
        raise
    import pygame as pg

    game = FishingGame(config, seed=args.seed, pause_ticks=args.pause, renderer=renderer)
    mouse_down = False
    keys_down: set[str] = set()
    t_end = None if args.max_seconds is None else time.monotonic() + args.max_seconds
    running = True
    try:
        while running:
            events = []
            for ev in pg.event.get():
                if ev.type == pg.QUIT:
                    running = False
                elif ev.type in (pg.MOUSEBUTTONDOWN, pg.MOUSEBUTTONUP):
                    kind = "mousedown" if ev.type == pg.MOUSEBUTTONDOWN else "mouseup"
                    events.append({"type": kind, "button": ev.button, "pos": list(ev.pos)})
                    if ev.button == 1:
                        mouse_down = ev.type == pg.MOUSEBUTTONDOWN
                elif ev.type == pg.MOUSEMOTION:
                    events.append({"type": "motion", "pos": list(ev.pos), "buttons": list(ev.buttons)})
                elif ev.type in (pg.KEYDOWN, pg.KEYUP):
                    name = pg.key.name(ev.key)
                    kind = "keydown" if ev.type == pg.KEYDOWN else "keyup"
                    events.append({"type": kind, "key": name, "mod": int(ev.mod)})
                    (keys_down.add if kind == "keydown" else keys_down.discard)(name)
            pressed = mouse_down or any(k in keys_down for k in REEL_KEYS)
            game.tick(pressed)
            game._draw()
            if out is not None:  # written before the flip: the state is never behind the picture
                st = game.state
                st["t"] = time.monotonic()
                st["events"] = events
                st["keys_down"] = sorted(keys_down)
                st["mouse_down"] = mouse_down
                out.write(json.dumps(st) + "\n")
            renderer.show()  # flips, then sleeps to keep 60 Hz
            if t_end is not None and time.monotonic() > t_end:
                running = False
    except KeyboardInterrupt:
        pass
    finally:
        if out is not None:
            out.close()
        renderer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
