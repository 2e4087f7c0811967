"""`make evaluate`: the population protocol on 5,000 held-out seeds for the baselines and the DQNs.

    python -m agents.evaluate [--episodes 5000] [--out DIR]

Policies: the hand-written controllers (random, naive, braking, lead, and lead_seed: lead on the
seed's three values) and the models in ``exported/``: the two DQNs (their own weights, run batched in
float64: the same function onnxruntime computes, checked by ``make export-onnx``) and the state PPO. All play the same seeds (``TEST_SEED0 ..``), never used in training
or checkpoint choice. Writes ``evaluation.{json,md}`` and ``*.png`` to ``--out`` and prints the table.
``--out`` defaults to ``reports`` (the published evaluation) for the full 5,000 episodes, and to
``runs/evaluate-<episodes>`` for a shorter run, which must not replace the published figures.
Only the full run into ``reports`` rewrites the model card ``exported/README.md``; any other writes its
card to ``<out>/model_card.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from agents.population import (
    LEVELS,
    TEST_SEED0,
    Episodes,
    act_on_active,
    dumps,
    figures,
    paired,
    protocol_options,
    run_episodes,
)
from envs.argtypes import int_at_least
from envs.paths import file_in_the_way
from envs.stardew.controllers import make_controller
from envs.stardew.fish import fish_table

EPISODES, OUT = 5000, "reports"  # the published evaluation
EXPORTED = "exported"
BASELINES = ("random", "naive", "braking", "lead", "lead_seed")
MODELS = {"dqn_best": "exported/autofisher_dqn_rich.onnx", "dqn_seed": "exported/autofisher_dqn.onnx"}
# the hybrid agent's PPO on the state env (`make train-ppo-state`, copied to exported/ppo_state), beside the DQN
PPO_MODELS = {"ppo_state": "exported/ppo_state/policy"}


class PPOStatePolicy:
    """A state-based hybrid PPO policy (``agents.hybrid.policy.save_policy`` files) as an evaluation policy:
    it acts on the default visible features, greedily."""

    features = "default"

    def __init__(self, path: str):
        from agents.hybrid.evaluate import state_act_fn

        self._act = state_act_fn(path)

    supports_active = True  # run_episodes passes the games still playing; the policy keeps no history

    def act(self, sim, active: np.ndarray | None = None) -> np.ndarray:
        return act_on_active(self._act, sim.obs, active)


def _load(name: str, path: str, load):
    """``load(path)``, or a one-line error naming the policy and the file when the file is not a loadable model
    (a truncated download, a file of another kind): the reader's own traceback names neither."""
    try:
        return load(path)
    except Exception as e:  # whatever the reader raised (protobuf, onnx, torch, json), the file is at fault
        raise SystemExit(f"evaluate: {name}: cannot load {path}: {type(e).__name__}: {e}") from e


def learned_policies(models: dict[str, str] | None = None, ppo_models: dict[str, str] | None = None) -> dict:
    """The exported DQNs (``models``, by default ``MODELS``) and the state PPOs (``ppo_models``, by default
    ``PPO_MODELS``), those present, as policies."""
    from agents.dqn.onnx_io import OnnxPolicy

    policies: dict = {}
    for name, path in (MODELS if models is None else models).items():
        if Path(path).exists():
            policies[name] = _load(name, path, OnnxPolicy)
        else:
            print(f"note: {path} not found, {name} left out (run `make train-dqn export-onnx`)")
    for name, path in (PPO_MODELS if ppo_models is None else ppo_models).items():
        if Path(path).with_suffix(".pt").exists():
            policies[name] = _load(name, path, PPOStatePolicy)
        else:
            print(f"note: {Path(path).with_suffix('.pt')} not found, {name} left out (run `make train-ppo-state`)")
    return policies


def exported_models(folder: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """The paths ``MODELS`` and ``PPO_MODELS`` name, in ``folder`` instead of ``exported/``."""
    def moved(paths: dict[str, str]) -> dict[str, str]:
        return {k: str(Path(folder) / Path(v).relative_to(EXPORTED)) for k, v in paths.items()}

    return moved(MODELS), moved(PPO_MODELS)


def evaluate_all(episodes: int = 5000, seed0: int = TEST_SEED0, models: dict[str, str] | None = None,
                 ppo_models: dict[str, str] | None = None) -> dict:
    policies: dict = {name: make_controller(name) for name in BASELINES}
    policies.update(learned_policies(models, ppo_models))
    runs: dict[str, Episodes] = {}
    res: dict = {"protocol": {"episodes": episodes, "seeds": [seed0, seed0 + episodes - 1],
                              "config": protocol_options(),
                              "decisions": "every game tick (60 Hz)"},
                 "policies": {}}
    for name, pol in policies.items():
        t = time.time()
        ep = run_episodes(pol, n=episodes, seed0=seed0)
        runs[name] = ep
        res["policies"][name] = dict(figures(ep), eval_seconds=time.time() - t)
    ref = "lead"
    res["paired"] = {f"{name} vs {ref}": paired(runs[ref], ep) for name, ep in runs.items() if name != ref}
    if "braking" in runs:
        res["paired"].update({f"{name} vs braking": paired(runs["braking"], ep) for name, ep in runs.items()
                              if name.startswith(("dqn", "ppo"))})
    if "dqn_best" in runs and "ppo_state" in runs:
        res["paired"]["dqn_best vs ppo_state"] = paired(runs["ppo_state"], runs["dqn_best"])
    return res


def _pct(x: float | None) -> str:
    """A rate as a percentage; "-" for one over no episodes (NaN in memory, null in evaluation.json)."""
    return "-" if x is None or x != x else f"{100 * x:.1f}"


def _ticks(x: float | None) -> str:
    """Mean ticks to catch; "-" when nothing was caught."""
    return "-" if x is None or x != x else f"{x:.0f}"


def safety_cap_lines(res: dict) -> list[str]:
    """The protocol reports its safety cap when it fires: episodes that reached ``max_ticks`` without a catch or
    an escape (counted as not caught), per policy; no lines when none did (evaluation.json always has the counts,
    ``truncated`` in every summary)."""
    cap = res["protocol"]["config"]["max_ticks"]
    fired = {name: p["overall"]["truncated"] for name, p in res["policies"].items() if p["overall"]["truncated"]}
    if not fired:
        return []
    return ["", f"Safety cap fired: episodes that reached {cap:,} ticks without a catch or an escape (counted as not "
            "caught): " + ", ".join(f"{name} {k:,} of {res['policies'][name]['overall']['episodes']:,}"
                                   for name, k in fired.items())]


def markdown(res: dict) -> str:
    pol = res["policies"]
    p = res["protocol"]
    lines = [f"# Evaluation: population protocol, {p['episodes']:,} held-out seeds "
             f"({p['seeds'][0]}..{p['seeds'][1]}), every tick", "",
             "| policy | catch % (95% CI) | difficulty>=90 catch % | perfect % | mean ticks to catch |",
             "|---|---|---|---|---|"]
    for name, r in pol.items():
        o = r["overall"]
        lo, hi = o["catch_ci95"]
        lines.append(f"| {name} | {_pct(o['catch'])} ({_pct(lo)}-{_pct(hi)}) | {_pct(o['hard_catch'])} "
                     f"(n={o['hard_episodes']}) | {_pct(o['perfect'])} | {_ticks(o['mean_ticks_to_catch'])} |")
    lines += safety_cap_lines(res)
    lines += ["", "## Catch % by fishing level", "",
              "| policy | " + " | ".join(str(lv) for lv in LEVELS) + " |",
              "|---|" + "---|" * len(LEVELS)]
    for name, r in pol.items():
        lines.append(f"| {name} | " + " | ".join(_pct(r["per_level"][lv]["catch"]) for lv in LEVELS) + " |")
    lines += ["", "## Perfect % by fishing level", "",
              "| policy | " + " | ".join(str(lv) for lv in LEVELS) + " |",
              "|---|" + "---|" * len(LEVELS)]
    for name, r in pol.items():
        lines.append(f"| {name} | " + " | ".join(_pct(r["per_level"][lv]["perfect"]) for lv in LEVELS) + " |")
    lines += ["", "## Paired comparisons (same seeds)", "",
              "| comparison | new successes | regressions | both caught | neither |", "|---|---|---|---|---|"]
    for k, v in res["paired"].items():
        lines.append(f"| {k} | {v['new_successes']} | {v['regressions']} | {v['both']} | {v['neither']} |")
    names = list(pol)
    lines += ["", "## Catch % by fish", "", "| fish | difficulty | motion | n | " + " | ".join(names) + " |",
              "|---|---|---|---|" + "---|" * len(names)]
    for f in sorted(fish_table(), key=lambda f: (f.difficulty, f.name)):
        rows = [pol[nm]["per_fish"].get(f.name) for nm in names]
        if rows[0] is None:
            continue
        lines.append(f"| {f.name} | {f.difficulty} | {f.behavior} | {rows[0]['episodes']} | "
                     + " | ".join(_pct(r["catch"]) for r in rows) + " |")
    return "\n".join(lines) + "\n"


def plots(res: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pol = res["policies"]
    files = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, r in pol.items():
        axes[0].plot(LEVELS, [100 * r["per_level"][lv]["catch"] for lv in LEVELS], marker="o", label=name)
        axes[1].plot(LEVELS, [100 * r["per_level"][lv]["perfect"] for lv in LEVELS], marker="o", label=name)
    for ax, t in zip(axes, ("catch %", "perfect %"), strict=True):
        ax.set_xlabel("fishing level")
        ax.set_ylabel(t)
        ax.set_title(f"{t} by fishing level ({res['protocol']['episodes']:,} held-out seeds)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    files.append(out / "by_level.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    fishes = sorted(fish_table(), key=lambda f: (f.difficulty, f.name))
    names = [f.name for f in fishes if f.name in next(iter(pol.values()))["per_fish"]]
    fig, ax = plt.subplots(figsize=(16, 5))
    x = np.arange(len(names))
    width = 0.8 / len(pol)
    for i, (name, r) in enumerate(pol.items()):
        ax.bar(x + i * width, [100 * r["per_fish"][f]["catch"] for f in names], width, label=name)
    ax.set_xticks(x + 0.4, [f"{f} ({r})" for f, r in zip(names, [fish.difficulty for fish in fishes
                                                                     if fish.name in names], strict=True)],
                  rotation=90, fontsize=7)
    ax.set_ylabel("catch %")
    ax.set_title("catch % by fish (difficulty), sorted by difficulty")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.append(out / "by_fish.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    return files


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int_at_least(1), default=EPISODES)
    ap.add_argument("--out", default=None, help=f"folder to write to (default: {OUT} for the full "
                    f"{EPISODES:,} episodes, runs/evaluate-<episodes> for fewer)")
    ap.add_argument("--exported", default=EXPORTED, help="folder of the exported models (and the model card)")
    args = ap.parse_args(argv)
    if not Path(args.exported).is_dir():
        # a mistyped folder would otherwise drop every learned policy with only a note and evaluate the baselines
        ap.error(f"--exported {args.exported}: no such folder")
    if args.out is None:
        # a quick look with fewer episodes replaced the published reports, which the README and the model card quote
        args.out = OUT if args.episodes == EPISODES else f"runs/evaluate-{args.episodes}"
    out = Path(args.out)
    blocker = out if out.exists() and not out.is_dir() else file_in_the_way(out)
    if blocker is not None:  # before minutes of evaluation, not a FileExistsError after them
        ap.error(f"--out {out}: {blocker} is a file, not a folder")
    # one torch thread: with torch's default two on a busy 2-core machine, batched forwards stall badly
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    out.mkdir(parents=True, exist_ok=True)
    models, ppo_models = exported_models(args.exported)
    res = evaluate_all(args.episodes, models=models, ppo_models=ppo_models)
    md = markdown(res)
    (out / "evaluation.json").write_text(dumps(res))
    (out / "evaluation.md").write_text(md)
    files = plots(res, out)
    from agents.dqn.model_card import write_model_card

    # the model card quotes the published figures: only a full run (the default episodes and --out) rewrites it
    full = args.episodes == EPISODES and out.resolve() == Path(OUT).resolve()
    # a partial run's card must point at its own tables, not at the published reports/evaluation.md
    card = (write_model_card(res, Path(args.exported)) if full else
            write_model_card(res, Path(args.exported), out / "model_card.md", str(out / "evaluation.md")))
    print(md.split("\n## Catch % by fish")[0])
    print("wrote", out / "evaluation.json", out / "evaluation.md", *files, *([card] if card else []))
    if card and not full:
        print(f"note: the model card {Path(args.exported) / 'README.md'} is left as it is (only a run with the "
              f"default --episodes {EPISODES} and --out {OUT} rewrites it); this run's card is {card}")


if __name__ == "__main__":
    main()
