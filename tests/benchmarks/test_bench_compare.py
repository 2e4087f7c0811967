"""`make bench-compare`: the batched simulator of this tree against another commit, side by side."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compare import compare  # noqa: E402


def _worktrees() -> list[str]:
    out = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.startswith("worktree ")]


@pytest.fixture(autouse=True)
def _git_checkout() -> None:
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")


def test_a_ref_that_is_not_a_commit_is_named_in_the_error() -> None:
    with pytest.raises(SystemExit, match="'no-such-ref' is not a commit"):
        compare("no-such-ref", rounds=1)


def test_compares_against_the_commit_in_its_own_worktree_and_removes_it() -> None:
    before = _worktrees()
    res = compare("HEAD", rounds=2, games=(64, 1024), seconds=0.02, trials=1, threads=(1,))
    assert len(res["rounds"]) == 2
    assert all(set(r) == {(64, 1), (64, "ref"), (1024, 1), (1024, "ref")} for r in res["rounds"])
    assert all(f > 0 for r in res["rounds"] for f in r.values())
    assert set(res["median_ratio"]) == {64, 1024} and all(res["median_ratio"][n][1] > 0 for n in (64, 1024))
    assert _worktrees() == before  # the temporary worktree is gone
