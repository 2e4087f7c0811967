"""Run a sweep on Ray Tune and write its results: ``python -m agents.sweep`` (``make sweep``).

Ray runs on this machine unless ``RAY_ADDRESS`` names a cluster (then ``--storage`` must be a path, or a URI such
as ``s3://``, that every node reaches). Results land in ``<storage>/<name>/``: one folder per trial (Tune's
``progress.csv``, ``result.json``, TensorBoard events, its last checkpoint), and the sweep's own
``results.md`` / ``results.json`` (every trial, best first, dev figures with Wilson 95% intervals) and
``best_config.json`` (a DQN preset: ``python -m agents.dqn.train --config-file`` trains it) or
``best_command.txt`` (the hybrid agent's training command).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from agents.sweep.space import ALGORITHMS, Plan, SpaceError, load_plan

DEFAULT_STORAGE = "runs/sweep"


def local_cpus() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def init_ray(cpus: int | None = None, temp_dir: str | None = None) -> str | None:
    """Start Ray on this machine (``cpus`` cores, default all), or join the cluster ``RAY_ADDRESS`` names.
    Returns the address joined (None: local). The dashboard stays off and Ray's usage statistics unsent."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    else:
        ray.init(address="local", num_cpus=cpus or local_cpus(), include_dashboard=False, _temp_dir=temp_dir)
    return address


def make_tuner(plan: Plan, name: str, storage: str, trials: int, minutes: float, concurrent: int | None,
               seed: int = 0, resume: bool = False):
    """The Tuner of ``plan``: OptunaSearch proposes, ASHA stops the trials behind at each rung, each trial asks
    for ``plan.resources`` (a ``game_window`` entry sends it only to nodes that declare one)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from agents.sweep.trainables import TRAINABLES

    res = dict(plan.resources)
    bundle = {"CPU": float(res.pop("cpu", 1))}
    if "gpu" in res:
        bundle["GPU"] = float(res.pop("gpu"))
    bundle.update({k: float(v) for k, v in res.items()})
    trainable = tune.with_resources(tune.with_parameters(TRAINABLES[plan.algorithm], plan=plan),
                                    tune.PlacementGroupFactory([bundle]))
    path = str(Path(storage) / name)
    start = base_point(plan)
    if resume:
        return tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True)
    return tune.Tuner(
        trainable,
        param_space=plan.tune_space(),
        tune_config=tune.TuneConfig(
            metric=plan.metric, mode="max",
            search_alg=OptunaSearch(seed=seed, points_to_evaluate=[start] if start else None),
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=plan.chunks,
                                    grace_period=min(plan.asha.get("grace_period", 1), plan.chunks),
                                    reduction_factor=plan.asha.get("reduction_factor", 2)),
            num_samples=trials, max_concurrent_trials=concurrent, time_budget_s=minutes * 60),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, verbose=1,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=1)),
    )


def base_point(plan: Plan) -> dict[str, Any] | None:
    """The recipe's own values of the searched settings (the DQN's base preset, the hybrid's ``base``), which
    Optuna tries first so that every sweep measures its starting point; None when one lies outside the space."""
    if plan.algorithm == "dqn":
        from agents.sweep.compare import reference_params

        point = reference_params(plan)
    else:
        point = {k: {**plan.base, **plan.fixed}.get(k) for k in plan.space}
    for k, dom in plan.space.items():
        (kind, args), = dom.items()
        v = point.get(k)
        inside = v in args if kind == "choice" else (
            isinstance(v, (int, float)) and not isinstance(v, bool) and args[0] <= v <= args[1])
        if not inside:
            return None
    return point


def _interval(k: int, n: int) -> str:
    from agents.evaluation.protocol import wilson

    if not n:
        return "-"
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def trial_rows(result_grid: Any, plan: Plan) -> list[dict[str, Any]]:
    """One row per trial that reported, best ``plan.metric`` first: its parameters, its last report."""
    rows = []
    for r in result_grid:
        m = r.metrics or {}
        if "dev_episodes" not in m:
            continue
        rows.append({"trial": Path(r.path).name, "params": {k: r.config[k] for k in plan.space if k in r.config},
                     "chunks": m.get("chunk"), "steps_per_seed": m.get("steps_per_seed"),
                     "dev_catch": m["dev_catch"], "dev_perfect": m.get("dev_perfect"),
                     "dev_score": m.get("dev_score"), "dev_caught": m["dev_caught"],
                     "dev_perfected": m.get("dev_perfected"),
                     "dev_episodes": m["dev_episodes"],
                     "per_seed": {k: v for k, v in m.items() if k.startswith("seed") and k.endswith("_catch")},
                     "checkpoint": r.checkpoint.path if r.checkpoint else None, "path": r.path,
                     "node_id": m.get("node_id"), "error": str(r.error) if r.error else None})
    rows.sort(key=lambda row: -row[plan.metric])
    return rows


def results_table(rows: list[dict[str, Any]], plan: Plan) -> str:
    """The trials as a Markdown table, best first, with Wilson 95% intervals over the pooled dev episodes."""
    names = list(plan.space)
    head = ["#", *names, "chunks", "dev catch [95% CI]", "dev perfect [95% CI]", "episodes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, row in enumerate(rows, 1):
        vals = [_fmt(row["params"].get(k)) for k in names]
        lines.append("| " + " | ".join([str(i), *vals, f"{row['chunks']}/{plan.chunks}",
                                        _interval(row["dev_caught"], row["dev_episodes"]),
                                        _interval(row["dev_perfected"], row["dev_episodes"])
                                        if row["dev_perfected"] is not None else "-",
                                        str(row["dev_episodes"])]) + " |")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def best_preset(plan: Plan, params: dict[str, Any], name: str) -> dict[str, Any]:
    """The winning DQN configuration as every DQNConfig field: the sweep's recipe with the trial's settings, the
    first training seed, the sweep's whole budget; ``python -m agents.dqn.train --config-file`` accepts it."""
    from agents.dqn.config import validate
    from agents.sweep.trainables import dqn_config

    cfg = dqn_config(plan, params, plan.seeds[0], name)
    from agents.dqn.config import PRESETS

    cfg = cfg.replace(final_dev_episodes=PRESETS[plan.base].final_dev_episodes)
    validate(cfg)
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def best_command(plan: Plan, params: dict[str, Any], name: str) -> str:
    """The hybrid agent's training command for the winning settings, over the sweep's whole budget."""
    from agents.sweep.trainables import hybrid_settings

    s = hybrid_settings(plan, params)
    parts = ["python -m agents.hybrid.train ppo", f"--env {s['env']}", f"--steps {plan.chunks * plan.chunk_steps}"]
    for k in ("n_envs", "n_steps", "batch_size", "n_epochs", "lr", "clip", "ent_coef", "vf_coef", "q_coef",
              "critic_warmup"):
        parts.append(f"--{k.replace('_', '-')} {s[k]}")
    parts.append("--norm-reward" if s["norm_reward"] else "--no-norm-reward")
    if s.get("init"):
        parts.append(f"--init {s['init']}")
    parts += [f"--seed {plan.seeds[0]}", f"--out runs/hybrid/{name}"]
    return " ".join(parts)


def write_results(result_grid: Any, plan: Plan, exp_dir: Path, name: str) -> dict[str, Any]:
    """results.md, results.json and the best configuration in ``exp_dir``; returns what results.json holds."""
    rows = trial_rows(result_grid, plan)
    summary: dict[str, Any] = {"algorithm": plan.algorithm, "preset": plan.preset, "space_file": plan.source,
                               "space": plan.space, "fixed": plan.fixed, "seeds": plan.seeds,
                               "chunk_steps": plan.chunk_steps, "chunks": plan.chunks,
                               "eval_episodes": plan.eval_episodes, "metric": plan.metric,
                               "trials_started": len(result_grid), "trials": rows}
    table = results_table(rows, plan)
    md = [f"# Sweep {name}: {plan.algorithm}, preset {plan.preset}", "",
          f"{len(rows)} trials reported; each trains seeds {plan.seeds} for up to {plan.chunks} chunks of "
          f"{plan.chunk_steps:,} steps; dev figures pooled over the seeds' {plan.eval_episodes} dev episodes each.",
          "", table, ""]
    if rows:
        best = rows[0]
        if plan.algorithm == "dqn":
            preset = best_preset(plan, best["params"], f"sweep_{name}".replace("/", "_"))
            (exp_dir / "best_config.json").write_text(json.dumps(preset, indent=2))
            summary["best_config"] = str(exp_dir / "best_config.json")
            md.append(f"Best configuration: `python -m agents.dqn.train --config-file {exp_dir / 'best_config.json'}`")
        else:
            cmd = best_command(plan, best["params"], f"sweep_{name}".replace("/", "_"))
            (exp_dir / "best_command.txt").write_text(cmd + "\n")
            summary["best_command"] = cmd
            md.append(f"Best configuration: `{cmd}`")
    (exp_dir / "results.md").write_text("\n".join(md) + "\n")
    (exp_dir / "results.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    return summary


def _json_default(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return str(v)


def run_sweep(plan: Plan, name: str, storage: str = DEFAULT_STORAGE, trials: int | None = None,
              minutes: float | None = None, resume: bool = False, cpus: int | None = None, seed: int = 0,
              temp_dir: str | None = None) -> dict[str, Any]:
    """Run (or, ``resume``, carry on) the sweep ``plan`` as experiment ``<storage>/<name>`` and write its
    results there; returns the summary results.json holds."""
    import ray

    storage = str(Path(storage).resolve()) if "://" not in storage else storage
    address = init_ray(cpus, temp_dir)
    try:
        total = int(ray.cluster_resources().get("CPU", 1))
        per = float(plan.resources.get("cpu", 1)) or 1.0
        concurrent = None if address else max(1, int(total // per))
        tuner = make_tuner(plan, name, storage, trials or plan.trials, minutes or plan.minutes, concurrent, seed,
                           resume)
        t0 = time.time()
        grid = tuner.fit()
        exp_dir = Path(grid.experiment_path) if "://" not in storage else Path(storage) / name
        exp_dir.mkdir(parents=True, exist_ok=True)
        summary = write_results(grid, plan, exp_dir, name)
        summary["wall_seconds"] = round(time.time() - t0, 1)
        (exp_dir / "results.json").write_text(json.dumps(summary, indent=2, default=_json_default))
        print((exp_dir / "results.md").read_text())
        print(f"results in {exp_dir}; TensorBoard: tensorboard --logdir {exp_dir}")
        return summary
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    """The command line of ``python -m agents.sweep``."""
    p = argparse.ArgumentParser(prog="python -m agents.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("algorithm", choices=ALGORITHMS, help="what to sweep (its space: agents/sweep/spaces/<it>.yaml)")
    p.add_argument("--preset", default="main", help="the preset of the space file (default main)")
    p.add_argument("--space-file", default=None, help="another search-space file in the same format")
    p.add_argument("--trials", type=int, default=None, help="configurations to try (default: the preset's)")
    p.add_argument("--minutes", type=float, default=None, help="wall time of the sweep (default: the preset's)")
    p.add_argument("--name", default=None, help="the experiment's folder under --storage (default <algorithm>-"
                                                "<preset>)")
    p.add_argument("--storage", default=None, help=f"where results go (default {DEFAULT_STORAGE}); with "
                                                   "RAY_ADDRESS, a path or URI every node reaches")
    p.add_argument("--resume", action="store_true", help="carry on the experiment --name from its checkpoints")
    p.add_argument("--cpus", type=int, default=None, help="local Ray's cores (default: all this process may use)")
    p.add_argument("--seed", type=int, default=0, help="Optuna's sampler seed")
    a = p.parse_args(argv)
    for opt, v in (("--trials", a.trials), ("--cpus", a.cpus)):
        if v is not None and v < 1:
            p.error(f"{opt}: must be at least 1, got {v}")
    if a.minutes is not None and not a.minutes > 0:
        p.error(f"--minutes: must be > 0, got {a.minutes}")
    if os.environ.get("RAY_ADDRESS") and not a.storage:
        p.error(f"RAY_ADDRESS={os.environ['RAY_ADDRESS']} names a cluster: pass --storage, a path every node "
                "reaches (a shared mount) or a URI such as s3://bucket/sweeps")
    try:
        plan = load_plan(a.algorithm, a.preset, a.space_file)
    except SpaceError as e:
        p.error(str(e))
    name = a.name or f"{a.algorithm}-{a.preset}"
    storage = a.storage or DEFAULT_STORAGE
    if a.resume and "://" not in storage and not (Path(storage) / name).is_dir():
        p.error(f"--resume: no experiment {Path(storage) / name} to resume")
    run_sweep(plan, name, storage, a.trials, a.minutes, a.resume, a.cpus, a.seed)
    sys.stdout.flush()
