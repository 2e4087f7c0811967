"""Bridge latency on loopback: ``make bench BENCH=bridge`` (prints figures; asserts nothing).

For each policy (a scripted tracker on the default features; a small ONNX Q-network on the seed's raw
features, input "0" double[3] -> 2 Q-values, as the mod runs it) against the reference server, run
as a separate process like the game:

* lock-step: ``env.step`` wall time = the full round trip (action out, the server's tick, the
  next state in, mirrored into the env's observation and reward), median and p99;
* real time at 60 Hz: the server's state-to-action round trip (state sent -> the action answering
  it received; includes the agent's decode, observation, policy and encode), median and p99, and the
  ticks that ran without the answer to the previous state (late/missed).

Usage: python benchmarks/bench_bridge.py [--ticks 3000] [--lockstep-steps 5000] [--onnx PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.cli.argtypes import int_at_least  # noqa: E402
from envs.stardew.fishing_env import StardewFishingEnv  # noqa: E402

GAME = {"fish": ["Pufferfish", "Largemouth Bass", "Sunfish"], "level": (3, 8)}


def make_tiny_onnx(path: Path, hidden: int = 32, seed: int = 0) -> None:
    """A 3 -> hidden -> 2 MLP in float64 with the seed's contract: input "0" double[3], 2 Q-values out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.05, (3, hidden))
    b1 = np.zeros(hidden)
    w2 = rng.normal(0, 0.3, (hidden, 2))
    b2 = np.zeros(2)
    inits = [numpy_helper.from_array(a.astype(np.float64), n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    nodes = [helper.make_node("MatMul", ["0", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["hr"]), helper.make_node("MatMul", ["hr", "w2"], ["q"]),
             helper.make_node("Add", ["q", "b2"], ["output"])]
    graph = helper.make_graph(nodes, "tiny_q", [helper.make_tensor_value_info("0", TensorProto.DOUBLE, [3])],
                              [helper.make_tensor_value_info("output", TensorProto.DOUBLE, [2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


class OnnxPolicy:
    """The mod's in-process policy, in Python: raw [bar, fish, bar speed] -> argmax Q."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.name = self.sess.get_inputs()[0].name
        self.buf = np.zeros(3, dtype=np.float64)

    def __call__(self, obs: np.ndarray) -> int:
        self.buf[:] = obs[:3]
        q = self.sess.run(None, {self.name: self.buf})[0]
        return int(q[1] > q[0])


def track(obs: np.ndarray) -> int:
    return int(obs[5] < 0)


def start_server(mode: str, stats: Path) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, "-m", "envs.stardew.serve", "--port", "0", "--max-connections", "2", "--quiet",
           "--stats", str(stats), "--fish", ",".join(GAME["fish"]), "--level", "3-8", "--seed", "1", f"--{mode}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = proc.stdout.readline()
    return proc, int(line.split("127.0.0.1:")[1].split()[0])


def stop_server(proc: subprocess.Popen, stats: Path) -> dict:
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(timeout=10)
    return json.loads(stats.read_text()) if stats.exists() else {}


def pct(values: list[float] | np.ndarray) -> tuple[float, float, float]:
    a = np.asarray(values) * 1e3
    return float(np.median(a)), float(np.percentile(a, 99)), float(a.max())


def run(mode: str, policy, features: str | None, steps: int, tmp: Path) -> dict:
    stats_path = tmp / f"stats-{mode}-{features}.json"
    proc, port = start_server(mode, stats_path)
    step_times = []
    episodes = 0
    late = missed = 0
    env = StardewFishingEnv(backend="socket", port=port, features=features, **GAME)
    try:  # warm up on a first connection (numba, onnxruntime), measure on a second
        obs, _ = env.reset(seed=0)
        for _ in range(200):
            obs, _, te, tr, _ = env.step(policy(obs))
            if te or tr:
                obs, _ = env.reset()
    finally:
        env.close()
    gc.collect()
    gc.freeze()  # as a real-time agent should: see the README, bridge section, "Latency"
    env = StardewFishingEnv(backend="socket", port=port, features=features, **GAME)
    try:
        obs, _ = env.reset(seed=1)
        late0, missed0 = env._remote.late_total, env._remote.missed_total
        n = 0
        while n < steps:
            a = policy(obs)
            t = time.perf_counter()
            obs, _, te, tr, info = env.step(a)
            step_times.append(time.perf_counter() - t)
            n += 1
            if te or tr:
                episodes += 1
                obs, _ = env.reset()
        late = env._remote.late_total - late0
        missed = env._remote.missed_total - missed0
    finally:
        env.close()
    server = stop_server(proc, stats_path)
    measured = server["per_connection"][-1] if server.get("per_connection") else {}
    rtt = measured.get("round_trips", [])
    return {"step": pct(step_times), "rtt": pct(rtt) if rtt else (0, 0, 0), "late": late, "missed": missed,
            "server_late": measured.get("late_ticks", 0), "server_behind": measured.get("late_ticks_server_behind", 0), "ticks": measured.get("minigame_ticks", 0),
            "episodes": episodes, "steps": steps}


_ECHO = """
import socket, sys
srv = socket.create_server(("127.0.0.1", 0)); print(srv.getsockname()[1], flush=True)
c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    d = c.recv(64)
    if not d: break
    c.sendall(d)
"""


def baseline_ping_pong(n: int) -> tuple[float, float, float]:
    """The machine's floor: 8-byte ping-pong with a bare Python echo process (no JSON, no env)."""
    import socket

    proc = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            times = []
            for i in range(n + 200):
                t = time.perf_counter()
                s.sendall(b"pingpong")
                got = 0
                while got < 8:
                    got += len(s.recv(64))
                if i >= 200:
                    times.append(time.perf_counter() - t)
    finally:
        proc.wait(timeout=10)
    return pct(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int_at_least(1), default=3000, help="real-time steps per policy (60 per second)")
    ap.add_argument("--lockstep-steps", type=int_at_least(1), default=5000)
    ap.add_argument("--onnx", default=None, help="an exported policy (default: a tiny MLP made here)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        onnx_path = Path(args.onnx) if args.onnx else tmp / "tiny_q.onnx"
        if not args.onnx:
            make_tiny_onnx(onnx_path)
        policies = [("scripted tracker", track, None), (f"ONNX {onnx_path.name}", OnnxPolicy(onnx_path), "seed")]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"bridge round trip on loopback (reference server in its own process; {os.cpu_count()} CPUs, "
              f"load average {load:.1f})")
        print(f"{'policy':<22} {'mode':<13} {'steps':>6} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} "
              f"{'late':>5} {'missed':>7}")
        floor, floor_p99, mx = baseline_ping_pong(args.lockstep_steps)
        print(f"{'(baseline: raw echo)':<22} {'ping-pong':<13} {args.lockstep_steps:>6} {floor:>10.3f} "
              f"{floor_p99:>8.3f} {mx:>8.3f}     -       -   (two bare processes, 8-byte messages: the machine's floor)")
        for name, pol, feats in policies:
            r = run("lockstep", pol, feats, args.lockstep_steps, tmp)
            med, p99, mx = r["step"]
            print(f"{name:<22} {'lock-step':<13} {r['steps']:>6} {med:>10.3f} {p99:>8.3f} {mx:>8.3f} {r['late']:>5} "
                  f"{r['missed']:>7}   (env.step round trip; {med / floor:.1f}x the raw echo's median, "
                  f"{p99 / floor_p99:.1f}x its p99)")
            r = run("realtime", pol, feats, args.ticks, tmp)
            med, p99, mx = r["rtt"]
            print(f"{name:<22} {'real-time 60':<13} {r['steps']:>6} {med:>10.3f} {p99:>8.3f} {mx:>8.3f} "
                  f"{r['late']:>5} {r['missed']:>7}   (state->action at the server; late ticks counted by the "
                  f"server {r['server_late']} of {r['ticks']}, {r['server_behind']} of them while the server "
                  f"caught up after a stall of its own; {r['episodes']} episodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
