"""`make bench BENCH=inference`: per-call latency of each exported model in onnxruntime, one thread.

Times single calls as the mod makes them (one state per call: shape [3] for the seed contract,
[1, K] for the rich model), after a warm-up, and prints median and p99 in microseconds.

Reference, measured in the same run: a graph with the seed contract's input and output and a single
linear layer (3 -> 2 in float64). It is onnxruntime's per-call floor on this machine, so the ratio
model / reference says how much of a call the network itself costs.

With the training output at hand (``runs/dqn``), it also times the graph the rich model would be
without distillation: the distilled network's teachers as branches of one graph (their mean Q).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from envs.cli.argtypes import int_at_least

MODELS = ("exported/autofisher_dqn.onnx", "exported/autofisher_dqn_rich.onnx")


def reference_model() -> bytes:
    """The seed contract's input ("0", double [3]) through one 3 -> 2 linear layer: the runtime's floor."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((3, 2)), "W")
    b = numpy_helper.from_array(np.zeros(2), "b")
    nodes = [helper.make_node("MatMul", ["0", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["q"])]
    graph = helper.make_graph(nodes, "reference", [helper.make_tensor_value_info("0", TensorProto.DOUBLE, [3])],
                              [helper.make_tensor_value_info("q", TensorProto.DOUBLE, [2])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def bench(path: str | bytes, calls: int = 20_000, warmup: int = 2_000, label: str | None = None) -> dict:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in inp.shape]
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1.0, 1.0, size=(256, *shape)) * (100.0 if len(shape) == 1 else 1.0)
    name = inp.name
    for i in range(warmup):
        sess.run(None, {name: xs[i % 256]})
    t = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        x = xs[i % 256]
        t0 = clock()
        sess.run(None, {name: x})
        t[i] = clock() - t0
    us = t / 1000.0
    return {"model": label or path, "input": f"{name} {inp.type} {inp.shape}", "calls": calls,
            "median_us": float(np.median(us)), "p99_us": float(np.percentile(us, 99)),
            "mean_us": float(us.mean())}


def ensemble_model(runs: Path = Path("runs/dqn")) -> tuple[str, bytes] | None:
    """The undistilled ensemble of the shipped rich model's teachers as one graph, or None without them."""
    from agents.dqn.config import DistillConfig

    teachers = [runs / t / "best.pt" for t in DistillConfig().teachers]
    if not all(p.exists() for p in teachers):
        return None
    from agents.dqn.model import QEnsemble, folded_members
    from agents.dqn.onnx_io import build_mlp_onnx
    from agents.dqn.train import load_q

    q = QEnsemble([load_q(p) for p in teachers])
    model = build_mlp_onnx(folded_members(q), "obs", ["N", len(q.feature_names) * q.stack], "q", ["N", 2], {},
                           "benchmark only")
    return f"ensemble of {len(teachers)} (not shipped: {'+'.join(p.parent.name for p in teachers)})", \
        model.SerializeToString()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int_at_least(1), default=20_000)  # a median and a p99 need a call
    ap.add_argument("--json", default="reports/bench_inference.json")
    args = ap.parse_args(argv)
    ref = bench(reference_model(), args.calls, label="reference (one 3->2 layer)")
    print(f"reference (one linear layer, same contract): median {ref['median_us']:.1f} us, "
          f"p99 {ref['p99_us']:.1f} us")
    res = [ref]
    models: list[tuple[str, str | bytes]] = [(m, m) for m in MODELS]
    ens = ensemble_model()
    if ens is not None:
        models.append(ens)
    for label, m in models:
        if isinstance(m, str) and not Path(m).exists():
            print(f"{m}: missing (run `make export-onnx`)")
            continue
        r = bench(m, args.calls, label=label)
        res.append(r)
        r["median_ratio_to_reference"] = r["median_us"] / ref["median_us"]
        r["p99_ratio_to_reference"] = r["p99_us"] / ref["p99_us"]
        print(f"{label}: input {r['input']}: median {r['median_us']:.1f} us, p99 {r['p99_us']:.1f} us "
              f"({r['calls']:,} single calls, onnxruntime {ort.__version__}, 1 thread); "
              f"x{r['median_ratio_to_reference']:.2f} / x{r['p99_ratio_to_reference']:.2f} the reference")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
