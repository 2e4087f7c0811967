"""A DQN sweep's winner beside the recipe it started from, on more dev seeds and on the held-out test seeds.

    python -m agents.sweep.compare runs/sweep/dqn-main --dev-episodes 5000 --test-episodes 5000

The reference is the base preset's own values of the searched settings, trained by the same code over the same
budget and training seeds as every trial (``--train-reference`` trains it, into ``<experiment>/reference``).
Each training seed's kept network (``best.pt``) plays the dev seeds (``DEV_SEED0..``) and then the held-out
test seeds (``TEST_SEED0..``, as ``make evaluate`` plays them); results go to ``compare.json`` and ``compare.md``
beside the sweep's results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from agents.sweep.space import load_plan


def reference_params(plan: Any) -> dict[str, Any]:
    """The base preset's values of the searched settings (tuples written as the space writes them)."""
    from agents.dqn.config import PRESETS

    base = dataclasses.asdict(PRESETS[plan.base].replace(**plan.settings({})))
    return {k: ",".join(map(str, base[k])) if isinstance(base[k], (tuple, list)) else base[k] for k in plan.space}


def train_reference(exp: Path, plan: Any) -> Path:
    """Train (or resume) the reference over the sweep's budget, each training seed in turn."""
    from agents.dqn.train import train
    from agents.sweep.trainables import dqn_config

    out = exp / "reference"
    for seed in plan.seeds:
        cfg = dqn_config(plan, reference_params(plan), seed, f"seed{seed}")
        train(cfg, out_dir=out / cfg.name, progress=False)
    return out


def figures(run_dirs: list[Path], episodes: int, seed0: int, plan: Any) -> dict[str, Any]:
    """Each seed's best.pt on ``episodes`` games from ``seed0``, and the seeds pooled (Wilson 95% intervals)."""
    from agents.dqn.train import GreedyPolicy, load_q
    from agents.evaluation.protocol import protocol_config, run_episodes, summarize, wilson

    per_seed, caught, perfected, n = {}, 0, 0, 0
    for d in run_dirs:
        s = summarize(run_episodes(GreedyPolicy(load_q(d / "best.pt")), n=episodes, seed0=seed0,
                                   config=protocol_config()))
        per_seed[d.name] = s
        caught += round(s["catch"] * s["episodes"])
        perfected += round(s["perfect"] * s["episodes"])
        n += s["episodes"]
    return {"per_seed": per_seed, "episodes": n, "catch": caught / n, "catch_ci95": wilson(caught, n),
            "perfect": perfected / n, "perfect_ci95": wilson(perfected, n)}


def main(argv: list[str] | None = None) -> None:
    """The command line of ``python -m agents.sweep.compare``."""
    from agents.evaluation.protocol import DEV_SEED0, TEST_SEED0

    p = argparse.ArgumentParser(prog="python -m agents.sweep.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", help="a DQN sweep's folder (<storage>/<name>, with results.json)")
    p.add_argument("--train-reference", action="store_true", help="train the reference first (or resume it)")
    p.add_argument("--dev-episodes", type=int, default=5000)
    p.add_argument("--test-episodes", type=int, default=0, help="held-out test seeds per network (0: none)")
    a = p.parse_args(argv)
    exp = Path(a.experiment)
    res = json.loads((exp / "results.json").read_text()) if (exp / "results.json").exists() else None
    plan = load_plan("dqn", res["preset"] if res else "main", res["space_file"] if res else None)
    if a.train_reference:
        train_reference(exp, plan)
    if res is None:
        return
    win = res["trials"][0]
    arms = {"winner": sorted(Path(win["checkpoint"]).glob("seed*")),
            "reference": sorted((exp / "reference").glob("seed*"))}
    out: dict[str, Any] = {"winner_params": win["params"], "reference_params": reference_params(plan),
                           "budget_steps_per_seed": plan.chunks * plan.chunk_steps, "seeds": plan.seeds}
    for arm, dirs in arms.items():
        if not dirs:
            continue
        out[arm] = {"dev": figures(dirs, a.dev_episodes, DEV_SEED0, plan)}
        if a.test_episodes:
            out[arm]["test"] = figures(dirs, a.test_episodes, TEST_SEED0, plan)
        print(arm, json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "per_seed"} for k, v in out[arm].items()}))
    (exp / "compare.json").write_text(json.dumps(out, indent=2))
    (exp / "compare.md").write_text(compare_table(out) + "\n")
    print(compare_table(out))


def compare_table(out: dict[str, Any]) -> str:
    """The winner and the reference, pooled over their training seeds, as a Markdown table. Every training seed
    plays the same game seeds, so the pooled interval is narrower than the seeds' spread: read both."""
    lines = ["| | settings | set | episodes | catch [95% CI] | perfect [95% CI] | catch per training seed |",
             "|---|---|---|---|---|---|---|"]
    for arm in ("winner", "reference"):
        if arm not in out:
            continue
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in out[f"{arm}_params"].items())
        for split in ("dev", "test"):
            if split in out[arm]:
                f = out[arm][split]
                seeds = ", ".join(f"{k} {100 * v['catch']:.1f}%" for k, v in f["per_seed"].items())
                lines.append(f"| {arm} | {params} | {split} | {f['episodes']} | {_pct(f['catch'], f['catch_ci95'])} "
                             f"| {_pct(f['perfect'], f['perfect_ci95'])} | {seeds} |")
    return "\n".join(lines)


def _pct(v: float, ci: Any) -> str:
    return f"{100 * v:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


if __name__ == "__main__":
    main()
