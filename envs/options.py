"""Option checks shared by every env, in a module that imports neither numba nor a screen package: each returns
the value as the env uses it, or raises a ``ValueError`` naming the option."""

from __future__ import annotations

import numbers

import numpy as np


def positive_int_option(name: str, value: object) -> int:
    """``value`` of the option ``name`` as an int (numpy integers too), or a ValueError naming the option: bools
    are refused (``stack=True`` is not 1) and so are floats (``2.5`` is not silently 2)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: an integer >= 1, got {value!r}")
    if value >= 2**63:  # the game's counters and numpy's shapes are int64
        raise ValueError(f"{name}: {value!r} is too large (at most 2**63 - 1)")
    return int(value)


def flag_option(name: str, value: object) -> bool:
    """``value`` of the option ``name`` as a bool: True or False (numpy bools too), or the integers 1 and 0 as
    configuration files write them; anything else (``"no"``, ``2``, ``None``) is a ValueError naming the option,
    since it would otherwise have counted as true or false by accident. One rule for every env's flags."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name}: True or False (or 1 or 0), got {value!r}")
