"""Sweeps on Ray Tune: a local sweep of two tiny DQN trials end to end, and a two-node Ray cluster on 127.0.0.1
that sends a trial asking for a ``game_window`` to the node that declares one. Real Ray processes throughout;
each test checks that none of them outlives it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from agents.sweep.space import SpaceError, load_plan

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(1200)  # Ray's start-up alone takes a minute on a loaded 2-core machine


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else (int(fields[1]), int(fields[19]))


class RayProcesses:
    """Every process of one Ray instance, recorded while it runs: those whose command line names its temp
    folder (or its GCS port) and all their descendants (workers retitle themselves ``ray::...``). Processes are
    told apart from later ones with the same id by their start time."""

    def __init__(self, temp_dir: str, port: int | None = None):
        self.markers = [temp_dir] + ([f":{port} ", f"={port} "] if port else [])
        self.seen: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.scan()
            self._stop.wait(0.5)

    def scan(self) -> None:
        stats = {pid: st for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if (st := _stat(pid))}
        ours = {pid for pid in stats if any(m in _cmdline(pid) + " " for m in self.markers)}
        ours |= {pid for pid in self.seen if stats.get(pid, (0, -1))[1] == self.seen[pid]}
        grew = True
        while grew:  # descendants
            new = {pid for pid, (ppid, _) in stats.items() if ppid in ours} - ours
            ours |= new
            grew = bool(new)
        for pid in ours:
            self.seen.setdefault(pid, stats[pid][1])

    def alive(self) -> list[int]:
        return [pid for pid, t in self.seen.items() if (st := _stat(pid)) and st[1] == t]

    def wait_gone(self, seconds: float) -> list[int]:
        """Stop recording; wait up to ``seconds`` for every recorded process to exit; kill and return those left."""
        self.scan()
        self._stop.set()
        self._thread.join()
        deadline = time.time() + seconds
        while (left := self.alive()) and time.time() < deadline:
            time.sleep(0.5)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return left

    def terminate(self, grace: float = 20.0) -> list[int]:
        """Stop them by their ids (SIGTERM, then SIGKILL after ``grace`` s, as ``ray stop`` does, but only
        these); returns any still there after that."""
        self.scan()
        self._stop.set()
        self._thread.join()
        for pid in self.alive():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        self.wait_gone(grace)
        time.sleep(1.0)
        return self.alive()


@pytest.fixture
def ray_env(monkeypatch):
    """A short temp folder of its own for Ray (its socket paths must stay under 107 bytes), quiet logs, no usage
    statistics, no cluster address inherited."""
    temp = tempfile.mkdtemp(prefix="rayt", dir="/tmp")
    monkeypatch.setenv("RAY_DEDUP_LOGS", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield temp
    shutil.rmtree(temp, ignore_errors=True)


def test_a_local_sweep_reports_every_trial_keeps_checkpoints_and_writes_a_best_config_train_dqn_accepts(
        ray_env, tmp_path):
    from agents.dqn.train import main as train_main
    from agents.dqn.train import parse_args
    from agents.sweep.run import run_sweep

    temp = ray_env
    plan = load_plan("dqn", "tiny")
    procs = RayProcesses(temp)
    try:
        summary = run_sweep(plan, "tiny", storage=str(tmp_path / "sweeps"), cpus=2, temp_dir=temp)
    finally:
        left = procs.wait_gone(60)  # ray.shutdown() in run_sweep ends them all
    assert len(procs.seen) >= 3, procs.seen  # it did see Ray's processes (GCS, raylet, workers)
    assert not left, f"Ray processes outlived the sweep: {[_cmdline(p) for p in left]}"

    exp = tmp_path / "sweeps" / "tiny"
    rows = summary["trials"]
    assert len(rows) == 2, rows
    for row in rows:  # both trials reported each seed's dev figures (ASHA may stop the second after a chunk)
        assert 1 <= row["chunks"] <= plan.chunks and row["dev_episodes"] == len(plan.seeds) * plan.eval_episodes
        assert set(row["per_seed"]) == {f"seed{s}_catch" for s in plan.seeds}
        ckpt = Path(row["checkpoint"])
        assert json.loads((ckpt / "sweep_state.json").read_text())["chunks_done"] == row["chunks"]
        for s in plan.seeds:  # each seed's resumable DQN run is inside the Tune checkpoint
            assert (ckpt / f"seed{s}" / "checkpoint.pt").stat().st_size > 0
    assert rows[0]["dev_catch"] >= rows[1]["dev_catch"]
    # Optuna tries the recipe's own values first (the smoke preset's lr and n_step), then one of its own
    assert {"lr": 1e-3, "n_step": 3} in [r["params"] for r in rows]
    assert max(r["chunks"] for r in rows) == plan.chunks  # the first trial is never stopped early
    reports = sorted(len((Path(r["path"]) / "progress.csv").read_text().splitlines()) - 1 for r in rows)
    assert reports == sorted(r["chunks"] for r in rows)  # one report per chunk
    assert list(exp.glob("*/events.out.tfevents.*")), "Tune's TensorBoard logs are missing"
    assert "dev catch [95% CI]" in (exp / "results.md").read_text()

    # the best configuration is a preset agents.dqn.train takes as it is, with the winning trial's settings
    best = exp / "best_config.json"
    cmd = parse_args(["--config-file", str(best)])
    for k, v in rows[0]["params"].items():
        assert getattr(cmd.config, k) == v
    assert cmd.config.total_steps == plan.chunks * plan.chunk_steps
    assert parse_args(["--config-file", str(best), "--lr", "0.123"]).config.lr == 0.123  # options still apply
    train_main(["--config-file", str(best), "--check", "--name", "sweep_check_only"])


def test_a_config_file_with_an_unknown_field_is_a_usage_error_naming_file_and_field(tmp_path, capsys):
    from agents.dqn.train import parse_args

    bad = tmp_path / "best.json"
    bad.write_text(json.dumps({"lr": 1e-3, "learning_rate": 1e-3}))
    with pytest.raises(SystemExit) as e:
        parse_args(["--config-file", str(bad)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "learning_rate: not a DQNConfig field" in err


def test_a_space_file_with_a_mistake_names_the_file_preset_and_key(tmp_path):
    doc = yaml.safe_load((ROOT / "agents/sweep/spaces/dqn.yaml").read_text())
    doc["presets"]["tiny"]["space"]["learning_rate"] = {"loguniform": [1e-4, 1e-3]}
    path = tmp_path / "dqn.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpaceError, match=r"dqn\.yaml: preset tiny: space: learning_rate: not a setting"):
        load_plan("dqn", "tiny", path)
    doc["presets"]["tiny"]["space"] = {"lr": {"loguniform": [1e-3, 1e-4]}}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpaceError, match=r"space: lr: loguniform: \[low, high\] with low < high"):
        load_plan("dqn", "tiny", path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray(*args: str, env: dict) -> None:
    ray_cli = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray_cli, *args], check=True, env=env, timeout=300, capture_output=True, text=True)


def test_a_trial_that_asks_for_a_game_window_runs_on_the_node_that_declares_one(ray_env, tmp_path):
    temp = ray_env
    # a cluster's nodes share a token (RAY_AUTH_TOKEN, or the file RAY_AUTH_TOKEN_PATH names)
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    port = _free_port()
    procs = RayProcesses(temp, port)
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    doc = yaml.safe_load((ROOT / "agents/sweep/spaces/dqn.yaml").read_text())
    window = doc["presets"]["tiny"]
    window.update(trials=1, chunks=1, resources={"cpu": 1, "game_window": 1})
    space = tmp_path / "window.yaml"
    space.write_text(yaml.safe_dump({"presets": {"window": window}}))
    try:
        _ray("start", "--head", f"--port={port}", f"--ray-client-server-port={_free_port()}",
             "--include-dashboard=false", f"--temp-dir={temp}", *common, env=env)
        _ray("start", f"--address={address}", "--resources", json.dumps({"game_window": 1}), *common, env=env)
        nodes = subprocess.run(
            [sys.executable, "-c", f"import json, ray; ray.init(address={address!r}); print(json.dumps([[n['NodeID'], "
             "n['Resources']] for n in ray.nodes() if n['Alive']]))"],
            check=True, env=env, timeout=300, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        nodes = json.loads(nodes)
        window_nodes = [nid for nid, res in nodes if res.get("game_window")]
        assert len(nodes) == 2 and len(window_nodes) == 1, nodes
        run = subprocess.run(
            [sys.executable, "-m", "agents.sweep", "dqn", "--space-file", str(space), "--preset", "window",
             "--storage", str(tmp_path / "shared"), "--name", "window"],
            env=dict(env, RAY_ADDRESS=address, PYTHONPATH=str(ROOT)), cwd=ROOT, timeout=900,
            capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    finally:
        left = procs.terminate()  # the cluster: every process it started, by its id
    assert len(procs.seen) >= 4, procs.seen
    assert not left, f"Ray processes survived the teardown: {[_cmdline(p) for p in left]}"
    rows = json.loads((tmp_path / "shared" / "window" / "results.json").read_text())["trials"]
    assert len(rows) == 1 and rows[0]["node_id"] == window_nodes[0], (rows, nodes)
