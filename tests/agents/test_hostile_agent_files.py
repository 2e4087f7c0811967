"""Hostile and careless files for the agents: DQN run files that carry code or the wrong fields, ONNX files that
are not models, and a CSV loader whose memory grew with the file. Each is refused with an error naming the file,
and nothing from the file runs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agents.dqn.config import PRESETS
from agents.dqn.model import QNetwork
from agents.dqn.train import RunFileError, load_run_file

SMOKE = PRESETS["smoke"]


# -- model files ---------------------------------------------------------------------------------------------------
class _RunsAShellCommand:
    """Pickles as a call of os.system: what a crafted best.pt can hold in place of its feature names."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _run_folder(root: Path, name: str, features: str = "default", stack: int = 1, **fields) -> Path:
    """A run folder as training leaves it (best.pt, config.json), untrained weights; ``fields`` replace best.pt's."""
    from envs.stardew import features as feats

    cfg = SMOKE.replace(name=name, features=features, stack=stack)
    q = QNetwork(feats.resolve(features), cfg.hidden, cfg.dueling, stack)
    out = root / name
    out.mkdir(parents=True)
    st = {"config": dataclasses.asdict(cfg), "feature_names": list(q.feature_names), "hidden": list(cfg.hidden),
          "stack": stack, "dueling": cfg.dueling, "q": q.state_dict(), "step": 0,
          "best_eval": {"catch": 0.0, "perfect": 0.0, "episodes": 1}, **fields}
    torch.save(st, out / "best.pt")
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    return out


def test_a_run_file_whose_pickle_calls_os_system_is_refused_unread_naming_the_file(tmp_path):
    marker = tmp_path / "ran"
    run = _run_folder(tmp_path, "evil", feature_names=_RunsAShellCommand(marker))
    with pytest.raises(RunFileError, match="refused unread: its pickle calls posix.system") as e:
        load_run_file(run / "best.pt")
    assert str(run / "best.pt") in str(e.value)
    assert not marker.exists()


def test_export_of_a_run_file_that_carries_code_is_a_one_line_usage_error(tmp_path):
    marker = tmp_path / "ran"
    _run_folder(tmp_path, "seed", features="seed")
    evil = _run_folder(tmp_path, "rich", feature_names=_RunsAShellCommand(marker))
    out = subprocess.run([sys.executable, "-m", "agents.dqn.export", "--runs", str(tmp_path), "--out",
                          str(tmp_path / "exported"), "--seed-run", "seed", "--best-runs", "rich"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert f"{evil / 'best.pt'}: refused unread" in out.stderr.strip().splitlines()[-1]
    assert not marker.exists() and not (tmp_path / "exported").exists()


@pytest.mark.parametrize(("fields", "why"), [
    ({"feature_names": 7}, "feature_names is a int"),
    ({"hidden": "wide"}, "hidden is a str"),
    ({"q": {"W": [1.0]}}, "q is a dict"),
])
def test_a_run_file_with_fields_of_the_wrong_type_is_named_not_a_traceback(tmp_path, fields, why):
    run = _run_folder(tmp_path, "odd", **fields)
    with pytest.raises(RunFileError, match=why) as e:
        load_run_file(run / "best.pt")
    assert str(run / "best.pt") in str(e.value)


def test_export_of_weights_that_do_not_fit_the_network_is_a_usage_error(tmp_path, capsys):
    from agents.dqn.export import main

    _run_folder(tmp_path, "seed", features="seed")
    _run_folder(tmp_path, "rich", q={"trunk.0.weight": torch.zeros(2, 2)})
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--out", str(tmp_path / "x"), "--seed-run", "seed", "--best-runs", "rich"])
    assert e.value.code == 2
    assert f"{tmp_path / 'rich' / 'best.pt'}: not a DQN run's file" in capsys.readouterr().err


def test_a_checkpoint_with_numpy_state_still_loads_with_weights_only(tmp_path):
    """The resume file holds numpy arrays (replay memory, games in flight): those, and only those, are rebuilt."""
    import numpy as np

    path = tmp_path / "checkpoint.pt"
    st = {"config": {}, "feature_names": ["a"], "hidden": [4], "dueling": True, "q": {},
          "replay": {"obs": np.arange(6, dtype=np.float32).reshape(2, 3), "demo": np.zeros(2, dtype=bool),
                     "pos": np.int64(2)},
          "loop": {"rng": np.random.default_rng(1).bit_generator.state, "nstep": [(np.ones(2), np.zeros(2))]}}
    torch.save(st, path)
    got = load_run_file(path)
    assert np.array_equal(got["replay"]["obs"], st["replay"]["obs"]) and got["replay"]["pos"] == 2
    assert got["loop"]["rng"] == st["loop"]["rng"]


def test_a_run_file_written_under_numpy_1_still_loads_with_weights_only(tmp_path):
    """numpy 1 pickles its arrays and scalars under numpy.core names (numpy 2: numpy._core): a checkpoint saved
    there names those, and must load as it did."""
    import zipfile

    import numpy as np

    st = {"config": {}, "feature_names": ["a"], "hidden": [4], "dueling": True, "q": {"w": torch.ones(2)},
          "replay": {"obs": np.arange(6, dtype=np.float32).reshape(2, 3)}, "best_score": np.float64(2.5)}
    torch.save(st, tmp_path / "numpy2.pt")
    old = tmp_path / "checkpoint.pt"
    with zipfile.ZipFile(tmp_path / "numpy2.pt") as zin, zipfile.ZipFile(old, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith("/data.pkl"):
                assert b"numpy._core.multiarray" in data
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            zout.writestr(name, data)
    assert "numpy.core.multiarray._reconstruct" in torch.serialization.get_unsafe_globals_in_checkpoint(old)
    got = load_run_file(old)
    assert np.array_equal(got["replay"]["obs"], st["replay"]["obs"]) and got["best_score"] == 2.5


# -- ONNX files and the CSV loader ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["truncated", "random", "text", "empty"])
def test_onnx_policy_on_a_file_that_is_not_a_model_names_the_file(tmp_path, kind):
    import numpy as np

    from agents.dqn.onnx_io import OnnxFileError, OnnxPolicy

    shipped = Path(__file__).resolve().parents[2] / "exported" / "autofisher_dqn_rich.onnx"
    data = {"truncated": shipped.read_bytes()[: shipped.stat().st_size // 2],
            "random": np.random.default_rng(0).bytes(4096),
            "text": b"this is a README, not a model\n" * 20, "empty": b""}[kind]
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    with pytest.raises(OnnxFileError) as e:
        OnnxPolicy(path)
    assert str(e.value).startswith(f"{path}: ")
    assert "feature_names" not in str(e.value)


def test_the_csv_loader_streams_its_memory_beyond_the_rows_does_not_grow_with_the_file(tmp_path):
    import tracemalloc

    from agents.dqn.replay import _game_ranges, load_seed_csv

    _game_ranges()  # its imports, done once, are not the loader's memory
    row = "254.785,137.745,5.3455,254.785,137.745,5.3455,0.1453,0\n"
    extra = {}
    for n in (4_000, 40_000):  # 0.2 MB and 2.2 MB
        path = tmp_path / f"{n}.csv"
        path.write_text(row * n)
        tracemalloc.start()
        try:
            rows = load_seed_csv(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert rows.shape == (n, 8)
        extra[n] = peak - rows.nbytes
    # reading the whole text and a list of Python floats per row took about 10x the file; now a fixed amount
    assert extra[40_000] < 1_000_000 and extra[40_000] < extra[4_000] + 500_000, extra
