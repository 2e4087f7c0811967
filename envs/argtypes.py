"""argparse types for the project's command lines: a number out of range is a usage error that names the option
(argparse adds ``argument --name:``), not a traceback from deep inside the run."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``lo``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"need an integer, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v
    return parse


def float_above(lo: float, inclusive: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float > ``lo`` (>= with ``inclusive``)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"need a number, got {text!r}") from None
        if not math.isfinite(v) or (v < lo if inclusive else v <= lo):
            raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {lo}, got {text}")
        return v
    return parse
