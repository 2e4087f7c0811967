"""`python -m agents.evaluate`: what it writes, and where."""

import json
import shutil
from pathlib import Path

import pytest

import agents.evaluate as ev

ROOT = Path(__file__).resolve().parents[1]


def committed_evaluation() -> dict:
    """reports/evaluation.json as evaluate_all returns it (fishing levels as int keys)."""
    res = json.loads((ROOT / "reports" / "evaluation.json").read_text())
    for p in res["policies"].values():
        p["per_level"] = {int(k): v for k, v in p["per_level"].items()}
    return res


@pytest.fixture
def exported(tmp_path, monkeypatch):
    """An exported/ folder with the shipped export report and a model card; evaluation replaced by the report."""
    exp = tmp_path / "exported"
    exp.mkdir()
    shutil.copy(ROOT / "exported" / "export_report.json", exp)
    (exp / "README.md").write_text("the published model card\n")
    monkeypatch.setattr(ev, "evaluate_all", lambda episodes, models=None: committed_evaluation())
    monkeypatch.chdir(tmp_path)
    return exp


@pytest.mark.parametrize("args", [["--episodes", "50", "--out", "rep"], ["--episodes", "50"], ["--out", "rep"]])
def test_a_partial_evaluation_leaves_the_model_card_alone(exported, tmp_path, capsys, args):
    main_out = tmp_path / (args[args.index("--out") + 1] if "--out" in args else "reports")
    ev.main([*args, "--exported", str(exported)])
    assert (exported / "README.md").read_text() == "the published model card\n"
    assert (main_out / "model_card.md").read_text().startswith("# Exported DQN policies")
    assert "model card" in capsys.readouterr().out


def test_the_full_default_evaluation_rewrites_the_model_card(exported, tmp_path):
    ev.main(["--exported", str(exported)])
    assert (exported / "README.md").read_text().startswith("# Exported DQN policies")
    assert not (tmp_path / "reports" / "model_card.md").exists()
