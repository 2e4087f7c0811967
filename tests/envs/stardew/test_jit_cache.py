"""A rules edit reaches every compiled kernel: numba's cache alone would keep running the old rules."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numba
import pytest

from envs.stardew.jit_cache import KERNEL_SOURCES

ROOT = Path(__file__).resolve().parents[3]

CALLEE = "from numba import njit\n\n\n@njit(cache=True)\ndef rule():\n    return {value}\n"
CALLER = """from pathlib import Path

from numba import njit

from envs.stardew.jit_cache import drop_stale_numba_cache
from toy.rules import rule

drop_stale_numba_cache(__file__, [Path(__file__).with_name("rules.py")])


@njit(cache=True)
def play():
    return rule()
"""


# Where numba keeps the cache: next to the module, in NUMBA_CACHE_DIR (a Docker image or a CI cache
# usually sets it), or in the user's cache directory (a read-only install; forced here, since the
# tests run as root and cannot make the package read-only).
CACHE_PLACES = {
    "in-tree": {},
    "NUMBA_CACHE_DIR": {"NUMBA_CACHE_DIR": "{tmp}/numba-cache"},
    "user-wide": {"NUMBA_CACHE_LOCATOR_CLASSES": "UserWideCacheLocator", "XDG_CACHE_HOME": "{tmp}/xdg-cache"},
}


def _play(tmp_path: Path, place: str = "in-tree") -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_CACHE_LOCATOR_CLASSES")}
    env.update({k: v.format(tmp=tmp_path) for k, v in CACHE_PLACES[place].items()})
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    out = subprocess.run(
        [sys.executable, "-c", "from toy.sim import play; print(play())"],
        env=env, capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    return int(out.stdout.strip())


@pytest.mark.parametrize("place", CACHE_PLACES)
def test_editing_a_called_module_recompiles_the_cached_caller(tmp_path: Path, place: str) -> None:
    if place == "user-wide" and not hasattr(numba.core.config, "CACHE_LOCATOR_CLASSES"):
        pytest.skip(f"numba {numba.__version__} has no NUMBA_CACHE_LOCATOR_CLASSES to force the user-wide cache with")
    pkg = tmp_path / "toy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "rules.py").write_text(CALLEE.format(value=1))
    (pkg / "sim.py").write_text(CALLER)
    assert _play(tmp_path, place) == 1
    cached = sorted(tmp_path.rglob("sim.*.nb[ic]"))
    assert cached, "the caller's kernel was not cached, so the test shows nothing"
    assert all((p.parent == pkg / "__pycache__") == (place == "in-tree") for p in cached), (
        f"numba did not cache where the {place} case expects: {cached}"
    )

    stamps = {p: p.stat().st_mtime_ns for p in cached}
    assert _play(tmp_path, place) == 1
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps, "an unchanged source must keep the cache"

    (pkg / "rules.py").write_text(CALLEE.format(value=2))
    assert _play(tmp_path, place) == 2


def test_every_module_with_cached_kernels_checks_its_dependencies() -> None:
    decorator = re.compile(r"^@njit\(.*cache=True", re.M)
    compiled = [p for d in ("envs", "agents") for p in (ROOT / d).rglob("*.py") if decorator.search(p.read_text())]
    assert compiled
    for path in compiled:
        assert re.search(r"^drop_stale_numba_cache\(__file__", path.read_text(), re.M), (
            f"{path.relative_to(ROOT)} caches numba kernels but does not call drop_stale_numba_cache(__file__)"
        )
    simulator = {p.resolve() for p in compiled if p.parent == KERNEL_SOURCES[0].parent}
    assert simulator <= {p.resolve() for p in KERNEL_SOURCES}, "a simulator module with kernels is missing from KERNEL_SOURCES"
