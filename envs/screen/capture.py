"""Where ScreenGame-v0's frames come from.

* :class:`MssCapture`: a screen rectangle grabbed with mss (XShm on X11, about 0.1 ms for 640x480), either
  a fixed region of the screen or an X11 window found by class or title, whose region follows the
  window when it moves (its position is re-read with python-xlib before each grab, ~0.1 ms).
* :class:`ReplayCapture`: frames from memory or a file (``.npz`` / ``.npy``), looped; for tests and
  for replaying a recording without a display.

Every capture returns ``(H, W, 4)`` BGRA or ``(H, W, 3)`` RGB uint8 and says which in :attr:`order`.
mss and python-xlib are imported when an :class:`MssCapture` is created, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Region:
    """A screen rectangle in absolute screen pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def as_mss(self) -> dict:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


class WindowNotFound(RuntimeError):
    pass


class X11Windows:
    """Finds X11 windows by WM_CLASS or title and reads their absolute geometry (python-xlib)."""

    def __init__(self, display: str | None = None):
        from Xlib import display as xdisplay

        self._d = xdisplay.Display(display or os.environ.get("DISPLAY"))
        self._root = self._d.screen().root

    def find(self, wm_class: str | None = None, title: str | None = None) -> int:
        """Id of the first mapped window whose class (instance or class name) equals ``wm_class`` and/or
        whose title contains ``title``; raises :class:`WindowNotFound`."""
        if wm_class is None and title is None:
            raise ValueError("give wm_class or title")
        stack = [self._root]
        while stack:
            w = stack.pop()
            try:
                children = w.query_tree().children
            except Exception:  # a window that went away while walking
                continue
            stack.extend(reversed(children))
            if w == self._root:
                continue
            try:
                attrs = w.get_attributes()
                if attrs.map_state != 2:  # IsViewable
                    continue
                cls = w.get_wm_class() or ()
                name = w.get_wm_name() or ""
            except Exception:
                continue
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if wm_class is not None and wm_class not in cls:
                continue
            if title is not None and title not in name:
                continue
            return int(w.id)
        raise WindowNotFound(f"no mapped X11 window with class={wm_class!r} title={title!r}")

    def geometry(self, wid: int) -> Region:
        """The window's client area in absolute screen coordinates."""
        w = self._d.create_resource_object("window", wid)
        g = w.get_geometry()
        t = w.translate_coords(self._root, 0, 0)
        # translate_coords(root, 0, 0) gives root's origin in the window's coordinates: negate it
        return Region(-int(t.x), -int(t.y), int(g.width), int(g.height))

    def close(self) -> None:
        self._d.close()


class MssCapture:
    """Screen capture with mss. Give ``region`` (a :class:`Region` or ``(left, top, width, height)``),
    ``monitor`` (an mss monitor index, 1 = the first screen), or ``window_class`` / ``window_title``.

    With a window, :meth:`region` is re-read before each grab when ``follow=True``, so the capture
    follows the window; ``wait_s`` waits that long for the window to appear.
    """

    order = "bgra"

    def __init__(self, region: Region | Sequence[int] | None = None, monitor: int | None = None,
                 window_class: str | None = None, window_title: str | None = None, follow: bool = True,
                 wait_s: float = 0.0):
        import mss

        self._sct = mss.MSS()
        self._windows: X11Windows | None = None
        self._wid: int | None = None
        self.follow = follow
        if window_class is not None or window_title is not None:
            import time

            self._windows = X11Windows()
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    self._wid = self._windows.find(window_class, window_title)
                    break
                except WindowNotFound:
                    if time.monotonic() >= deadline:
                        self.close()
                        raise
                    time.sleep(0.05)
            self._region = self._windows.geometry(self._wid)
        elif region is not None:
            self._region = region if isinstance(region, Region) else Region(*(int(v) for v in region))
        else:
            m = self._sct.monitors[1 if monitor is None else monitor]
            self._region = Region(m["left"], m["top"], m["width"], m["height"])

    @property
    def window_id(self) -> int | None:
        return self._wid

    def region(self) -> Region:
        """The rectangle the next grab reads (re-read from the window when following one)."""
        if self._wid is not None and self.follow:
            self._region = self._windows.geometry(self._wid)
        return self._region

    def grab(self) -> np.ndarray:
        """One frame, BGRA (H, W, 4) uint8."""
        shot = self._sct.grab(self.region().as_mss())
        return np.asarray(shot, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def close(self) -> None:
        if self._sct is not None:
            self._sct.close()
            self._sct = None
        if self._windows is not None:
            self._windows.close()
            self._windows = None


class ReplayCapture:
    """Frames replayed in order (looping): a sequence of arrays, or a ``.npy`` (N, H, W, C) / ``.npz``
    (key ``frames``) file. ``order`` is the frames' channel order (``"rgb"`` or ``"bgra"``).
    ``region`` is where the frames pretend to be on the screen (for input coordinates); with
    ``rewind_on_reset`` (default) every env reset starts the replay over, so resets are reproducible."""

    def __init__(self, frames: Sequence[np.ndarray] | np.ndarray | str | os.PathLike, order: str = "rgb",
                 region: Region | None = None, loop: bool = True, rewind_on_reset: bool = True):
        if isinstance(frames, (str, os.PathLike)):
            path = os.fspath(frames)
            data = np.load(path)
            frames = data["frames"] if path.endswith(".npz") else data
        self.frames = [np.asarray(f, dtype=np.uint8) for f in frames]
        if not self.frames:
            raise ValueError("ReplayCapture: no frames")
        self.order = order
        self.loop = loop
        self.rewind_on_reset = rewind_on_reset
        h, w = self.frames[0].shape[:2]
        self._region = region or Region(0, 0, w, h)
        self.index = 0

    def region(self) -> Region:
        return self._region

    def rewind(self) -> None:
        """Called by the env's reset: back to the first frame when ``rewind_on_reset``."""
        if self.rewind_on_reset:
            self.index = 0

    def grab(self) -> np.ndarray:
        if self.index >= len(self.frames):
            if not self.loop:
                raise EOFError("ReplayCapture: out of frames")
            self.index = 0
        f = self.frames[self.index]
        self.index += 1
        return f

    def close(self) -> None:
        pass
