"""Checks of ScreenGame-v0's and FishingPixels-v0's options: each returns the value as the env uses it, or raises
a ``ValueError`` naming the option and what was wrong (worded as :func:`envs.options.positive_int_option`, which
these envs use for their integer options).

Bools are refused where a number is wanted (``stack=True`` is not 1), and a flag takes True or False (or 1 or
0: :func:`envs.options.flag_option`, the rule every env's flags share; ``grayscale="no"`` would have been true);
floats are refused where an integer is wanted (``stack=2.5`` is not silently 2).
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (Python or numpy int or float; not a bool, a string or an array)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def finite_number(name: str, value: object, minimum: float | None = None, above: bool = False) -> float:
    """``value`` of the option ``name`` as a finite float, ``>= minimum`` (``> minimum`` with ``above``)."""
    ok = is_real(value) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if above else value >= minimum
    if not ok:
        bound = "" if minimum is None else f" {'>' if above else '>='} {minimum:g}"
        raise ValueError(f"{name}: a finite number{bound}, got {value!r}")
    return float(value)


def positive_int_pair(name: str, value: object, what: str = "(height, width)") -> tuple[int, int]:
    """``value`` of the option ``name``: two integers >= 1, e.g. ``(84, 84)``; ``84.7`` is not truncated."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if (isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 1
                       for v in value)):
        raise ValueError(f"{name}: need {what}, two integers >= 1, got {value!r}")
    return int(value[0]), int(value[1])


def check_methods(obj: object, name: str, methods: tuple[str, ...], optional: tuple[str, ...] = (),
                  what: str = "") -> None:
    """TypeError naming the option ``name`` unless ``obj`` has each of ``methods`` callable (and each of
    ``optional`` that it has): a wrong object fails when the env is made, not in the middle of an episode."""
    missing = [m for m in methods if not callable(getattr(obj, m, None))]
    if missing:
        raise TypeError(f"{name}: {obj!r} is not {what or 'a suitable object'}: it has no "
                        f"{', '.join(m + '()' for m in missing)} method")
    for m in optional:
        if hasattr(obj, m) and not callable(getattr(obj, m)):
            raise TypeError(f"{name}.{m}: {getattr(obj, m)!r} is not callable")
