"""Reward and termination for ScreenGame-v0, from the user or composed from pixel probes.

The env accepts any object with the hybrid-RL framework's method::

    calculate_reward(current_frame, previous_frames, action) -> float

and, optionally, ``is_terminated(current_frame, previous_frames) -> bool``,
``is_truncated(current_frame, previous_frames) -> bool`` and ``reset()``. The env checks what they return:
the reward a finite real number (Python or numpy int or float; a bool, a string, None, an array or NaN is an
error naming the method), the end checks a bool (Python or numpy; ``"False"`` or 0 is an error).

Frames passed to these are RGB ``(H, W, 3)`` uint8 at the capture's full resolution (not the 84x84 observation);
``previous_frames`` is a list, oldest first, of the frames before the current one in this episode (the
reset frame included), but only the last ``stack`` of them (the env's frame-stack depth, default 4): keep
your own copies in the reward object to look further back.

Without writing a class, compose probes (each reads one number from a frame):

==================  ================================================================================
probe               value
==================  ================================================================================
MeanColour          closeness of a rectangle's mean colour to a target colour, in [0, 1]
                    (1 = equal); ``target=None``: the mean brightness / 255
TemplateMatch       best normalised match score of a template image inside a rectangle, in [-1, 1]
BarFill             the filled fraction of a bar, in [0, 1]: lines (rows or columns, counted from the
                    bar's ``start`` side) whose pixels are *not* the empty colour (or *are* one of
                    the fill colours)
==================  ================================================================================

and :class:`ProbeReward` turns probes into a reward (``Term``: weight x value, or x its change since
the last step) and an end (``When``: a probe compared with a threshold, with an optional bonus).

Settings are checked when each object is made: a misspelt ``When.op`` or ``Term.mode``, a rectangle that
is not ``(x, y, width, height)`` integers with a positive size, a colour that is not ``(r, g, b)`` integers 0..255
(floats are refused, not truncated), a number (``tol``, ``weight``, ``threshold``, ``bonus``) that is not a finite
number (``BarFill.tol`` >= 0), a template that is not an RGB(A) uint8 image of at least 1x1 pixel or a readable
image file, or a probe without ``value(frame)`` is a ``ValueError`` / ``TypeError`` naming the field (a template
path that does not exist: ``FileNotFoundError`` naming it). Whether the rectangles lie
inside the frame is known only once there is a frame: the env's ``reset`` calls
``ProbeReward.check_frame(frame)``, which names the probe that does not fit.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from envs.optional import import_optional
from envs.screen.options import is_real

Rect = tuple[int, int, int, int]  # x, y, width, height in frame pixels


def _crop(frame: np.ndarray, rect: Rect | None) -> np.ndarray:
    if rect is None:
        return frame
    x, y, w, h = rect
    return frame[y:y + h, x:x + w]


def _ints(values: object) -> tuple[int, ...]:
    """``values`` as a tuple of ints, or () when it is not a sequence of integers (the caller names the field):
    a float such as 10.7 is refused, not truncated to 10."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return ()
    vals = tuple(values)
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in vals):
        return ()
    return tuple(int(v) for v in vals)


def _check_rect(rect: Rect | None, where: str, required: bool = False) -> Rect | None:
    """``rect`` as four ints, or a ValueError naming ``where``: x, y >= 0, width and height > 0."""
    if rect is None and not required:
        return None
    vals = _ints(rect)
    if len(vals) != 4:
        raise ValueError(f"{where}: need (x, y, width, height) integers, got {rect!r}")
    x, y, w, h = vals
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ValueError(f"{where}: {vals}: x and y must be >= 0, width and height > 0")
    return vals


def _rect_in_frame(rect: Rect | None, frame: np.ndarray, where: str) -> None:
    if rect is None:
        return
    x, y, w, h = rect
    fh, fw = frame.shape[:2]
    if x + w > fw or y + h > fh:
        raise ValueError(f"{where}: (x, y, width, height)={tuple(rect)} is not inside the {fw}x{fh} frame "
                         "(width x height)")


def _check_probe(probe: object, where: str) -> None:
    if not callable(getattr(probe, "value", None)):
        raise TypeError(f"{where}: {probe!r} is not a probe (no value(frame) method)")


def _number(v: object, where: str, minimum: float | None = None) -> float:
    """``v`` as a float, or a ValueError naming ``where`` unless it is a finite real number (>= ``minimum``):
    a string such as ``"0.5"`` or a bool is refused."""
    if not is_real(v) or not math.isfinite(v) or (minimum is not None and v < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise ValueError(f"{where}: need a finite number{bound}, got {v!r}")
    return float(v)


def _check_colour(c: object, where: str) -> tuple[int, int, int]:
    vals = _ints(c)
    if len(vals) != 3:
        raise ValueError(f"{where}: need an (r, g, b) colour of three integers 0..255, got {c!r}")
    if not all(0 <= v <= 255 for v in vals):
        raise ValueError(f"{where}: {vals}: r, g and b must each be 0..255")
    return vals


def _template_image(template: object, where: str) -> np.ndarray:
    """An RGB(A) uint8 template: the array, or the image file at the path, read with OpenCV; or an error naming
    ``where`` and what is wrong with it."""
    cv2 = import_optional("cv2", "TemplateMatch")
    if isinstance(template, (str, os.PathLike)):
        path = os.fspath(template)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{where}: {path!r}: no such file")
        if os.path.isdir(path):
            raise ValueError(f"{where}: {path!r} is a directory, not an image file")
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{where}: {path!r}: OpenCV cannot read it as an image (unreadable, or not an image "
                             "format it knows)")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    try:
        arr = np.asarray(template)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{where}: need an (height, width, 3) RGB or (height, width, 4) RGBA image with height and "
                         f"width >= 1, or an image file's path; got {_describe(template, arr)}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 255:
            hint = " (a float image is not converted: [0, 1] would read as black)" if arr.dtype.kind == "f" else ""
            raise ValueError(f"{where}: need uint8 pixel values 0..255, got dtype {arr.dtype}{hint}")
        arr = arr.astype(np.uint8)
    return arr


def _describe(value: object, arr: np.ndarray) -> str:
    if isinstance(value, np.ndarray) or arr.ndim >= 2:
        return f"an array of shape {arr.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class MeanColour:
    """Closeness of the mean RGB colour of ``rect`` to ``target`` (1 - distance / max distance)."""

    rect: Rect | None
    target: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        self.rect = _check_rect(self.rect, "MeanColour.rect")
        if self.target is not None:
            self.target = _check_colour(self.target, "MeanColour.target")

    def check_frame(self, frame: np.ndarray, where: str = "MeanColour") -> None:
        """ValueError unless ``rect`` lies inside ``frame``."""
        _rect_in_frame(self.rect, frame, f"{where}.rect")

    def value(self, frame: np.ndarray) -> float:
        m = _crop(frame, self.rect)[..., :3].reshape(-1, 3).mean(axis=0)
        if self.target is None:
            return float(m.mean() / 255.0)
        d = np.linalg.norm(m - np.asarray(self.target, dtype=np.float64))
        return float(1.0 - d / (255.0 * np.sqrt(3.0)))


@dataclass
class TemplateMatch:
    """Best ``cv2.TM_CCOEFF_NORMED`` score of ``template`` (RGB array or image path) inside ``rect``."""

    template: np.ndarray | str
    rect: Rect | None = None

    def __post_init__(self) -> None:
        cv2 = import_optional("cv2", "TemplateMatch")

        self.rect = _check_rect(self.rect, "TemplateMatch.rect")
        self.template = _template_image(self.template, "TemplateMatch.template")
        self._gray = cv2.cvtColor(np.ascontiguousarray(self.template[..., :3]), cv2.COLOR_RGB2GRAY)

    def check_frame(self, frame: np.ndarray, where: str = "TemplateMatch") -> None:
        """ValueError unless ``rect`` lies inside ``frame`` and the template fits in it."""
        _rect_in_frame(self.rect, frame, f"{where}.rect")
        th, tw = self._gray.shape
        h, w = _crop(frame, self.rect).shape[:2]
        if th > h or tw > w:
            raise ValueError(f"{where}.template: {tw}x{th} (width x height) is larger than the {w}x{h} area it "
                             "is searched in")

    def value(self, frame: np.ndarray) -> float:
        import cv2

        img = cv2.cvtColor(np.ascontiguousarray(_crop(frame, self.rect)[..., :3]), cv2.COLOR_RGB2GRAY)
        th, tw = self._gray.shape
        if img.shape[0] < th or img.shape[1] < tw:
            return -1.0
        res = cv2.matchTemplate(img, self._gray, cv2.TM_CCOEFF_NORMED)
        v = float(res.max())
        return v if np.isfinite(v) else 0.0


@dataclass
class BarFill:
    """Filled fraction of a bar inside ``rect``.

    A pixel is filled when it is farther than ``tol`` from ``empty`` (give the bar's background
    colour), or, with ``fill`` colours instead, within ``tol`` of one of them. A line across the bar
    is filled when at least half its pixels are. ``start`` is the side the bar fills from:
    ``"bottom"`` (default), ``"top"``, ``"left"`` or ``"right"``; the value is the number of filled
    lines over the bar's length.
    """

    rect: Rect
    empty: tuple[int, int, int] | None = None
    fill: Sequence[tuple[int, int, int]] = ()
    tol: float = 30.0
    start: str = "bottom"

    def __post_init__(self) -> None:
        self.rect = _check_rect(self.rect, "BarFill.rect", required=True)
        if (self.empty is None) == (not self.fill):
            raise ValueError("BarFill: give either empty=(r, g, b) or fill=[(r, g, b), ...]")
        if self.empty is not None:
            self.empty = _check_colour(self.empty, "BarFill.empty")
        if isinstance(self.fill, (str, bytes)) or not isinstance(self.fill, (Sequence, np.ndarray)):
            raise ValueError(f"BarFill.fill: need a list of (r, g, b) colours, got {self.fill!r}")
        self.fill = tuple(_check_colour(c, f"BarFill.fill[{i}]") for i, c in enumerate(self.fill))
        # a distance in colour levels (0..255): "x" failed in numpy at the first step; NaN or < 0 read 0 always
        self.tol = _number(self.tol, "BarFill.tol", minimum=0.0)
        if self.start not in ("bottom", "top", "left", "right"):
            raise ValueError(f"BarFill.start: {self.start!r} not bottom/top/left/right")

    def check_frame(self, frame: np.ndarray, where: str = "BarFill") -> None:
        """ValueError unless ``rect`` lies inside ``frame``."""
        _rect_in_frame(self.rect, frame, f"{where}.rect")

    def value(self, frame: np.ndarray) -> float:
        px = _crop(frame, self.rect)[..., :3].astype(np.int32)
        if self.empty is not None:
            mask = np.abs(px - np.asarray(self.empty)).max(axis=-1) > self.tol
        else:
            mask = np.zeros(px.shape[:2], dtype=bool)
            for c in self.fill:
                mask |= np.abs(px - np.asarray(c)).max(axis=-1) <= self.tol
        axis = 1 if self.start in ("bottom", "top") else 0
        lines = mask.mean(axis=axis) >= 0.5
        return float(lines.mean()) if lines.size else 0.0


OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass
class Term:
    """``weight * probe value`` (``mode="value"``) or ``weight * (value - previous value)`` (``"delta"``)."""

    probe: object
    weight: float = 1.0
    mode: str = "delta"

    def __post_init__(self) -> None:
        _check_probe(self.probe, "Term.probe")
        if self.mode not in ("value", "delta"):
            raise ValueError(f"Term.mode: {self.mode!r} not 'value' or 'delta'")
        self.weight = _number(self.weight, "Term.weight")



@dataclass
class When:
    """An end condition: ``probe value <op> threshold``; adds ``bonus`` to the reward of that step.
    ``truncate=True`` makes it a truncation instead of a termination."""

    probe: object
    op: str
    threshold: float
    bonus: float = 0.0
    truncate: bool = False

    def __post_init__(self) -> None:
        _check_probe(self.probe, "When.probe")
        if self.op not in OPS:
            raise ValueError(f"When.op: {self.op!r} not one of {', '.join(repr(o) for o in OPS)}")
        self.threshold = _number(self.threshold, "When.threshold")
        self.bonus = _number(self.bonus, "When.bonus")

    def holds(self, frame: np.ndarray) -> bool:
        return bool(OPS[self.op](self.probe.value(frame), self.threshold))


@dataclass
class ProbeReward:
    """A reward function made of probes: the sum of ``terms``, plus the bonus of each ``When`` in
    ``end`` that holds, plus ``per_step`` on every step (a constant: e.g. ``-0.01`` to hurry, ``+0.1`` for
    staying alive); terminated / truncated when one holds."""

    terms: Sequence[Term] = ()
    end: Sequence[When] = ()
    per_step: float = 0.0
    _last: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.per_step = _number(self.per_step, "ProbeReward.per_step")
        for name, cls in (("terms", Term), ("end", When)):
            items = getattr(self, name)
            if isinstance(items, (Term, When)) or not isinstance(items, Sequence):
                raise TypeError(f"ProbeReward.{name}: need a list of {cls.__name__}, got {items!r}")
            for i, x in enumerate(items):
                if not isinstance(x, cls):
                    raise TypeError(f"ProbeReward.{name}[{i}]: {x!r} is not a {cls.__name__}")

    def check_frame(self, frame: np.ndarray) -> None:
        """ValueError naming the probe unless every probe's rectangle lies inside ``frame`` (the env's reset
        calls this with the first frame; a rectangle outside would read nothing)."""
        for name in ("terms", "end"):
            for i, x in enumerate(getattr(self, name)):
                check = getattr(x.probe, "check_frame", None)
                if callable(check):
                    check(frame, f"ProbeReward.{name}[{i}].probe ({type(x.probe).__name__})")

    def reset(self) -> None:
        self._last.clear()

    def calculate_reward(self, current_frame: np.ndarray, previous_frames: Sequence[np.ndarray],
                         action: object) -> float:
        r = self.per_step
        for i, t in enumerate(self.terms):
            v = t.probe.value(current_frame)
            if t.mode == "value":
                r += t.weight * v
            else:
                prev = self._last.get(i)
                if prev is None and previous_frames:
                    prev = t.probe.value(previous_frames[-1])
                r += 0.0 if prev is None else t.weight * (v - prev)
                self._last[i] = v
        for w in self.end:
            if w.bonus and w.holds(current_frame):
                r += w.bonus
        return float(r)

    def is_terminated(self, current_frame: np.ndarray, previous_frames: Sequence[np.ndarray]) -> bool:
        return any(w.holds(current_frame) for w in self.end if not w.truncate)

    def is_truncated(self, current_frame: np.ndarray, previous_frames: Sequence[np.ndarray]) -> bool:
        return any(w.holds(current_frame) for w in self.end if w.truncate)
