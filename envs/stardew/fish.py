"""The fish table (``data/fish.csv``: every rod-minigame row of the game's 1.5 ``Data/Fish``) and fish selection."""

from __future__ import annotations

import csv
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from envs.stardew.rules import MOTION_NAMES

FishChoice = None | str | int | Mapping | Sequence


@dataclass(frozen=True)
class Fish:
    id: int
    name: str
    difficulty: int
    behavior: str
    min_size: int = 1
    max_size: int = 1
    legendary: bool = False

    @property
    def motion(self) -> int:
        return MOTION_NAMES.index(self.behavior)


@cache
def fish_table() -> tuple[Fish, ...]:
    """All 60 rod fish, in the order of ``data/fish.csv``."""
    text = resources.files("envs.stardew").joinpath("data/fish.csv").read_text(encoding="utf-8")
    rows = []
    for line_no, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            fish = Fish(
                id=int(row["id"]),
                name=row["name"],
                difficulty=int(row["difficulty"]),
                behavior=row["behavior"].lower(),
                min_size=int(row["min_size"]),
                max_size=int(row["max_size"]),
                legendary=row["legendary"] == "1",
            )
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"data/fish.csv line {line_no}: {e}") from e
        if fish.behavior not in MOTION_NAMES:
            raise ValueError(f"data/fish.csv line {line_no}: behavior {fish.behavior!r} not in {MOTION_NAMES}")
        rows.append(fish)
    return tuple(rows)


def find_fish(key: str | int) -> Fish:
    """A fish by id (128 or "128") or by name, case-insensitive ("legend", "Legend II")."""
    table = fish_table()
    if isinstance(key, bool) or not isinstance(key, (str, numbers.Integral)):
        raise ValueError(f"fish: a name or an id, got {key!r}")
    if isinstance(key, numbers.Integral) or key.strip().isdigit():
        for f in table:
            if f.id == int(key):
                return f
    else:
        for f in table:
            if f.name.lower() == key.strip().lower():
                return f
    raise ValueError(f"fish: no fish {key!r} in the table; names are e.g. {[f.name for f in table[:5]]}")


def resolve_fish(choice: FishChoice) -> list[Fish]:
    """The pool an episode draws its fish from (uniformly).

    ``None``: the whole table. A name or id: that fish. A list of names/ids: those.
    A mapping ``{"difficulty": 95, "behavior": "dart"}``: a custom fish.
    """
    if choice is None:
        return list(fish_table())
    if isinstance(choice, Mapping):
        unknown = set(choice) - {"difficulty", "behavior", "name"}
        if unknown or "difficulty" not in choice or "behavior" not in choice:
            raise ValueError(
                f"fish: a custom fish needs 'difficulty' and 'behavior' (and optionally 'name'), got {dict(choice)}"
            )
        behavior = str(choice["behavior"]).lower()
        if behavior not in MOTION_NAMES:
            raise ValueError(f"fish: behavior {behavior!r} not in {MOTION_NAMES}")
        difficulty = choice["difficulty"]
        if isinstance(difficulty, bool) or not isinstance(difficulty, numbers.Integral) or not 0 <= difficulty <= 200:
            raise ValueError(f"fish: difficulty must be an integer 0..200, got {difficulty!r}")
        difficulty = int(difficulty)
        return [Fish(id=-1, name=str(choice.get("name", f"custom-{behavior}-{difficulty}")), difficulty=difficulty,
                     behavior=behavior)]
    if isinstance(choice, (str, numbers.Integral)):
        return [find_fish(choice)]
    if not isinstance(choice, (Sequence, np.ndarray)):
        raise ValueError(f"fish: None, a name or id, a list of them, or a custom fish dict, got {choice!r}")
    pool = [find_fish(c) for c in choice]
    if not pool:
        raise ValueError("fish: an empty list of fish")
    return pool
