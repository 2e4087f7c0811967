"""A run's files that cannot be used, and run names that would overwrite a run, stop the DQN tools with an error
that names the file or option, before anything is written."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from agents.dqn.config import PRESETS
from agents.dqn.model import QNetwork
from agents.dqn.train import RunFileError, load_run_file

SMOKE = PRESETS["smoke"]


def write_run(root: Path, name: str, features: str | tuple = "default", stack: int = 2) -> Path:
    """A run folder as training leaves it (best.pt, config.json), with untrained weights."""
    from envs.stardew import features as feats

    cfg = SMOKE.replace(name=name, features=features, stack=stack)
    q = QNetwork(feats.resolve(features), cfg.hidden, cfg.dueling, stack)
    out = root / name
    out.mkdir(parents=True)
    torch.save({"config": dataclasses.asdict(cfg), "feature_names": list(q.feature_names),
                "hidden": list(cfg.hidden), "stack": stack, "dueling": cfg.dueling, "q": q.state_dict(),
                "step": 0, "best_eval": {"catch": 0.0, "perfect": 0.0, "episodes": 1}}, out / "best.pt")
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    return out


@pytest.mark.parametrize(("content", "why"), [
    (b"PK\x03\x04 truncated", "not a readable checkpoint"),
    (None, "holds a list"),  # a torch file of something else
    ("no q", r"not a DQN run's file \(no q\)"),
])
def test_an_unusable_best_pt_is_named_with_what_is_wrong(tmp_path, content, why):
    path = write_run(tmp_path, "r") / "best.pt"
    if content is None:
        torch.save([1, 2], path)
    elif isinstance(content, str):
        st = load_run_file(path)
        del st["q"]
        torch.save(st, path)
    else:
        path.write_bytes(content)
    with pytest.raises(RunFileError, match=why) as e:
        load_run_file(path)
    assert str(path) in str(e.value)
    with pytest.raises(RunFileError, match="no such file"):
        load_run_file(tmp_path / "r" / "nothing.pt")


def test_export_of_a_truncated_run_names_the_file_and_leaves_exported_unchanged(tmp_path, capsys):
    from agents.dqn.export import main

    write_run(tmp_path, "seed", features="seed", stack=1)
    rich = write_run(tmp_path, "rich")
    (rich / "best.pt").write_bytes((rich / "best.pt").read_bytes()[:100])
    out = tmp_path / "exported"
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--out", str(out), "--seed-run", "seed", "--best-runs", "rich"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"{rich / 'best.pt'}: not a readable checkpoint" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_an_ensemble_of_runs_that_read_different_inputs_names_the_runs(tmp_path, capsys):
    from agents.dqn.export import main

    write_run(tmp_path, "seed", features="seed", stack=1)
    write_run(tmp_path, "two")
    write_run(tmp_path, "four", stack=4)
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--out", str(tmp_path / "x"), "--seed-run", "seed", "--best-runs", "two",
              "four"])
    assert e.value.code == 2
    assert re.search(r"runs .*two, .*four \(members 0..1\): ensemble member 1 reads", capsys.readouterr().err)


@pytest.mark.parametrize(("tool", "args", "why"), [
    ("distill", ["--teachers", "a", "b", "--name", "a"], "name: 'a' is also the teachers run"),
    ("improve", ["--start", "a", "--name", "a"], "name: 'a' is also the start run"),
    ("improve", ["--start", "a", "--name", "../a2"], "name: '../a2' cannot name the run's folder"),
    ("improve", ["--start", "a", "--name", "a2", "--rounds", "0"], "rounds: must be an integer >= 1, got 0"),
    ("improve", ["--start", "missing", "--name", "a2"], "missing/best.pt: no such file"),
    ("distill", ["--teachers", "a", "four", "--name", "d"], "teachers a, four: ensemble member 1 reads"),
])
def test_distill_and_improve_refuse_what_would_overwrite_or_cannot_run(tmp_path, capsys, tool, args, why):
    import importlib

    a = write_run(tmp_path, "a")
    write_run(tmp_path, "b")
    write_run(tmp_path, "four", stack=4)
    before = (a / "best.pt").read_bytes()
    main = importlib.import_module(f"agents.dqn.{tool}").main
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--no-progress", *args])
    assert e.value.code == 2 and why in capsys.readouterr().err
    assert (a / "best.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "four"]  # no run written


@pytest.mark.parametrize(("text", "why"), [
    ('{"lr": 0.001, "level": [0,', "not readable as JSON"),
    ("[1, 2]", "holds a JSON list, not the object of settings"),
])
def test_check_names_a_corrupt_config_json_of_the_run_it_would_resume(tmp_path, monkeypatch, capsys, text, why):
    from agents.dqn.train import main

    monkeypatch.chdir(tmp_path)
    run = write_run(tmp_path / "runs" / "dqn", "smoke")
    (run / "checkpoint.pt").write_bytes((run / "best.pt").read_bytes())
    (run / "config.json").write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["--preset", "smoke", "--check"])
    assert e.value.code == 2
    assert f"{Path('runs/dqn/smoke/config.json')}: {why}" in capsys.readouterr().err


def test_a_resume_conflict_says_which_settings_the_checkpoint_did_not_record(tmp_path):
    from agents.dqn.config import ConfigError
    from agents.dqn.train import check_resume

    saved = {k: v for k, v in dataclasses.asdict(SMOKE).items() if k != "num_games"}
    with pytest.raises(ConfigError, match=r"num_games: 256 in the checkpoint \(not in its config: the default\), "
                                          r"64 now"):
        check_resume(SMOKE, saved, tmp_path / "checkpoint.pt")
