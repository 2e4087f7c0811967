"""Where ScreenGame-v0's frames come from.

* :class:`MssCapture`: a screen rectangle grabbed with mss (XShm on X11, about 0.1 ms for 640x480), either
  a fixed region of the screen or an X11 window found by class or title, whose region follows the
  window when it moves (its position is re-read with python-xlib before each grab, ~0.1 ms).
* :class:`ReplayCapture`: frames from memory or a file (``.npz`` / ``.npy``), looped; for tests and
  for replaying a recording without a display.

Every capture returns ``(H, W, 4)`` BGRA or ``(H, W, 3)`` RGB uint8 and says which in :attr:`order`.
mss and python-xlib are imported when an :class:`MssCapture` is created, never at import time.

Errors: a ``monitor`` this display does not have, or a ``region`` not inside the screen, is a ``ValueError``
naming the option. A followed window moved partly off the screen is captured at its full size, the part off the
screen black; one moved entirely off raises :class:`CaptureError`; one closed (destroyed) raises
:class:`WindowNotFound`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.optional import import_optional
from envs.screen.preprocess import COLOUR_ORDERS


def _as_rect(value: object, name: str) -> Region:
    """``(left, top, width, height)`` integers as a :class:`Region`, width and height > 0 (ValueError naming
    ``name`` otherwise)."""
    if isinstance(value, Region):
        region = value
    else:
        try:
            values = [int(v) for v in value]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"{name}: need (left, top, width, height) integers, got {value!r}") from None
        if len(values) != 4:
            raise ValueError(f"{name}: need (left, top, width, height), got {value!r}")
        region = Region(*values)
    if region.width <= 0 or region.height <= 0:
        raise ValueError(f"{name}: width and height must be > 0, got {region.astuple()}")
    if name == "crop" and (region.left < 0 or region.top < 0):
        raise ValueError(f"crop: left and top must be >= 0 (pixels from the captured area's corner), got "
                         f"{region.astuple()}")
    return region


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

    def astuple(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.width, self.height)

    def intersect(self, other: Region) -> Region | None:
        """The part of this rectangle inside ``other``; None if they do not overlap."""
        left, top = max(self.left, other.left), max(self.top, other.top)
        right = min(self.left + self.width, other.left + other.width)
        bottom = min(self.top + self.height, other.top + other.height)
        if right <= left or bottom <= top:
            return None
        return Region(left, top, right - left, bottom - top)


class WindowNotFound(RuntimeError):
    """The window to capture is not there: it never appeared, or it was closed while being captured."""


class CaptureError(RuntimeError):
    """No frame can be taken, e.g. the captured window was moved entirely off the screen."""


class X11Windows:
    """Finds X11 windows by WM_CLASS or title and reads their absolute geometry (python-xlib)."""

    def __init__(self, display: str | None = None):
        from Xlib import display as xdisplay

        self._d = xdisplay.Display(display or os.environ.get("DISPLAY"))
        self._root = self._d.screen().root
        self._net_wm_name = self._d.intern_atom("_NET_WM_NAME")

    def _title(self, w: object) -> str:
        """A window's title, read as the window set it: python-xlib's ``get_wm_name`` reads only a Latin-1
        ``STRING`` WM_NAME and gives ``b''`` for the UTF-8 titles SDL (pygame), GTK and Qt set."""
        from Xlib import X, Xatom

        for atom in (self._net_wm_name, Xatom.WM_NAME):
            prop = w.get_full_property(atom, X.AnyPropertyType)
            if prop is None or not prop.value:
                continue
            value = prop.value
            if isinstance(value, bytes):
                return value.decode("latin-1" if prop.property_type == Xatom.STRING else "utf-8", "replace")
            return str(value)
        return ""

    def find(self, wm_class: str | None = None, title: str | None = None) -> int:
        """Id of the first mapped window whose class (instance or class name) equals ``wm_class`` and/or
        whose title contains ``title``; raises :class:`WindowNotFound`."""
        if wm_class is None and title is None:
            raise ValueError("give wm_class or title")
        seen: list[str] = []
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
                name = self._title(w)
            except Exception:
                continue
            if cls or name:
                seen.append(f"class={'/'.join(cls)!r} title={name!r}")
            if wm_class is not None and wm_class not in cls:
                continue
            if title is not None and title not in name:
                continue
            return int(w.id)
        listed = "; ".join(seen[:30]) + (f"; and {len(seen) - 30} more" if len(seen) > 30 else "")
        raise WindowNotFound(f"no mapped X11 window with class={wm_class!r} title={title!r}; the mapped windows "
                             f"with a class or title: {listed or 'none'}")

    def geometry(self, wid: int) -> Region:
        """The window's client area in absolute screen coordinates; :class:`WindowNotFound` once it is gone."""
        from Xlib import error as xerror

        w = self._d.create_resource_object("window", wid)
        try:
            g = w.get_geometry()
            t = w.translate_coords(self._root, 0, 0)
        except xerror.XError as e:
            raise WindowNotFound(f"X11 window {wid:#x} is gone (closed or destroyed): {type(e).__name__}") from None
        # translate_coords(root, 0, 0) gives root's origin in the window's coordinates: negate it
        return Region(-int(t.x), -int(t.y), int(g.width), int(g.height))

    def focus(self, wid: int) -> bool:
        """Give window ``wid`` the keyboard focus unless it, or a window inside it, has it already; True when it
        had to. Keys go to the focused window (pynput types characters with XSendEvent to it, and XTEST keys
        follow it too), so without this the agent's keys reach whatever the person last clicked, a terminal
        included. With a window manager, ``_NET_ACTIVE_WINDOW`` asks it to raise and activate the window."""
        from Xlib import X
        from Xlib import error as xerror
        from Xlib import protocol as xprotocol

        try:
            w = self._d.get_input_focus().focus
            while not isinstance(w, int) and w != self._root:  # PointerRoot / None come back as ints
                if int(w.id) == wid:
                    return False
                w = w.query_tree().parent
            win = self._d.create_resource_object("window", wid)
            active = self._d.intern_atom("_NET_ACTIVE_WINDOW")
            supported = self._root.get_full_property(self._d.intern_atom("_NET_SUPPORTED"), X.AnyPropertyType)
            if supported is not None and active in supported.value:
                event = xprotocol.event.ClientMessage(window=win, client_type=active, data=(32, [2, 0, 0, 0, 0]))
                self._root.send_event(event, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
            win.set_input_focus(X.RevertToParent, X.CurrentTime)
            self._d.sync()
        except xerror.XError as e:
            raise WindowNotFound(f"X11 window {wid:#x} cannot take the keyboard focus: {type(e).__name__}") from None
        return True

    def close(self) -> None:
        self._d.close()


class MssCapture:
    """Screen capture with mss. Give ``region`` (a :class:`Region` or ``(left, top, width, height)``),
    ``monitor`` (an mss monitor index, 1 = the first screen), or ``window_class`` / ``window_title``.

    With a window, :meth:`region` is re-read before each grab when ``follow=True``, so the capture
    follows the window; ``wait_s`` waits that long for the window to appear.

    ``crop=(left, top, width, height)`` captures only that rectangle of the window (or region, or monitor), in
    its own pixels from its top-left corner: e.g. a browser game without the browser's tab strip. It moves with
    a followed window; a crop that does not fit inside it is a ``ValueError`` (at construction) or a
    :class:`CaptureError` (a followed window that shrank).
    """

    order = "bgra"

    def __init__(self, region: Region | Sequence[int] | None = None, monitor: int | None = None,
                 window_class: str | None = None, window_title: str | None = None, follow: bool = True,
                 wait_s: float = 0.0, crop: Region | Sequence[int] | None = None):
        mss = import_optional("mss", "Screen capture (ScreenGame-v0's capture='mss')")

        # mss 10.2 made the class mss.MSS the way in and deprecated the factory mss.mss() of mss 9 to 10.1
        self._sct = mss.MSS() if hasattr(mss, "MSS") else mss.mss()
        self._windows: X11Windows | None = None
        self._wid: int | None = None
        self.follow = follow
        self._what = f"window class={window_class!r} title={window_title!r}"
        self._crop = None if crop is None else _as_rect(crop, "crop")
        try:
            monitors = self._sct.monitors
            m = monitors[0]  # the whole screen: every monitor's bounding box
            self._screen = Region(m["left"], m["top"], m["width"], m["height"])
            if window_class is not None or window_title is not None:
                self._find_window(window_class, window_title, wait_s)
                self._region = self._windows.geometry(self._wid)
            elif region is not None:
                self._region = self._check_region(region)
            else:
                if monitor is None:
                    monitor = 1
                if isinstance(monitor, bool) or not isinstance(monitor, (int, np.integer)) \
                        or not 0 <= monitor < len(monitors):
                    raise ValueError(f"monitor: {monitor!r} is not a monitor of this display: 0 (all screens "
                                     f"together) or 1..{len(monitors) - 1}")
                m = monitors[monitor]
                self._region = Region(m["left"], m["top"], m["width"], m["height"])
            if self._crop is not None:
                try:
                    self._cropped(self._region)
                except CaptureError as e:
                    raise ValueError(str(e)) from None
        except BaseException:
            self.close()
            raise

    def _find_window(self, window_class: str | None, window_title: str | None, wait_s: float) -> None:
        import time

        self._windows = X11Windows()
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._wid = self._windows.find(window_class, window_title)
                return
            except WindowNotFound:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _cropped(self, base: Region) -> Region:
        c = self._crop
        if c is None:
            return base
        if c.left + c.width > base.width or c.top + c.height > base.height:
            raise CaptureError(f"crop: {c.astuple()} (left, top, width, height) does not fit inside the captured "
                               f"{base.width}x{base.height} (width x height)")
        return Region(base.left + c.left, base.top + c.top, c.width, c.height)

    def _check_region(self, region: Region | Sequence[int]) -> Region:
        region = _as_rect(region, "region")
        if region.intersect(self._screen) != region:
            raise ValueError(f"region: {region.astuple()} is not inside the screen {self._screen.astuple()} "
                             "(left, top, width, height)")
        return region

    @property
    def window_id(self) -> int | None:
        return self._wid

    def focus(self) -> bool:
        """Give the captured window the keyboard focus if it lacks it (see :meth:`X11Windows.focus`); True when
        it had to. A region or a monitor has no window to focus: False, and keys go where the focus is."""
        if self._wid is None:
            return False
        try:
            return self._windows.focus(self._wid)
        except WindowNotFound as e:
            raise WindowNotFound(f"the captured {self._what}: {e}") from None

    def region(self) -> Region:
        """The rectangle the next grab reads (re-read from the window when following one, then cropped); raises
        :class:`WindowNotFound` when the followed window was closed."""
        if self._wid is not None and self.follow:
            try:
                self._region = self._windows.geometry(self._wid)
            except WindowNotFound as e:
                raise WindowNotFound(f"the captured {self._what} was closed: {e}") from None
        return self._cropped(self._region)

    def grab(self) -> np.ndarray:
        """One frame, BGRA (H, W, 4) uint8, the size of :meth:`region`; the part of it off the screen is black."""
        r = self.region()
        visible = r.intersect(self._screen)
        if visible is None:
            raise CaptureError(f"the captured {self._what} at {r.astuple()} (left, top, width, height) is "
                               f"entirely off the screen {self._screen.astuple()}: move it back")
        shot = self._sct.grab(visible.as_mss())
        img = np.asarray(shot, dtype=np.uint8).reshape(shot.height, shot.width, 4)
        if visible == r:
            return img
        out = np.zeros((r.height, r.width, 4), dtype=np.uint8)
        y, x = visible.top - r.top, visible.left - r.left
        out[y:y + visible.height, x:x + visible.width] = img
        return out

    def close(self) -> None:
        if self._sct is not None:
            self._sct.close()
            self._sct = None
        if self._windows is not None:
            self._windows.close()
            self._windows = None


class ReplayCapture:
    """Frames replayed in order (looping): a sequence of arrays, or a ``.npy`` (N, H, W, C) / ``.npz``
    (key ``frames``) file. ``order`` is the frames' channel order (``"rgb"``, ``"bgr"``, ``"bgra"`` or ``"rgba"``).
    ``region`` is where the frames pretend to be on the screen (for input coordinates); with
    ``rewind_on_reset`` (default) every env reset starts the replay over, so resets are reproducible."""

    def __init__(self, frames: Sequence[np.ndarray] | np.ndarray | str | os.PathLike, order: str = "rgb",
                 region: Region | None = None, loop: bool = True, rewind_on_reset: bool = True):
        if isinstance(frames, (str, os.PathLike)):
            path = os.fspath(frames)
            data = np.load(path)
            frames = data["frames"] if path.endswith(".npz") else data
        if order not in COLOUR_ORDERS:  # the env would read the frames' channels in another order
            raise ValueError(f"ReplayCapture.order: {order!r} not one of {COLOUR_ORDERS}")
        self.frames = [self._check_frame(i, f, order) for i, f in enumerate(frames)]
        if not self.frames:
            raise ValueError("ReplayCapture: no frames")
        self.order = order
        self.loop = loop
        self.rewind_on_reset = rewind_on_reset
        h, w = self.frames[0].shape[:2]
        self._region = region or Region(0, 0, w, h)
        self.index = 0

    @staticmethod
    def _check_frame(i: int, frame: object, order: str) -> np.ndarray:
        """Frame ``i`` as it is, or an error naming it: uint8 (H, W, C) with the channels ``order`` says. Floats in
        [0, 1] turned black and 300 wrapped to 44 when they were converted; a gray frame failed in OpenCV."""
        f = np.asarray(frame)
        channels = len(order)
        if f.dtype != np.uint8:
            raise ValueError(f"ReplayCapture: frame {i} is {f.dtype}, not uint8 (0..255); convert it yourself "
                             "(e.g. (frame * 255).round().astype(np.uint8) for floats in [0, 1])")
        if f.ndim != 3 or f.shape[2] != channels or f.shape[0] < 1 or f.shape[1] < 1:
            raise ValueError(f"ReplayCapture: frame {i} has shape {f.shape}; order={order!r} needs (H, W, "
                             f"{channels}) (a gray frame: np.repeat(frame[..., None], 3, axis=2) with 'rgb')")
        return f

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
