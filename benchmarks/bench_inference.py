"""`make bench-inference`: per-call latency of each exported model in onnxruntime, one thread.

Times single calls as the mod makes them (one state per call: shape [3] for the seed contract,
[1, K] for the rich model), after a warm-up, and prints median and p99 in microseconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

MODELS = ("exported/autofisher_dqn.onnx", "exported/autofisher_dqn_rich.onnx")


def bench(path: str, calls: int = 20_000, warmup: int = 2_000) -> dict:
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
    return {"model": path, "input": f"{name} {inp.type} {inp.shape}", "calls": calls,
            "median_us": float(np.median(us)), "p99_us": float(np.percentile(us, 99)),
            "mean_us": float(us.mean())}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--json", default="reports/bench_inference.json")
    args = ap.parse_args(argv)
    res = []
    for m in MODELS:
        if not Path(m).exists():
            print(f"{m}: missing (run `make export-onnx`)")
            continue
        r = bench(m, args.calls)
        res.append(r)
        print(f"{m}: input {r['input']}: median {r['median_us']:.1f} us, p99 {r['p99_us']:.1f} us "
              f"({r['calls']:,} single calls, onnxruntime {ort.__version__}, 1 thread)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
