"""The batched simulator's speed in this working tree against another commit, measured side by side.

    make bench-compare REF=HEAD~3     # or: python benchmarks/bench_compare.py --ref HEAD~3 [--rounds 5]

The shared host's load moves a single measurement by a few percent from hour to hour, more than
most changes to the kernel, so a figure from another day says little. This checks the commit out
into a temporary git worktree and alternates the two trees, one process each round (each tree
compiles and caches its own numba kernels first, untimed), and prints each round's env-steps/s and
the median of the per-round ratios, this tree over the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from envs.cli.argtypes import float_above, int_at_least

ROOT = Path(__file__).resolve().parents[1]

# Runs inside one tree (its own `envs` package first on the path) with this tree's measurement
# (bench_env.py), so both trees are timed by the same code whatever the reference's benchmarks were.
MEASURE = """
import sys
sys.path.insert(1, sys.argv[4])
import envs.stardew.sim
from bench_env import batched_steps_per_second
print(envs.stardew.sim.__file__)
print(batched_steps_per_second(int(sys.argv[1]), float(sys.argv[2]), windows=int(sys.argv[3])))
"""


def measure(tree: Path, games: int, seconds: float, trials: int) -> float:
    """Env-steps/s of the batched simulator in ``tree``, in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-c", MEASURE, str(games), str(seconds), str(trials), str(ROOT / "benchmarks")],
                          cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{done.stderr[-2000:]}")
    module, figure = done.stdout.strip().splitlines()[-2:]
    if not Path(module).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"measuring {tree} imported the simulator from {module}")
    return float(figure)


def compare(ref: str, rounds: int = 5, games: int = 4096, seconds: float = 0.5, trials: int = 8) -> dict:
    """Alternate this tree and commit ``ref`` for ``rounds`` rounds; each round's figures and the median ratio."""
    found = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True,
                           text=True)
    if found.returncode != 0:
        raise SystemExit(f"bench_compare: --ref {ref!r} is not a commit of {ROOT}: {found.stderr.strip()}")
    sha = found.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        tree = Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), sha], cwd=ROOT,
                       check=True)
        try:
            for t in (tree, ROOT):  # compile and cache each tree's kernels before any timing
                measure(t, 64, 0.01, 1)
            rows = []
            for _ in range(rounds):
                r = measure(tree, games, seconds, trials)
                w = measure(ROOT, games, seconds, trials)
                rows.append((w, r))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    return {"ref": ref, "sha": sha[:12], "games": games, "rounds": rows,
            "median_ratio": statistics.median(w / r for w, r in rows)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="HEAD", help="the commit to compare against (default HEAD: your uncommitted edits)")
    ap.add_argument("--rounds", type=int_at_least(1), default=5)
    ap.add_argument("--games", type=int_at_least(1), default=4096)
    ap.add_argument("--seconds", type=float_above(0.0), default=0.5, help="length of one timed window")
    ap.add_argument("--trials", type=int_at_least(1), default=8, help="timed windows per process; the best one counts")
    args = ap.parse_args(argv)
    res = compare(args.ref, args.rounds, args.games, args.seconds, args.trials)
    print(f"batched simulator, {res['games']} games, env-steps/s (best of {args.trials} windows of {args.seconds} s)")
    print(f"{'round':<8}{'this tree':>14}{'ref ' + res['sha']:>20}{'ratio':>9}")
    for k, (w, r) in enumerate(res["rounds"]):
        print(f"{k + 1:<8}{w:>14,.0f}{r:>20,.0f}{w / r:>9.3f}")
    print(f"median ratio, this tree / {res['ref']}: {res['median_ratio']:.3f}")


if __name__ == "__main__":
    main()
