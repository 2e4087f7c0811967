"""A pygame picture of the fishing minigame that reads like the game's: the water track with the green
bar and the fish, the catch meter beside it, the reel and the treasure chest.

The layout is in the game's own track pixels (the bar's track is 568 px tall), so a pixel row of the
picture is a game position: screen code can read positions back from frames. Used by
``render_mode``, the playable game window and the offscreen frames of the screen agent.
"""

from __future__ import annotations

import os

import numpy as np

from envs.optional import import_optional
from envs.stardew import rules as R

# layout (pixels); y of a track position p is TRACK_Y + p
WIDTH, HEIGHT = 168, 600
TRACK_X, TRACK_Y, TRACK_W = 36, 16, 40
METER_X, METER_W = 100, 14
FISH_OFFSET = 30  # the fish counts as in the bar when its centre, pos + 30, is inside it (+-14 px)

# colours (RGB); distinct, so pixel probes can find each element
FRAME = (142, 86, 44)
FRAME_DARK = (96, 52, 26)
WATER = (38, 86, 156)
WATER_DEEP = (26, 62, 120)
BAR = (94, 220, 54)
BAR_EDGE = (40, 150, 30)
FISH = (250, 150, 40)
FISH_EYE = (20, 20, 20)
METER_BG = (60, 40, 24)
CHEST = (200, 120, 30)
CHEST_LID = (250, 210, 60)


def meter_colour(progress: float) -> tuple[int, int, int]:
    """The game's catch meter runs from red (empty) through orange/yellow to green (full)."""
    p = min(1.0, max(0.0, progress))
    if p < 0.5:
        return (230, int(60 + 300 * p), 40)
    return (int(230 - 400 * (p - 0.5)), 210, 40)


class MinigameRenderer:
    """Draws one game of a :class:`~envs.stardew.sim.FishingSim` (or raw values) with pygame."""

    def __init__(self, window: bool = False, fps: int = 60, title: str = "Stardew fishing"):
        if not window:
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        pygame = import_optional("pygame", "Drawing the fishing minigame (render_mode 'human' or 'rgb_array')")

        self._pg = pygame
        pygame.display.init() if window else None
        self.window = window
        self.fps = fps
        self.surface = pygame.Surface((WIDTH, HEIGHT))
        self._screen = None
        self._clock = None
        if window:
            self._screen = pygame.display.set_mode((WIDTH, HEIGHT))
            pygame.display.set_caption(title)
            self._clock = pygame.time.Clock()

    def draw_track(self) -> None:
        """The frame and the water, which every picture starts from."""
        pg, s = self._pg, self.surface
        s.fill(FRAME)
        pg.draw.rect(s, FRAME_DARK, (TRACK_X - 6, TRACK_Y - 6, TRACK_W + 12, 568 + 12), border_radius=4)
        pg.draw.rect(s, WATER, (TRACK_X, TRACK_Y, TRACK_W, 568))
        pg.draw.rect(s, WATER_DEEP, (TRACK_X, TRACK_Y + 400, TRACK_W, 168))

    def draw_values(self, bar_pos: float, bar_height: int, fish_pos: float, progress: float,
                    treasure_pos: float | None = None, treasure_level: float = 0.0, in_bar: bool = False,
                    tick: int = 0) -> pygame.Surface:  # noqa: F821
        pg = self._pg
        s = self.surface
        self.draw_track()
        # the green bar
        y = TRACK_Y + int(round(bar_pos))
        pg.draw.rect(s, BAR, (TRACK_X + 2, y, TRACK_W - 4, int(bar_height)))
        pg.draw.rect(s, BAR_EDGE, (TRACK_X + 2, y, TRACK_W - 4, int(bar_height)), width=2)
        # the treasure chest and its catch ring
        if treasure_pos is not None:
            ty = TRACK_Y + int(round(treasure_pos)) + FISH_OFFSET
            pg.draw.rect(s, CHEST, (TRACK_X + 12, ty - 8, 16, 14))
            pg.draw.rect(s, CHEST_LID, (TRACK_X + 12, ty - 8, 16, 4))
            if treasure_level > 0:
                pg.draw.rect(s, BAR, (TRACK_X + 10, ty + 8, int(20 * min(1.0, treasure_level)), 3))
        # the fish
        fy = TRACK_Y + int(round(fish_pos)) + FISH_OFFSET
        cx = TRACK_X + TRACK_W // 2
        pg.draw.ellipse(s, FISH, (cx - 11, fy - 7, 22, 14))
        pg.draw.polygon(s, FISH, [(cx + 8, fy), (cx + 15, fy - 7), (cx + 15, fy + 7)])
        pg.draw.circle(s, FISH_EYE, (cx - 5, fy - 2), 2)
        # the catch meter
        pg.draw.rect(s, METER_BG, (METER_X, TRACK_Y, METER_W, 568))
        fill = int(round(568 * min(1.0, max(0.0, progress))))
        if fill > 0:
            pg.draw.rect(s, meter_colour(progress), (METER_X, TRACK_Y + 568 - fill, METER_W, fill))
        # the reel spins while the fish is in the bar
        angle = (tick * (0.4 if in_bar else -0.1)) % (2 * np.pi)
        rc = (METER_X + METER_W // 2 + 30, TRACK_Y + 560)
        pg.draw.circle(s, FRAME_DARK, rc, 12)
        pg.draw.line(s, CHEST_LID, rc, (rc[0] + int(10 * np.cos(angle)), rc[1] + int(10 * np.sin(angle))), 3)
        return s

    def draw(self, sim, g: int = 0) -> np.ndarray | None:
        """Draw game g of ``sim``; returns an (HEIGHT, WIDTH, 3) uint8 array, or None when showing a window."""
        F, I = sim.F[g], sim.I[g]
        visible = I[R.I_TREASURE] != 0 and F[R.F_TREASURE_TIMER] <= 0 and F[R.F_TREASURE_SCALE] > 0
        self.draw_values(
            bar_pos=float(F[R.F_BAR_POS]),
            bar_height=int(I[R.I_HEIGHT]),
            fish_pos=float(F[R.F_FISH_POS]),
            progress=float(F[R.F_PROGRESS]),
            treasure_pos=float(F[R.F_TREASURE_POS]) if visible else None,
            treasure_level=float(F[R.F_TREASURE_LEVEL]),
            in_bar=bool(I[R.I_IN_BAR]),
            tick=int(I[R.I_TICK]),
        )
        if self.window:
            self.show()
            return None
        return self.rgb_array()

    def rgb_array(self) -> np.ndarray:
        return np.transpose(self._pg.surfarray.array3d(self.surface), (1, 0, 2)).copy()

    def show(self) -> None:
        pg = self._pg
        pg.event.pump()
        self._screen.blit(self.surface, (0, 0))
        pg.display.flip()
        self._clock.tick(self.fps)

    def close(self) -> None:
        if self.window:
            self._pg.display.quit()


class ArrayRenderer:
    """:meth:`MinigameRenderer.draw_values`'s picture drawn into a NumPy array, bit for bit (tested against it).

    Offscreen frames (FishingPixels-v0, the pixel agent's training) need no surface: what never moves (the frame,
    the water, the meter's background, the reel) is drawn once with pygame and copied; the rectangles (bar, chest,
    meter) are array slices; the shapes pygame rasterises (the fish, the reel's hand at each of its angles) are
    drawn once with pygame and stamped where they go. ``lamp`` (``(rect, colour)``) fills one more rectangle last,
    as :meth:`envs.games.fishing.FishingGame.frame` draws its reel lamp.
    """

    def __init__(self) -> None:
        pg_renderer = MinigameRenderer(window=False)
        self._pg = pg_renderer._pg
        s = pg_renderer.surface
        pg = self._pg
        # the parts of draw_values that do not move; none overlaps a moving part drawn before it there (the track's
        # bar, chest and fish lie left of the meter and the reel), so drawing them first changes no pixel
        pg_renderer.draw_track()
        pg.draw.rect(s, METER_BG, (METER_X, TRACK_Y, METER_W, 568))
        self.reel_centre = (METER_X + METER_W // 2 + 30, TRACK_Y + 560)
        pg.draw.circle(s, FRAME_DARK, self.reel_centre, 12)
        self.background = pg_renderer.rgb_array()
        cx = TRACK_X + TRACK_W // 2
        fy = HEIGHT // 2
        self.fish = self._sprite(lambda t: (pg.draw.ellipse(t, FISH, (cx - 11, fy - 7, 22, 14)),
                                            pg.draw.polygon(t, FISH, [(cx + 8, fy), (cx + 15, fy - 7),
                                                                      (cx + 15, fy + 7)]),
                                            pg.draw.circle(t, FISH_EYE, (cx - 5, fy - 2), 2)), origin_y=fy)
        self._hands: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _sprite(self, draw, origin_y: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows relative to ``origin_y``, columns, RGB) of the pixels ``draw`` paints: drawn on black and on white,
        a painted pixel is the same in both."""
        pictures = []
        for bg in ((0, 0, 0), (255, 255, 255)):
            t = self._pg.Surface((WIDTH, HEIGHT))
            t.fill(bg)
            draw(t)
            pictures.append(np.transpose(self._pg.surfarray.array3d(t), (1, 0, 2)))
        ys, xs = np.nonzero((pictures[0] == pictures[1]).all(-1))
        return ys - origin_y, xs, pictures[0][ys, xs]

    @staticmethod
    def _stamp(out: np.ndarray, sprite: tuple[np.ndarray, np.ndarray, np.ndarray], y: int) -> None:
        dy, xs, rgb = sprite
        ys = dy + y
        inside = (ys >= 0) & (ys < HEIGHT)
        out[ys[inside], xs[inside]] = rgb[inside]

    @staticmethod
    def _rect(out: np.ndarray, colour: tuple[int, int, int], x: int, y: int, w: int, h: int) -> None:
        if w > 0 and h > 0:  # pygame clips at the picture's edges and draws nothing for an empty rectangle
            out[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = colour

    def draw_values(self, bar_pos: float, bar_height: int, fish_pos: float, progress: float,
                    treasure_pos: float | None = None, treasure_level: float = 0.0, in_bar: bool = False,
                    tick: int = 0, lamp: tuple[tuple[int, int, int, int], tuple[int, int, int]] | None = None,
                    out: np.ndarray | None = None) -> np.ndarray:
        """The picture as an (HEIGHT, WIDTH, 3) uint8 array (written into ``out`` when given)."""
        if out is None:
            out = np.empty_like(self.background)
        np.copyto(out, self.background)
        y = TRACK_Y + int(round(bar_pos))
        h = int(bar_height)
        self._rect(out, BAR, TRACK_X + 2, y, TRACK_W - 4, h)
        for bx, by, bw, bh in ((TRACK_X + 2, y, TRACK_W - 4, 2), (TRACK_X + 2, y + h - 2, TRACK_W - 4, 2),
                               (TRACK_X + 2, y, 2, h), (TRACK_X + TRACK_W - 4, y, 2, h)):  # the 2-pixel edge
            self._rect(out, BAR_EDGE, bx, by, bw, bh)
        if treasure_pos is not None:
            ty = TRACK_Y + int(round(treasure_pos)) + FISH_OFFSET
            self._rect(out, CHEST, TRACK_X + 12, ty - 8, 16, 14)
            self._rect(out, CHEST_LID, TRACK_X + 12, ty - 8, 16, 4)
            if treasure_level > 0:
                self._rect(out, BAR, TRACK_X + 10, ty + 8, int(20 * min(1.0, treasure_level)), 3)
        self._stamp(out, self.fish, TRACK_Y + int(round(fish_pos)) + FISH_OFFSET)
        fill = int(round(568 * min(1.0, max(0.0, progress))))
        if fill > 0:
            self._rect(out, meter_colour(progress), METER_X, TRACK_Y + 568 - fill, METER_W, fill)
        angle = (tick * (0.4 if in_bar else -0.1)) % (2 * np.pi)
        end = (int(10 * np.cos(angle)), int(10 * np.sin(angle)))
        hand = self._hands.get(end)
        if hand is None:
            rc = self.reel_centre
            hand = self._hands[end] = self._sprite(
                lambda t: self._pg.draw.line(t, CHEST_LID, rc, (rc[0] + end[0], rc[1] + end[1]), 3))
        self._stamp(out, hand, 0)
        if lamp is not None:
            (x, y, w, h), colour = lamp
            self._rect(out, colour, x, y, w, h)
        return out
