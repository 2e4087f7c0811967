"""Distil an ensemble of trained Q-networks into one network of the members' size (policy distillation).

    python -m agents.dqn.distill                       # runs/dqn/{best,best_s2} -> runs/dqn/best_distilled

Why: greedy on the mean Q-values of two independently seeded runs plays better than either run
(on the dev seeds), but a graph with both networks costs twice the per-call latency in the mod
(``make bench BENCH=inference``: about 36 us median, 65 us p99, against 17-19 / 31 us for one network). The
student keeps the single-network cost and learns the ensemble's Q-values where the policies actually go.

Top to bottom, DAgger-style (Ross et al. 2011; Rusu et al. 2016 for Q-value distillation):
  1. The teacher plays the training population (the members' own game mix, training seeds) with a
     little epsilon for coverage; every state is stored with the teacher's Q-values.
  2. The student (initialised from the first member) regresses onto them: mean squared error on
     both Q-values plus, weighted, on their difference, which alone decides the action.
  3. ``rounds - 1`` more times the *student* plays (so that its own mistakes are in the data), the
     teacher labels those states, and the student trains on everything gathered so far.
The result is written like a training run (``best.pt``, ``summary.json``), with its dev-seed
evaluation beside the teacher's, so ``make export-onnx`` exports it as any other run.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from agents.dqn.config import (
    BEST_ENSEMBLE,
    ConfigError,
    DistillConfig,
    DQNConfig,
    ImproveConfig,
    check_derived_run,
)
from agents.dqn.model import QEnsemble, QNetwork
from agents.dqn.train import RUNS, Games, RunFileError, dev_score, evaluate_dev, load_q, saved_config


def collect(actor: torch.nn.Module, teacher: torch.nn.Module, games: Games, n_states: int, eps: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_states`` states met by ``actor`` (epsilon-greedy) in ``games``, with the teacher's Q-values."""
    obs, qs, got = [], [], 0
    x = games.obs
    while got < n_states:
        with torch.no_grad():
            xt = torch.from_numpy(x)
            tq = teacher(xt)
            aq = tq if actor is teacher else actor(xt)
        a = aq.argmax(dim=1).numpy()
        a = np.where(rng.random(len(a)) < eps, rng.integers(0, 2, len(a)), a)
        obs.append(x)
        qs.append(tq.numpy())
        got += len(x)
        games.step(a)
        x = games.obs
    return np.concatenate(obs)[:n_states], np.concatenate(qs)[:n_states]


def fit(student: QNetwork, obs: np.ndarray, target: np.ndarray, cfg: DistillConfig | ImproveConfig,
        rng: np.random.Generator) -> float:
    """``cfg.updates_per_round`` Adam steps of the distillation loss on random minibatches; the last loss."""
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.updates_per_round, eta_min=cfg.lr * 0.05)
    o_all, t_all = torch.from_numpy(obs), torch.from_numpy(target)
    loss = torch.zeros(())
    for _ in range(cfg.updates_per_round):
        idx = torch.from_numpy(rng.integers(0, len(obs), cfg.batch_size))
        o, t = o_all[idx], t_all[idx]
        p = student(o)
        gap = (p[:, 1] - p[:, 0]) - (t[:, 1] - t[:, 0])
        loss = ((p - t) ** 2).mean() + cfg.gap_weight * (gap ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return float(loss.item())


def distill(cfg: DistillConfig, runs: Path = RUNS, progress: bool = True) -> dict:
    check_derived_run(cfg.name, {"teachers": cfg.teachers}, cfg.rounds)
    t0 = time.time()
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    members = [load_q(runs / name / "best.pt") for name in cfg.teachers]
    try:
        teacher = QEnsemble(members).eval()
    except ValueError as e:
        raise ConfigError(f"teachers {', '.join(cfg.teachers)}: {e}") from None
    recipe = saved_config(runs / cfg.teachers[0])
    train_cfg = DQNConfig.from_dict(recipe)
    games = Games(train_cfg, teacher.feature_names)
    games.reset(cfg.seed * 1_000_000)  # training seeds: below the dev and test ranges
    student = copy.deepcopy(members[0])  # a good start: the first member itself
    student.train()

    obs, target, log = [], [], []
    bar = tqdm(total=cfg.rounds, desc=cfg.name, unit="round", disable=not progress)
    for r in range(cfg.rounds):
        actor = teacher if r == 0 else student.eval()
        o, t = collect(actor, teacher, games, cfg.states_per_round, cfg.eps, rng)
        obs.append(o)
        target.append(t)
        student.train()
        loss = fit(student, np.concatenate(obs), np.concatenate(target), cfg, rng)
        student.eval()
        with torch.no_grad():
            agree = float((student(torch.from_numpy(o)).argmax(1) == torch.from_numpy(t).argmax(1)).float().mean())
        log.append({"round": r, "states": int(sum(len(x) for x in obs)), "loss": loss,
                    "action_agreement_on_new_states": agree})
        tqdm.write(f"[{cfg.name}] round {r}: {log[-1]['states']:,} states, loss {loss:.4f}, the student picks the "
                   f"teacher's action on {100 * agree:.2f}% of the states it met")
        bar.update(1)
    bar.close()

    dev_cfg = train_cfg.replace(eval_episodes=cfg.dev_episodes)
    student_dev = evaluate_dev(student, dev_cfg)
    teacher_dev = evaluate_dev(teacher, dev_cfg) if cfg.teacher_dev else None
    versus = (f"; teacher catch {teacher_dev['catch']:.4f} perfect {teacher_dev['perfect']:.4f} (score "
              f"{dev_score(teacher_dev):.4f})") if teacher_dev else ""
    tqdm.write(f"[{cfg.name}] dev ({cfg.dev_episodes:,} episodes): student catch {student_dev['catch']:.4f} "
               f"perfect {student_dev['perfect']:.4f} (score {dev_score(student_dev):.4f}){versus}")
    out = runs / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    # the recipe of the members (the student answers for their training), plus how it was distilled
    config = dict(recipe, name=cfg.name, distilled=dataclasses.asdict(cfg))
    st = {"config": config, "feature_names": list(student.feature_names), "hidden": list(train_cfg.hidden),
          "stack": student.stack, "dueling": student.dueling, "q": student.state_dict(), "step": 0,
          "best_eval": dict(student_dev, step=0)}
    torch.save(st, out / "best.pt")
    (out / "config.json").write_text(json.dumps(config, indent=2))
    summary = {"name": cfg.name, "teachers": list(cfg.teachers), "rounds": log, "wall_seconds": time.time() - t0,
               "best_dev": student_dev, "teacher_dev": teacher_dev,
               "members": {name: json.loads((runs / name / "summary.json").read_text())
                           for name in cfg.teachers if (runs / name / "summary.json").exists()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teachers", nargs="+", default=list(BEST_ENSEMBLE))
    ap.add_argument("--name", default=DistillConfig.name)
    ap.add_argument("--runs", default=str(RUNS))
    ap.add_argument("--teacher-dev", action="store_true", help="evaluate the ensemble on the dev seeds too")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = DistillConfig(name=args.name, teachers=tuple(args.teachers), teacher_dev=args.teacher_dev)
    try:
        print(json.dumps(distill(cfg, Path(args.runs), progress=not args.no_progress)["best_dev"], indent=2))
    except (ConfigError, RunFileError) as e:
        ap.error(str(e))


if __name__ == "__main__":
    main()
