"""Export trained DQNs to ONNX and verify every export.

    python -m agents.dqn.export            # runs/dqn/{seed,best_improved}/best.pt -> exported/*.onnx

* ``exported/autofisher_dqn.onnx``: the seed mod's contract: one input named ``"0"``,
  tensor(double), shape [3] (no batch dimension), the raw game values (bobberBarPos, bobberPosition,
  bobberBarSpeed); one output of two float64 Q-values, index 1 = hold the button; the scaling is
  inside the graph; opset 13, IR version 8; one file.
* ``exported/autofisher_dqn_rich.onnx``: the best policy on the richer visible observation (by default
  ``runs/dqn/best_improved``: the ``BEST_ENSEMBLE`` distilled into one network, then improved by
  simulator rollouts (``agents/dqn/improve.py``); ``--best-runs a b``
  writes an ensemble's networks as branches of one graph, summed); input ``"obs"`` tensor(double)
  [N, K]; output ``"q"`` [N, 2]; feature names, order and scaling in ``metadata_props``.

Checks: onnx.checker (full); opset and IR version; onnxruntime against the torch network (float64)
on 10,000 states (max abs difference <= 1e-6, argmax agreement 100%); a short evaluation of the ONNX
policy itself (in onnxruntime) on the simulator. Results go to ``exported/export_report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from agents.dqn.config import ImproveConfig
from agents.dqn.model import RAW_SCALING, QEnsemble, QNetwork, folded_members
from agents.dqn.onnx_io import IR_VERSION, OPSET, OnnxPolicy, build_mlp_onnx, save_model
from agents.dqn.pipeline import CHOICE_FILE
from agents.dqn.train import RUNS, RunFileError, load_run_file, q_from_state
from agents.evaluation.protocol import DEV_SEED0, protocol_config, run_episodes, summarize
from envs.stardew import features as feats
from envs.stardew.controllers import LeadController, RandomController
from envs.stardew.sim import FishingSim

EXPORTED = Path("exported")
SEED_FILE = "autofisher_dqn.onnx"
RICH_FILE = "autofisher_dqn_rich.onnx"
MAX_ABS_DIFF = 1e-6


class ExportError(RuntimeError):
    """An exported file that fails its check (the message names the file and what is wrong)."""


def check_seed_contract(q: QNetwork | QEnsemble, source: str, config: dict | None = None) -> None:
    """Raise ValueError unless ``q`` reads exactly the seed mod's three raw inputs, in its order, one tick, and
    (``config``: the run's settings) was trained to decide on every tick, as the mod calls it."""
    seed = list(feats.PRESETS["seed"])
    if list(q.feature_names) != seed or q.stack != 1:
        raise ValueError(f"{source}: the seed-contract model must read exactly the seed mod's inputs {seed}, in "
                         f"that order, one tick (stack 1); this network reads {list(q.feature_names)} with stack "
                         f"{q.stack}. Train it with `python -m agents.dqn.train --preset seed`, or pass --seed-run "
                         "a run trained on features='seed' with stack=1")
    frame_skip = (config or {}).get("frame_skip", 1)
    if frame_skip != 1:
        raise ValueError(f"{source}: trained with frame_skip={frame_skip} (a decision every {frame_skip} ticks); "
                         "the seed mod runs the model on every tick, so the seed-contract model must be trained "
                         "with frame_skip=1")


def _train_meta(run: Path, st: dict | None = None) -> dict:
    """A run's training record; ``st``: its ``best.pt`` when the caller has already read it."""
    st = st if st is not None else load_run_file(run / "best.pt")
    summ = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    # the kept checkpoint's dev figures: from the final choice's larger dev set when the run made one
    best_dev = summ.get("best_dev") or st["best_eval"]
    meta = {"run": run.name, "config": st["config"], "best_dev": best_dev, "step": st["step"], "summary": summ}
    if "distilled" in st["config"]:  # a distilled network answers for the runs it learned from
        meta["members"] = [_train_meta(run.parent / t) for t in st["config"]["distilled"]["teachers"]
                           if (run.parent / t / "best.pt").exists()]
    return meta


def load_runs(runs: list[Path]) -> tuple[QNetwork | QEnsemble, dict]:
    """The policy of one run, or the ensemble of several, and its training record: the first run's
    (for one run, its own; for an ensemble, the shared recipe) with every member's under ``members``."""
    for run in runs:
        if not (run / "best.pt").exists():
            raise RunFileError(f"no training output {run / 'best.pt'}: run `make train-dqn` first")
    qs, infos = [], []
    for run in runs:
        st = load_run_file(run / "best.pt")  # each file read once
        try:
            qs.append(q_from_state(st))
            infos.append(_train_meta(run, st))
        except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as e:
            # a file torch reads but whose fields are not what training saved (weights of another shape...)
            first = str(e).splitlines()[0] if str(e) else ""
            raise RunFileError(f"{run / 'best.pt'}: not a DQN run's file ({type(e).__name__}: {first})") from None
    if len(qs) == 1:
        return qs[0], infos[0]
    try:
        return QEnsemble(qs), dict(infos[0], members=infos)
    except ValueError as e:  # its members are numbered: say which runs they are
        raise ValueError(f"runs {', '.join(str(r) for r in runs)} (members 0..{len(runs) - 1}): {e}") from None


def export_model(q: QNetwork | QEnsemble, path: Path, seed_contract: bool, train_info: dict) -> onnx.ModelProto:
    if seed_contract:
        check_seed_contract(q, train_info.get("run", str(path)), train_info.get("config"))
    names = list(q.feature_names)
    scaling = {n: {"loc": RAW_SCALING.get(n, (0.0, 1.0))[0], "scale": RAW_SCALING.get(n, (0.0, 1.0))[1],
                   "feature": feats.FEATURES[n].description} for n in names}
    meta = {
        "policy_name": "dqn_seed_contract" if seed_contract else "dqn_best",
        "feature_names": json.dumps(names),
        "frame_stack": str(q.stack),
        "input_layout": (f"[features at tick t, features at tick t-1, ...] ({q.stack} ticks x {len(names)} "
                         "features, newest first; at an episode's start the first observation fills the history)"),
        "feature_scaling": json.dumps(scaling),
        "input_note": ("raw game values; the network applies (x - loc) / scale itself" if seed_contract else
                       "features exactly as envs.stardew.features.write_obs computes them (see feature_scaling."
                       "feature); the network then applies (x - loc) / scale, identity for scaled features"),
        "actions": json.dumps({"0": "release the button", "1": "hold the button (bar moves up)"}),
        "decision_rate": f"every game tick (60 Hz), frame_skip={train_info['config']['frame_skip']}",
        "fishing_levels": json.dumps(train_info["config"]["level"]),
        "training": json.dumps({k: train_info["config"][k] for k in
                                ("n_step", "gamma", "dueling", "double", "hidden", "total_steps", "num_games")}),
        "dev_evaluation": json.dumps(train_info["best_dev"]),
    }
    if isinstance(q, QEnsemble):
        meta["ensemble"] = json.dumps(
            {"rule": f"mean of the {len(q.members)} members' Q-values (each a branch of this graph)",
             "members": [{"run": m.get("run"), "seed": m["config"]["seed"], "step": m["step"],
                          "dev_evaluation": m["best_dev"]} for m in train_info.get("members", [])]})
    branches = folded_members(q)
    if seed_contract:
        model = build_mlp_onnx(branches, "0", [3], "q_values", [2], meta,
                               "AutoFisher-SV drop-in: Q(release), Q(hold) from raw (bobberBarPos, bobberPosition, "
                               "bobberBarSpeed)")
    else:
        model = build_mlp_onnx(branches, "obs", ["N", len(names) * q.stack], "q", ["N", 2], meta,
                               "stardew-rl best DQN: Q(release), Q(hold) from the named visible features")
    save_model(model, path)
    return model


def verification_states(names: tuple[str, ...], n: int = 10_000, seed: int = 0) -> np.ndarray:
    """States the policy meets: half from games played by a controller, half uniform in the feature bounds."""
    rng = np.random.default_rng(seed)
    sim = FishingSim(256, protocol_config(), names)
    sim.reset(seeds=DEV_SEED0 + 700_000 + np.arange(256))
    ctl_a, ctl_b = LeadController(), RandomController(seed)
    rows = []
    while sum(len(r) for r in rows) < n // 2:
        a = np.where(rng.random(256) < 0.2, ctl_b.act(sim), ctl_a.act(sim))
        sim.step(a)
        rows.append(sim.obs[rng.random(256) < 0.1].astype(np.float64))
    played = np.concatenate(rows)[: n // 2]
    lo, hi = feats.bounds(names)
    lo = np.maximum(lo, -600.0).astype(np.float64)
    hi = np.minimum(hi, 600.0).astype(np.float64)
    uniform = rng.uniform(lo, hi, size=(n - len(played), len(names)))
    return np.concatenate([played, uniform])


def verify(path: Path, q: QNetwork | QEnsemble, seed_contract: bool, eval_episodes: int = 200,
           name: Path | None = None) -> dict:
    """Check the ONNX file ``path`` against the mod's limits, the torch network and the simulator; errors and the
    report call it ``name`` (its final name, when ``path`` is a staged copy)."""
    name = name or path
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset > 15 or model.ir_version > 8:
        raise ExportError(f"{name}: opset {opset}, IR version {model.ir_version}; the mod's onnxruntime 1.10 loads at "
                          "most opset 15, IR version 8")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ExportError(f"{name}: weights stored as external data; the mod loads one self-contained file")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inp, outp = sess.get_inputs(), sess.get_outputs()
    contract = {"inputs": [(i.name, i.type, i.shape) for i in inp], "outputs": [(o.name, o.type, o.shape) for o in outp]}
    drop_in = ([(i.name, i.type, i.shape) for i in inp] == [("0", "tensor(double)", [3])]
               and [(o.type, o.shape) for o in outp] == [("tensor(double)", [2])])
    if seed_contract and not drop_in:
        raise ExportError(f"{name}: not the seed mod's contract (one input '0', tensor(double) [3]; one output, "
                          f"tensor(double) [2]): {contract}")
    states = verification_states(q.feature_names)
    if q.stack > 1:  # histories: this tick's features beside earlier ones (shuffled rows keep it general)
        rng = np.random.default_rng(1)
        states = np.concatenate([states] + [states[rng.permutation(len(states))] for _ in range(q.stack - 1)], 1)
    with torch.no_grad():
        ref = q.double()(torch.from_numpy(states)).numpy()
    q.float()
    if seed_contract:
        got = np.stack([sess.run(None, {"0": s})[0] for s in states])
    else:
        got = sess.run(None, {inp[0].name: states})[0]
    diff = float(np.abs(got - ref).max())
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    if not (diff <= MAX_ABS_DIFF and agree == 1.0):
        raise ExportError(f"{name}: onnxruntime differs from the torch network on {len(states):,} states: max |diff| "
                          f"{diff:.2e} (at most {MAX_ABS_DIFF:.0e}), argmax agreement {agree:.4%} (must be 100%)")
    # the ONNX policy itself (onnxruntime, one call per game and tick for the seed contract) on the simulator
    pol = OnnxPolicy(path, engine="onnxruntime")
    levels = tuple(json.loads(dict((p.key, p.value) for p in model.metadata_props)["fishing_levels"]))
    ep = run_episodes(pol, n=eval_episodes, seed0=DEV_SEED0 + 800_000, config=protocol_config(level=levels))
    return {"file": str(name), "bytes": path.stat().st_size, "opset": opset, "ir_version": model.ir_version,
            "contract": contract, "states": len(states), "max_abs_diff": diff, "argmax_agreement": agree,
            "onnxruntime_short_eval": summarize(ep)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m agents.dqn.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=str(RUNS))
    ap.add_argument("--out", default=str(EXPORTED))
    ap.add_argument("--seed-run", default="seed")
    ap.add_argument("--best-runs", nargs="+", default=None,
                    help="the rich model's run; several runs: one graph of their mean Q-values (an ensemble, at "
                         "the latency of all its networks); default: the run the pipeline's choice stage named in "
                         f"<runs>/{CHOICE_FILE}, else {ImproveConfig.name}")
    args = ap.parse_args(argv)
    if args.best_runs is None:
        choice = Path(args.runs) / CHOICE_FILE
        args.best_runs = [json.loads(choice.read_text())["best"] if choice.exists() else ImproveConfig.name]
    # one torch thread: with torch's default two on a busy 2-core machine, batched forwards stall badly
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    out = Path(args.out)
    # every run is read and checked before any file is written (a bad run leaves exported/ as it was)
    exports = []
    for run_names, fname, seed_contract in (([args.seed_run], SEED_FILE, True), (args.best_runs, RICH_FILE, False)):
        try:
            q, info = load_runs([Path(args.runs) / name for name in run_names])
            if seed_contract:
                check_seed_contract(q, str(Path(args.runs) / args.seed_run / "best.pt"), info.get("config"))
        except ValueError as e:  # RunFileError, a run off the seed contract, an ensemble that does not fit
            ap.error(str(e))  # a usage error (exit 2, one line naming the file), never a traceback
        exports.append((q, info, fname, seed_contract))
    out.mkdir(parents=True, exist_ok=True)
    # each model is written beside its final name and verified there; only when both pass do they replace the
    # shipped files, so a failed check leaves exported/ as it was, not half new and unverified
    staged = {fname: out / f".{fname}.part" for _, _, fname, _ in exports}
    report = {"opset": OPSET, "ir_version": IR_VERSION}
    try:
        for q, info, fname, seed_contract in exports:
            part = staged[fname]
            export_model(q, part, seed_contract, info)
            r = verify(part, q, seed_contract, name=out / fname)
            r["training"] = info
            if isinstance(q, QEnsemble):  # beside the members' own dev figures (the same seeds), for the record
                ep = run_episodes(OnnxPolicy(part), n=info["best_dev"]["episodes"], seed0=DEV_SEED0,
                                  config=protocol_config(level=tuple(info["config"]["level"])))
                r["ensemble_dev"] = summarize(ep)
            report[fname] = r
            s = r["onnxruntime_short_eval"]
            print(f"{fname}: opset {r['opset']} IR {r['ir_version']} max|diff| {r['max_abs_diff']:.2e} "
                  f"argmax agreement {r['argmax_agreement']:.0%}; onnxruntime on {s['episodes']} dev episodes: "
                  f"catch {s['catch']:.3f} perfect {s['perfect']:.3f}")
        for fname, part in staged.items():
            os.replace(part, out / fname)
    except ExportError as e:
        raise SystemExit(f"export: {e}\nexport: {out} is unchanged") from None
    finally:
        for part in staged.values():
            part.unlink(missing_ok=True)
    (out / "export_report.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
