"""`python -m agents.dqn.pipeline` (`make train-dqn`): its checks stop bad settings before any training, and its
choice stage names the run the export takes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.dqn.pipeline import CHOICE_FILE, choose

ROOT = Path(__file__).resolve().parents[3]


def write_summary(runs: Path, name: str, catch: float, perfect: float) -> None:
    (runs / name).mkdir(parents=True)
    (runs / name / "summary.json").write_text(json.dumps(
        {"best_dev": {"catch": catch, "perfect": perfect, "episodes": 5000}}))


def test_choice_names_the_candidate_with_the_best_dev_score_and_writes_it_for_the_export(tmp_path, capsys):
    write_summary(tmp_path, "best_improved", catch=0.92, perfect=0.50)
    write_summary(tmp_path, "best_distilled", catch=0.91, perfect=0.56)  # 0.91 + 0.25 * 0.56 = 1.05 > 1.045
    assert choose(tmp_path)["best"] == "best_distilled"
    assert json.loads((tmp_path / CHOICE_FILE).read_text())["best"] == "best_distilled"
    assert "* best_distilled" in capsys.readouterr().out


def test_choice_without_candidates_names_the_runs_it_looked_for(tmp_path):
    with pytest.raises(SystemExit, match="none of best_improved, best_distilled"):
        choose(tmp_path)
    assert not (tmp_path / CHOICE_FILE).exists()


def test_the_check_stage_refuses_bad_seed_levels_before_anything_is_written(tmp_path):
    r = subprocess.run([sys.executable, "-m", "agents.dqn.pipeline", "--stages", "check", "--seed-levels", "7", "3"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "level: need 0 <= lo <= hi <= 20, got (7, 3)" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_a_stop_signal_reaches_every_child_and_closes_their_logs(tmp_path):
    import signal

    from agents.dqn.pipeline import Children

    children = Children(nice=0)
    wait = [sys.executable, "-c", "import time; time.sleep(120)"]
    procs = [children.start(wait, tmp_path / "a.log"), children.start(wait)]
    logs = [f for f in children.procs.values() if f]
    with pytest.raises(SystemExit) as stopped:
        children.stop(signal.SIGINT, None)
    assert stopped.value.code == 130
    assert [p.returncode for p in procs] == [-signal.SIGTERM] * 2  # each ended by the SIGTERM it was sent
    assert children.procs == {} and all(f.closed for f in logs)
