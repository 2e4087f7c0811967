"""`python -m agents.dqn.export` checks every run before it writes a file, and its checks are real errors."""

import dataclasses
import re

import pytest
import torch

from agents.dqn.config import PRESETS
from agents.dqn.export import RICH_FILE, SEED_FILE, ExportError, export_model, main, verify
from agents.dqn.model import QNetwork
from envs.stardew import features as feats

SEED = feats.PRESETS["seed"]


def fake_run(root, name, features, stack=1, frame_skip=1):
    """A run folder with an untrained network's best.pt (what export reads)."""
    cfg = PRESETS["smoke"].replace(name=name, features=features, stack=stack, hidden=(16,), frame_skip=frame_skip)
    names = feats.resolve(features)
    q = QNetwork(names, cfg.hidden, cfg.dueling, stack)
    (root / name).mkdir(parents=True)
    torch.save({"config": dataclasses.asdict(cfg), "feature_names": list(names), "hidden": list(cfg.hidden),
                "stack": stack, "dueling": cfg.dueling, "q": q.state_dict(), "step": 0, "best_score": 0.0,
                "best_eval": {"episodes": 0}}, root / name / "best.pt")
    return q


@pytest.mark.parametrize(
    ("features", "stack"),
    [((SEED[1], SEED[0], SEED[2]), 1),  # the seed features in another order
     ("default", 1),  # eight features
     ("seed", 2)],  # two ticks
)
def test_export_refuses_a_seed_run_that_is_not_the_seed_contract(tmp_path, features, stack, capsys):
    fake_run(tmp_path, "not_seed", features, stack)
    fake_run(tmp_path, "rich", "default")
    out = tmp_path / "exported"
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--out", str(out), "--seed-run", "not_seed", "--best-runs", "rich"])
    msg = capsys.readouterr().err  # a usage error: exit 2, the reason on stderr
    assert e.value.code == 2
    assert "not_seed" in msg and "must read exactly the seed mod's inputs" in msg and f"stack {stack}" in msg
    assert not out.exists()  # nothing written


def test_export_refuses_a_seed_run_that_decides_every_other_tick(tmp_path, capsys):
    fake_run(tmp_path, "skip2", "seed", frame_skip=2)
    fake_run(tmp_path, "rich", "default")
    out = tmp_path / "exported"
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--out", str(out), "--seed-run", "skip2", "--best-runs", "rich"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "trained with frame_skip=2" in err and "every tick" in err
    assert not out.exists()


def test_a_missing_best_run_leaves_the_exports_as_they_were(tmp_path, capsys):
    fake_run(tmp_path, "seed", "seed")
    out = tmp_path / "exported"
    out.mkdir()
    before = {SEED_FILE: b"the shipped seed model", "export_report.json": b"{}"}
    for name, data in before.items():
        (out / name).write_bytes(data)
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--out", str(out), "--best-runs", "no_such_run"])
    assert e.value.code == 2 and re.search("no training output .*no_such_run", capsys.readouterr().err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_model_that_fails_verification_leaves_the_exports_as_they_were(tmp_path, monkeypatch):
    import agents.dqn.export as export

    fake_run(tmp_path, "seed", "seed")
    fake_run(tmp_path, "rich", "default")
    out = tmp_path / "exported"
    out.mkdir()
    before = {SEED_FILE: b"the shipped seed model", RICH_FILE: b"the shipped rich model", "export_report.json": b"{}"}
    for name, data in before.items():
        (out / name).write_bytes(data)
    # a parity bound no network meets: the seed model, checked first, fails after it was written
    monkeypatch.setattr(export, "MAX_ABS_DIFF", -1.0)
    with pytest.raises(SystemExit) as e:
        main(["--runs", str(tmp_path), "--out", str(out), "--best-runs", "rich"])
    msg = str(e.value.code)
    assert f"{out / SEED_FILE}: onnxruntime differs from the torch network" in msg and "is unchanged" in msg
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no half-written or staged file left
    monkeypatch.undo()
    main(["--runs", str(tmp_path), "--out", str(out), "--best-runs", "rich"])
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
    assert (out / SEED_FILE).read_bytes() != before[SEED_FILE] and (out / RICH_FILE).read_bytes()[:4] != b"the "


def test_export_model_refuses_a_seed_contract_on_other_inputs(tmp_path):
    q = fake_run(tmp_path, "rich", "default")
    with pytest.raises(ValueError, match="must read exactly the seed mod's inputs"):
        export_model(q, tmp_path / SEED_FILE, True, {"run": "rich", "config": {}, "best_dev": {}})
    assert not (tmp_path / SEED_FILE).exists()


def test_failed_export_checks_raise_even_without_asserts(tmp_path):
    """python -O drops asserts: the contract and the torch/onnxruntime agreement are checked with real errors."""
    q = fake_run(tmp_path, "rich", "default")
    info = {"run": "rich", "config": dataclasses.asdict(PRESETS["smoke"]), "best_dev": {}}
    export_model(q, tmp_path / RICH_FILE, False, info)
    with pytest.raises(ExportError, match="not the seed mod's contract"):
        verify(tmp_path / RICH_FILE, q, seed_contract=True)
    other = QNetwork(q.feature_names, (16,), True, 1)  # other weights than the file's
    with pytest.raises(ExportError, match="onnxruntime differs from the torch network"):
        verify(tmp_path / RICH_FILE, other, seed_contract=False)


def _bare_seed_model(path):
    """An MLP on the seed contract with no metadata, as a model from elsewhere would come."""
    import numpy as np

    from agents.dqn.onnx_io import build_mlp_onnx, save_model

    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(16, 3)) / 300, rng.normal(size=16)), (rng.normal(size=(2, 16)), rng.normal(size=2))]
    save_model(build_mlp_onnx([layers], "0", [3], "q", [2], {}, "no metadata"), path)
    return layers


def test_onnx_policy_says_which_metadata_is_missing_and_how_to_load_a_seed_model(tmp_path):
    import numpy as np

    from agents.dqn.onnx_io import OnnxPolicy, mlp_forward
    from agents.evaluation.protocol import run_episodes

    layers = _bare_seed_model(tmp_path / "bare.onnx")
    with pytest.raises(ValueError, match=r"no 'feature_names'.*features='seed'"):
        OnnxPolicy(tmp_path / "bare.onnx")
    pol = OnnxPolicy(tmp_path / "bare.onnx", engine="onnxruntime", features="seed")
    assert pol.features == SEED
    x = np.array([[400.0, 450.0, -1.5], [100.0, 300.0, 2.0]])
    np.testing.assert_allclose(pol.q_values(x), mlp_forward(layers, x), atol=1e-12)
    assert len(run_episodes(pol, n=4, max_steps=50)) == 4


def test_verify_refuses_a_file_the_mods_onnxruntime_cannot_load_or_that_is_not_two_q_values(tmp_path):
    import numpy as np

    from agents.dqn.onnx_io import build_mlp_onnx, save_model

    q = fake_run(tmp_path, "seed", "seed")
    layers = q.folded_layers()
    w, b = layers[-1]
    three = [*layers[:-1], (np.vstack([w, w[:1]]), np.append(b, 0.0))]  # a third Q-value the mod would not read
    save_model(build_mlp_onnx([three], "0", [3], "q_values", [3], {}, "three actions"), tmp_path / "three.onnx")
    with pytest.raises(ExportError, match="not the seed mod's contract"):
        verify(tmp_path / "three.onnx", q, seed_contract=True)
    newer = build_mlp_onnx([layers], "0", [3], "q_values", [2], {}, "opset 16")
    newer.opset_import[0].version = 16  # MatMul, Add and Relu are the same in opset 16; onnxruntime 1.10 stops at 15
    save_model(newer, tmp_path / "opset16.onnx")
    with pytest.raises(ExportError, match="opset 16, IR version 8; the mod's onnxruntime 1.10 loads at most opset 15"):
        verify(tmp_path / "opset16.onnx", q, seed_contract=True)
