"""Option checks shared by every env, in a module that imports neither numba nor a screen package: each returns
the value as the env uses it, or raises a ``ValueError`` naming the option."""

from __future__ import annotations

import numbers


def positive_int_option(name: str, value: object) -> int:
    """``value`` of the option ``name`` as an int (numpy integers too), or a ValueError naming the option: bools
    are refused (``stack=True`` is not 1) and so are floats (``2.5`` is not silently 2)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: an integer >= 1, got {value!r}")
    if value >= 2**63:  # the game's counters and numpy's shapes are int64
        raise ValueError(f"{name}: {value!r} is too large (at most 2**63 - 1)")
    return int(value)
