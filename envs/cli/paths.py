"""Paths of files a run will write, checked before the run starts rather than when it first writes."""

from __future__ import annotations

from pathlib import Path


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is a file, not a folder (nothing can be created under
    it), else None. Folders that do not exist yet are no obstacle: the writer makes them."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None
