"""The batched simulator's speed in this working tree against another commit, measured side by side.

    make bench-compare REF=HEAD~3     # or: python benchmarks/bench_compare.py --ref HEAD~3 [--rounds 5]

The shared host's load moves a single measurement by a few percent from hour to hour, more than
most changes to the kernel, so a figure from another day says little. This checks the commit out
into a temporary git worktree and alternates the two trees, one process each round (each tree
compiles and caches its own numba kernels first, untimed). Each round measures, at every batch size,
this tree on 1 and on 2 threads and the reference on 1 (a reference from before the ``num_threads``
option always steps on one), and prints the medians and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
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
import json, sys
sys.path.insert(1, sys.argv[1])
import envs.stardew.sim
from bench_env import batched_steps_per_second
spec = json.loads(sys.argv[2])
print(envs.stardew.sim.__file__)
print(json.dumps([batched_steps_per_second(n, spec["seconds"], spec["trials"], k) for n, k in spec["runs"]]))
"""


def measure(tree: Path, runs: list[tuple[int, int]], seconds: float, trials: int) -> list[float]:
    """Env-steps/s of the batched simulator in ``tree`` for each ``(games, threads)`` of ``runs``, in a fresh
    process."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    spec = json.dumps({"runs": runs, "seconds": seconds, "trials": trials})
    done = subprocess.run([sys.executable, "-c", MEASURE, str(ROOT / "benchmarks"), spec],
                          cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{done.stderr[-2000:]}")
    module, figures = done.stdout.strip().splitlines()[-2:]
    if not Path(module).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"measuring {tree} imported the simulator from {module}")
    return json.loads(figures)


def compare(ref: str, rounds: int = 5, games: int | tuple[int, ...] = (1, 256, 4096, 16384), seconds: float = 0.3,
            trials: int = 3, threads: tuple[int, ...] = (1, 2)) -> dict:
    """Alternate this tree (on each of ``threads``) and commit ``ref`` (on one thread) for ``rounds`` rounds.

    Returns the figures of every round, ``rounds[i][(games, label)]`` with label ``"ref"`` or the thread count,
    and per batch size the median ratio of each thread count to the reference, ``median_ratio[games][threads]``.
    """
    sizes = (games,) if isinstance(games, int) else tuple(games)
    found = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True,
                           text=True)
    if found.returncode != 0:
        raise SystemExit(f"bench_compare: --ref {ref!r} is not a commit of {ROOT}: {found.stderr.strip()}")
    sha = found.stdout.strip()
    mine = [(n, k) for n in sizes for k in threads]
    theirs = [(n, 1) for n in sizes]
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        tree = Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), sha], cwd=ROOT,
                       check=True)
        try:
            for t in (tree, ROOT):  # compile and cache each tree's kernels before any timing
                measure(t, [(64, 1)], 0.01, 1)
            rows = []
            for _ in range(rounds):
                row = {(n, "ref"): f for (n, _), f in zip(theirs, measure(tree, theirs, seconds, trials), strict=True)}
                row.update({(n, k): f for (n, k), f in zip(mine, measure(ROOT, mine, seconds, trials), strict=True)})
                rows.append(row)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    ratios = {n: {k: statistics.median(r[(n, k)] / r[(n, "ref")] for r in rows) for k in threads} for n in sizes}
    return {"ref": ref, "sha": sha[:12], "games": sizes, "threads": tuple(threads), "rounds": rows,
            "median_ratio": ratios}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="HEAD", help="the commit to compare against (default HEAD: your uncommitted edits)")
    ap.add_argument("--rounds", type=int_at_least(1), default=5)
    ap.add_argument("--games", type=int_at_least(1), nargs="+", default=[1, 256, 4096, 16384],
                    help="batch sizes (games stepped together)")
    ap.add_argument("--threads", type=int_at_least(1), nargs="+", default=[1, 2],
                    help="thread counts this tree is measured on (the reference steps on one)")
    ap.add_argument("--seconds", type=float_above(0.0), default=0.3, help="length of one timed window")
    ap.add_argument("--trials", type=int_at_least(1), default=3, help="timed windows per figure; the best one counts")
    args = ap.parse_args(argv)
    res = compare(args.ref, args.rounds, tuple(args.games), args.seconds, args.trials, tuple(args.threads))
    print(f"batched simulator, env-steps/s: medians of {args.rounds} alternating rounds (best of {args.trials} "
          f"windows of {args.seconds} s each); load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ts = res["threads"]
    head = "".join(f"{f'{k} thr':>13}" for k in ts) + f"{'ref ' + res['sha'][:7]:>13}"
    head += "".join(f"{f'{k} thr/ref':>11}" for k in ts)
    print(f"{'games':<8}{head}")
    for n in res["games"]:
        med = [statistics.median(r[(n, k)] for r in res["rounds"]) for k in (*ts, "ref")]
        cells = "".join(f"{m:>13,.0f}" for m in med)
        cells += "".join(f"{res['median_ratio'][n][k]:>10.2f}x" for k in ts)
        print(f"{n:<8,}{cells}")
    print(f"ratios: this tree / {res['ref']} (on one thread), the median of the rounds' ratios")


if __name__ == "__main__":
    main()
