"""`make evaluate`: the population protocol on 5,000 held-out seeds for the baselines and the DQNs.

    python -m agents.evaluation [--episodes 5000] [--out DIR]

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

from agents.evaluation.model_card import write_model_card
from agents.evaluation.protocol import (
    TEST_SEED0,
    Episodes,
    act_on_active,
    dumps,
    figures,
    paired,
    protocol_options,
    run_episodes,
)
from agents.evaluation.report import markdown, plots
from envs.cli.argtypes import int_at_least
from envs.cli.paths import file_in_the_way
from envs.stardew.controllers import make_controller

EPISODES, OUT = 5000, "reports"  # the published evaluation
EXPORTED = "exported"
BASELINES = ("random", "naive", "braking", "lead", "lead_seed")
MODELS = {"dqn_best": "exported/autofisher_dqn_rich.onnx", "dqn_seed": "exported/autofisher_dqn.onnx"}
# the hybrid agent's PPO on the state env (`make train-hybrid RUN=ppo-state`, copied to exported/ppo_state), beside the DQN
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
            print(f"note: {Path(path).with_suffix('.pt')} not found, {name} left out (run `make train-hybrid RUN=ppo-state`)")
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
