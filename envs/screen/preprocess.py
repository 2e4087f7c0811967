"""Frame preprocessing shared by training (offscreen frames) and play (screen captures).

The same :class:`FramePreprocessor` object (same options) must be used at train and at play time;
given the same picture it returns the same array whether the picture came as BGRA from mss or as RGB
from :meth:`envs.games.fishing.FishingGame.frame` (OpenCV's BGRA->gray and RGB->gray use the same
weights, so the gray values are identical bit for bit).

Channel order
-------------
``channel_order="auto"`` (the default) reads a 4-channel array as **BGRA** (what mss returns) and a
3-channel array as **RGB** (what pygame and ``FishingGame.frame()`` return); a 2-D array is already
gray. Pass ``channel_order`` to the constructor, or ``order=`` to a call, to say otherwise:
``"bgra"``, ``"rgba"``, ``"bgr"``, ``"rgb"`` or ``"gray"``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from envs.optional import import_optional
from envs.options import flag_option, positive_int_option
from envs.screen.options import is_real, positive_int_pair

INTERPOLATIONS = ("area", "linear", "nearest", "cubic")
ORDERS = ("auto", "bgra", "rgba", "bgr", "rgb", "gray")
# the orders a colour capture's frames may have (a capture's ``order``; ReplayCapture's frames)
COLOUR_ORDERS = ("rgb", "bgr", "bgra", "rgba")


def _gray_weights(value: object) -> tuple[float, float, float]:
    vals = tuple(value.tolist()) if isinstance(value, np.ndarray) else value
    if (not isinstance(vals, (list, tuple)) or len(vals) != 3 or not all(is_real(v) and math.isfinite(v) and v >= 0
                                                                       for v in vals) or not any(vals)):
        raise ValueError(f"gray_weights: need three finite non-negative (r, g, b) weights, not all 0, got {value!r}")
    return tuple(float(v) for v in vals)


def _cv2():
    return import_optional("cv2", "Frame preprocessing (ScreenGame-v0, FishingPixels-v0)")


def to_rgb(frame: np.ndarray, order: str) -> np.ndarray:
    """``frame`` (channel order ``order``: bgra, rgba, bgr, rgb or gray) as RGB; an RGB frame is returned as is."""
    if order == "rgb":
        return frame
    cv2 = _cv2()
    codes = {"bgra": cv2.COLOR_BGRA2RGB, "rgba": cv2.COLOR_RGBA2RGB, "bgr": cv2.COLOR_BGR2RGB,
             "gray": cv2.COLOR_GRAY2RGB}
    return cv2.cvtColor(frame, codes[order])


class FramePreprocessor:
    """Frame (H, W, C) uint8 -> resized uint8 array: (h, w) gray or (h, w, 3) RGB.

    Parameters
    ----------
    size:
        ``(height, width)`` of the output (default ``(84, 84)``): two integers >= 1.
    grayscale:
        True: one channel (ITU-R 601 luma, OpenCV's weights). False: RGB. A bool (numpy's too), nothing else.
    interpolation:
        ``"area"`` (default; averages, keeps thin lines visible), ``"linear"``, ``"nearest"``, ``"cubic"``.
    channel_order:
        How input channels are ordered; ``"auto"``: 4 channels are BGRA, 3 are RGB (see module doc).
    gray_weights:
        ``(r, g, b)`` weights for the gray value instead of OpenCV's luma (0.299, 0.587, 0.114). Colours
        of equal luma become one gray (in the fishing game the orange fish and the green bar differ by
        4 gray levels under luma); weights such as ``(0.6, 0.3, 0.1)`` keep them apart.
    """

    def __init__(self, size: tuple[int, int] = (84, 84), grayscale: bool = True, interpolation: str = "area",
                 channel_order: str = "auto", gray_weights: tuple[float, float, float] | None = None):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation: {interpolation!r} not one of {INTERPOLATIONS}")
        if channel_order not in ORDERS:
            raise ValueError(f"channel_order: {channel_order!r} not one of {ORDERS}")
        self.size = positive_int_pair("size", size)  # 84.7 was silently 84
        self.grayscale = flag_option("grayscale", grayscale)  # "no" was True
        self.interpolation = interpolation
        self.channel_order = channel_order
        self.gray_weights = None if gray_weights is None else _gray_weights(gray_weights)
        self._gray_matrix = None if self.gray_weights is None else np.array([self.gray_weights], np.float32)
        cv2 = _cv2()
        self._interp = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
                        "cubic": cv2.INTER_CUBIC}[interpolation]

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one output frame."""
        return self.size if self.grayscale else (*self.size, 3)

    def _order(self, frame: np.ndarray, order: str | None) -> str:
        order = order or self.channel_order
        if order != "auto":
            return order
        if frame.ndim == 2:
            return "gray"
        if frame.ndim == 3 and frame.shape[2] == 4:
            return "bgra"
        if frame.ndim == 3 and frame.shape[2] == 3:
            return "rgb"
        raise ValueError(f"frame: expected (H, W), (H, W, 3) or (H, W, 4), got shape {frame.shape}")

    def __call__(self, frame: np.ndarray, order: str | None = None) -> np.ndarray:
        """Preprocess one frame; ``order`` overrides the channel order for this call."""
        cv2 = _cv2()
        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            raise TypeError(f"frame: expected uint8, got {frame.dtype}")
        o = self._order(frame, order)
        if self.grayscale and self._gray_matrix is not None and o != "gray":
            # to RGB first (exact), then one weighted sum: the same result for every input order
            img = cv2.transform(to_rgb(frame, o), self._gray_matrix)
        elif self.grayscale:
            codes = {"bgra": cv2.COLOR_BGRA2GRAY, "rgba": cv2.COLOR_RGBA2GRAY, "bgr": cv2.COLOR_BGR2GRAY,
                     "rgb": cv2.COLOR_RGB2GRAY}
            img = frame if o == "gray" else cv2.cvtColor(frame, codes[o])
        else:
            img = to_rgb(frame, o)
        h, w = self.size
        if img.shape[0] != h or img.shape[1] != w:
            img = cv2.resize(img, (w, h), interpolation=self._interp)
        return np.ascontiguousarray(img)

    def __repr__(self) -> str:
        return (f"FramePreprocessor(size={self.size}, grayscale={self.grayscale}, "
                f"interpolation={self.interpolation!r}, channel_order={self.channel_order!r}, "
                f"gray_weights={self.gray_weights!r})")


class FrameStack:
    """The last ``depth`` preprocessed frames, oldest first: ``(depth, *frame_shape)`` uint8.

    :meth:`reset` fills every slot with the first frame (so a fresh stack is never black);
    :meth:`push` drops the oldest. Both return a new array (safe to keep).
    """

    def __init__(self, depth: int = 4):
        self.depth = positive_int_option("depth", depth)
        self._frames: deque[np.ndarray] = deque(maxlen=self.depth)

    def reset(self, frame: np.ndarray) -> np.ndarray:
        self._frames.clear()
        for _ in range(self.depth):
            self._frames.append(frame)
        return self.array()

    def push(self, frame: np.ndarray) -> np.ndarray:
        if not self._frames:
            return self.reset(frame)
        self._frames.append(frame)
        return self.array()

    def array(self) -> np.ndarray:
        if not self._frames:
            raise RuntimeError("FrameStack is empty: call reset(frame) first")
        return np.stack(self._frames, axis=0)

    def __len__(self) -> int:
        return len(self._frames)
