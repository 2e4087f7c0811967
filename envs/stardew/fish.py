"""The fish tables and fish selection.

``data/fish.csv`` holds every rod-minigame row of the game's 1.5 ``Data/Fish``; ``data/fish_added_1.6.csv`` the
rod-minigame fish that 1.6 added (each row names the public 1.6 data it was read from). ``version="1.5"`` plays
the first table, ``version="1.6"`` both. 1.6's other new ``Data/Fish`` entries (the Sea, River and Cave Jelly)
have no minigame difficulty or motion and are left out.
"""

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


FISH_FILES = {"1.5": ("data/fish.csv",), "1.6": ("data/fish.csv", "data/fish_added_1.6.csv")}
"""The data files each game version's fish table is read from, in order."""


def _table_version(version: str) -> str:
    """The fish-table key of a game version ("1.5.4" plays the 1.5 table)."""
    key = {"1.5": "1.5", "1.5.4": "1.5", "1.6": "1.6"}.get(version) if isinstance(version, str) else None
    if key is None:
        raise ValueError(f"version: {version!r} not one of ['1.5', '1.5.4', '1.6']")
    return key


@dataclass(frozen=True)
class Fish:
    """One rod fish: its ``Data/Fish`` id (an int up to 1.5, a string for the fish 1.6 added, e.g. "Goby"),
    name, minigame difficulty and motion type, size range in inches and whether it is legendary."""

    id: int | str
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
def fish_table(version: str = "1.5") -> tuple[Fish, ...]:
    """The rod fish of game ``version``: the 60 of 1.5 (``data/fish.csv``) and, for "1.6", then the fish 1.6
    added (``data/fish_added_1.6.csv``), in file order."""
    rows: list[Fish] = []
    for name in FISH_FILES[_table_version(version)]:
        rows.extend(_read_fish_csv(name))
    ids = [f.id for f in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"fish tables of version {version}: an id appears twice in {FISH_FILES[_table_version(version)]}")
    return tuple(rows)


def _read_fish_csv(name: str) -> list[Fish]:
    text = resources.files("envs.stardew").joinpath(name).read_text(encoding="utf-8")
    rows = []
    for line_no, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            raw_id = row["id"].strip()
            fish = Fish(
                id=int(raw_id) if raw_id.lstrip("-").isdigit() else raw_id,
                name=row["name"],
                difficulty=int(row["difficulty"]),
                behavior=row["behavior"].lower(),
                min_size=int(row["min_size"]),
                max_size=int(row["max_size"]),
                legendary=row["legendary"] == "1",
            )
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise ValueError(f"{name} line {line_no}: {e}") from e
        if not fish.id and fish.id != 0:
            raise ValueError(f"{name} line {line_no}: empty id")
        if fish.behavior not in MOTION_NAMES:
            raise ValueError(f"{name} line {line_no}: behavior {fish.behavior!r} not in {MOTION_NAMES}")
        rows.append(fish)
    return rows


def find_fish(key: str | int, version: str = "1.5") -> Fish:
    """A fish of game ``version``'s table by id (128 or "128", "Goby") or by name, case-insensitive ("legend",
    "Legend II")."""
    table = fish_table(version)
    if isinstance(key, bool) or not isinstance(key, (str, numbers.Integral)):
        raise ValueError(f"fish: a name or an id, got {key!r}")
    if isinstance(key, numbers.Integral) or key.strip().isdigit():
        for f in table:
            if f.id == int(key):
                return f
    else:
        for f in table:
            if f.name.lower() == key.strip().lower() or (isinstance(f.id, str) and f.id.lower() == key.strip().lower()):
                return f
    also = "" if _table_version(version) == "1.6" else " (fish added in 1.6 need version='1.6')"
    raise ValueError(f"fish: no fish {key!r} in the {version} table{also}; names are e.g. "
                     f"{[f.name for f in table[:5]]}")


def resolve_fish(choice: FishChoice, version: str = "1.5") -> list[Fish]:
    """The pool an episode draws its fish from (uniformly), out of game ``version``'s table.

    ``None``: the whole table. A name or id: that fish. A list of names/ids: those.
    A mapping ``{"difficulty": 95, "behavior": "dart"}``: a custom fish.
    """
    if choice is None:
        return list(fish_table(version))
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
        return [find_fish(choice, version)]
    if not isinstance(choice, (Sequence, np.ndarray)):
        raise ValueError(f"fish: None, a name or id, a list of them, or a custom fish dict, got {choice!r}")
    pool = [find_fish(c, version) for c in choice]
    if not pool:
        raise ValueError("fish: an empty list of fish")
    return pool
