"""argparse types for the project's command lines: a number out of range is a usage error that names the option
(argparse adds ``argument --name:``), not a traceback from deep inside the run."""

from __future__ import annotations

import argparse
import math
import os
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


def int_between(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``lo..hi`` (both included)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"need an integer, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {v}")
        return v
    return parse


def output_file(text: str) -> str:
    """An argparse type: a path a file can be written at (it is not a folder, its folder exists and is writable),
    checked when the command line is read, not when the run that fills the file ends."""
    if not text:
        raise argparse.ArgumentTypeError("need a file path, got ''")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.exists(folder):
        raise argparse.ArgumentTypeError(f"the folder {folder!r} does not exist")
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{folder!r} is not a folder")
    if not os.access(text if os.path.exists(text) else folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r} (no permission)")
    return text
