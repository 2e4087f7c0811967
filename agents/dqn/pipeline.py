"""`make train-dqn`: the whole recipe behind the shipped DQN models, stage by stage.

    python -m agents.dqn.pipeline                          # every stage; resumes what a stopped run left
    python -m agents.dqn.pipeline --seed-levels 5 10       # the seed-contract model on levels 5..10
    python -m agents.dqn.pipeline --stages improve choice  # only these stages

Stages, in order (each one a command of its own, run here as a child process, so that two can share the two
cores and a stopped pipeline resumes where it was):

| stage     | what it writes                  | how                                                              |
|-----------|---------------------------------|------------------------------------------------------------------|
| `check`   | nothing                         | every run's settings, and that existing checkpoints resume under them |
| `members` | `runs/dqn/best`, `best_s2`      | the `best` recipe from two seeds, side by side (`agents.dqn.train`) |
| `distill` | `runs/dqn/best_distilled`, `seed` | the members' mean Q-values distilled into one network (`agents.dqn.distill`), while the seed-contract model trains beside it |
| `improve` | `runs/dqn/best_improved`        | the distilled network improved by simulator rollouts (`agents.dqn.improve`) |
| `choice`  | `runs/dqn/choice.json`          | the candidate with the best dev score, which `make export-onnx` exports |

About 26 minutes on a 2-core machine. Ctrl-C (or SIGTERM) stops every child with a checkpoint to resume from.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from agents.dqn.config import BEST_ENSEMBLE, DistillConfig, ImproveConfig, parse_cli

Stage = Literal["check", "members", "distill", "improve", "choice"]
STAGES: tuple[Stage, ...] = ("check", "members", "distill", "improve", "choice")
CHOICE_FILE = "choice.json"


@dataclass
class PipelineConfig:
    """What ``python -m agents.dqn.pipeline`` runs."""

    stages: tuple[Stage, ...] = STAGES  # the stages to run, in the pipeline's order
    seed_levels: tuple[int, int] = (0, 10)  # fishing levels of the seed-contract model
    nice: int = 10  # the training children's niceness, so that the machine stays usable


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


class Children:
    """The pipeline's child processes: a stop signal reaches every one of them as SIGTERM (which each training
    command turns into a checkpoint), and the pipeline then exits with 130 once they have ended."""

    def __init__(self, nice: int):
        self.nice = nice
        self.procs: dict[subprocess.Popen, IO[str] | None] = {}  # each child and the log file it writes, if any

    def start(self, cmd: list[str], log: Path | None = None) -> subprocess.Popen:
        out = open(log, "w") if log else None  # noqa: SIM115 - closed in wait(), when the child has ended
        kw = {"stdout": out, "stderr": subprocess.STDOUT} if out else {}
        p = subprocess.Popen(cmd, preexec_fn=lambda: os.nice(self.nice), **kw)
        self.procs[p] = out
        return p

    def wait(self, p: subprocess.Popen) -> int:
        rc = p.wait()
        out = self.procs.pop(p)
        if out:
            out.close()
        return rc

    def stop(self, signum: int, frame: object) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in list(self.procs):
            self.wait(p)
        raise SystemExit(130)


def run_side_by_side(children: Children, background: list[str], log: Path, foreground: list[str]) -> None:
    """``background`` (its output to ``log``) beside ``foreground`` (its output here); SystemExit unless both
    succeed. The background run's log ends are shown when it is done."""
    print(f"running in the background (log: {log}): {' '.join(background[2:])}", flush=True)
    bg = children.start(background, log)
    fg_rc = children.wait(children.start(foreground))
    bg_rc = children.wait(bg)
    print("".join(log.read_text().splitlines(keepends=True)[-25:]), end="", flush=True)
    if fg_rc or bg_rc:
        raise SystemExit(f"pipeline: {' '.join(foreground[2:])} exited {fg_rc}, "
                         f"{' '.join(background[2:])} exited {bg_rc} (log: {log})")


def choose(runs: Path, candidates: tuple[str, ...] = (ImproveConfig.name, DistillConfig.name)) -> dict:
    """The candidate run with the best dev score (catch rate + a quarter of the perfect rate, as checkpoints are
    chosen), from each run's ``summary.json``; written to ``runs/choice.json``, which the export reads."""
    from agents.dqn.train import dev_score

    scores = {}
    for name in candidates:
        summary = runs / name / "summary.json"
        if summary.exists():
            scores[name] = json.loads(summary.read_text())["best_dev"]
    if not scores:
        raise SystemExit(f"pipeline: no candidate run to choose from: none of {', '.join(candidates)} has a "
                         f"summary.json in {runs}")
    best = max(scores, key=lambda k: dev_score(scores[k]))
    choice = {"best": best, "dev": scores}
    (runs / CHOICE_FILE).write_text(json.dumps(choice, indent=2))
    for name, d in scores.items():
        print(f"{'*' if name == best else ' '} {name}: dev catch {d['catch']:.4f} perfect {d['perfect']:.4f} "
              f"score {dev_score(d):.4f} ({d['episodes']:,} dev seeds)")
    return choice


def run(cfg: PipelineConfig, runs: Path = Path("runs/dqn")) -> None:
    """The stages of ``cfg``, in order, on the runs in ``runs`` (where ``agents.dqn.train`` writes them)."""
    seed_args = ("--preset", "seed", "--level", *map(str, cfg.seed_levels))
    train = "agents.dqn.train"
    children = Children(cfg.nice)
    signal.signal(signal.SIGINT, children.stop)
    signal.signal(signal.SIGTERM, children.stop)
    for stage in STAGES:
        if stage not in cfg.stages:
            continue
        print(f"== {stage}", flush=True)
        if stage != "check":  # a refused setting leaves nothing behind
            runs.mkdir(parents=True, exist_ok=True)
        if stage == "check":
            for args in (seed_args, *(("--preset", m) for m in BEST_ENSEMBLE)):
                if children.wait(children.start(_python(train, *args, "--check"))):
                    raise SystemExit(2)
        elif stage == "members":
            first, *others = BEST_ENSEMBLE
            for other in others:  # one beside the first: two cores
                run_side_by_side(children, _python(train, "--preset", other, "--no-progress"),
                                 runs / f"{other}.log", _python(train, "--preset", first))
        elif stage == "distill":
            run_side_by_side(children, _python(train, *seed_args, "--no-progress"), runs / "seed.log",
                             _python("agents.dqn.distill", "--runs", str(runs)))
        elif stage == "improve":
            if children.wait(children.start(_python("agents.dqn.improve", "--runs", str(runs)))):
                raise SystemExit("pipeline: the improvement failed")
        elif stage == "choice":
            choose(runs)


def main(argv: list[str] | None = None) -> None:
    run(parse_cli(PipelineConfig, PipelineConfig(), argv, "python -m agents.dqn.pipeline", __doc__))


if __name__ == "__main__":
    main()
