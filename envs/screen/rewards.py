"""Reward and termination for ScreenGame-v0, from the user or composed from pixel probes.

The env accepts any object with the seed's method::

    calculate_reward(current_frame, previous_frames, action) -> float

and, optionally, ``is_terminated(current_frame, previous_frames) -> bool``,
``is_truncated(current_frame, previous_frames) -> bool`` and ``reset()``. Frames passed to these are
RGB ``(H, W, 3)`` uint8 at the capture's full resolution (not the 84x84 observation);
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
is not ``(x, y, width, height)`` with a positive size, a colour that is not ``(r, g, b)``, or a probe
without ``value(frame)`` is a ``ValueError`` / ``TypeError`` naming the field. Whether the rectangles lie
inside the frame is known only once there is a frame: the env's ``reset`` calls
``ProbeReward.check_frame(frame)``, which names the probe that does not fit.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from envs.optional import import_optional

Rect = tuple[int, int, int, int]  # x, y, width, height in frame pixels


def _crop(frame: np.ndarray, rect: Rect | None) -> np.ndarray:
    if rect is None:
        return frame
    x, y, w, h = rect
    return frame[y:y + h, x:x + w]


def _ints(values: object) -> tuple[int, ...]:
    """``values`` as a tuple of ints, or () when it is not a sequence of numbers (the caller names the field)."""
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        return ()


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


def _number(v: object, where: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = float("nan")
    if not np.isfinite(f):
        raise ValueError(f"{where}: need a finite number, got {v!r}")
    return f


def _check_colour(c: object, where: str) -> tuple[int, int, int]:
    vals = _ints(c)
    if len(vals) != 3:
        raise ValueError(f"{where}: need an (r, g, b) colour, got {c!r}")
    return vals


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
        if isinstance(self.template, str):
            img = cv2.imread(self.template, cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(self.template)
            self.template = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        self._gray = cv2.cvtColor(np.asarray(self.template, dtype=np.uint8)[..., :3], cv2.COLOR_RGB2GRAY)

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
        self.fill = tuple(_check_colour(c, f"BarFill.fill[{i}]") for i, c in enumerate(self.fill))
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
    ``end`` that holds; terminated / truncated when one holds."""

    terms: Sequence[Term] = ()
    end: Sequence[When] = ()
    _last: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
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
        r = 0.0
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
