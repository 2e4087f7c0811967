"""DQN end to end on a tiny budget: training beats random, resume, and the ONNX export contract."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from agents.dqn.config import PRESETS
from agents.dqn.export import export_model, verify
from agents.dqn.onnx_io import OnnxPolicy
from agents.dqn.train import load_q, train
from agents.population import DEV_SEED0, run_episodes, summarize
from envs.stardew.controllers import make_controller

SMOKE = PRESETS["smoke"].replace(total_steps=100_000, eval_every=50_000, checkpoint_every=50_000,
                                 eval_episodes=150)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, features, stack, demo in (("smoke_rich", "default", 2, ""), ("smoke_seed", "seed", 1, "lead_seed")):
        cfg = SMOKE.replace(name=name, features=features, stack=stack, hard_fraction=0.25, perfect_loss_penalty=5.0,
                            demo_controller=demo, demo_fraction=0.5 if demo else 0.0, margin_weight=8.0)
        out[name] = (root / name, train(cfg, root / name, progress=False))
    return out


def test_training_runs_end_to_end_and_beats_random(runs):
    run_dir, summary = runs["smoke_rich"]
    assert summary["env_steps"] >= SMOKE.total_steps
    assert (run_dir / "best.pt").exists() and (run_dir / "checkpoint.pt").exists()
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    q = load_q(run_dir / "best.pt")
    from agents.dqn.train import GreedyPolicy

    seeds = DEV_SEED0 + 321_000
    dqn = summarize(run_episodes(GreedyPolicy(q), n=300, seed0=seeds))
    rnd = summarize(run_episodes(make_controller("random"), n=300, seed0=seeds))
    assert dqn["catch"] > rnd["catch"] + 0.2, (dqn, rnd)


def test_training_resumes_from_its_checkpoint(runs, tmp_path):
    import shutil

    run_dir, summary = runs["smoke_rich"]
    copy = tmp_path / "resume"
    shutil.copytree(run_dir, copy)
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg = SMOKE.replace(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    more = train(cfg.replace(total_steps=SMOKE.total_steps + 20_000), copy, progress=False)
    assert summary["env_steps"] < more["env_steps"] <= summary["env_steps"] + 20_000 + SMOKE.num_games
    assert more["updates"] > summary["updates"]


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")
    files = {}
    for name, seed_contract in (("smoke_seed", True), ("smoke_rich", False)):
        run_dir, summary = runs[name]
        q = load_q(run_dir / "best.pt")
        info = {"config": json.loads((run_dir / "config.json").read_text()), "best_dev": summary["best_dev"]}
        path = out / f"{name}.onnx"
        export_model(q, path, seed_contract, info)
        files[name] = (path, verify(path, q, seed_contract, eval_episodes=20))
    return files


def test_seed_contract_export_is_a_drop_in_for_the_mod(exported):
    path, report = exported["smoke_seed"]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version <= 8
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 15
    assert not list(path.parent.glob("*.data"))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, inp.type, inp.shape) == ("0", "tensor(double)", [3])
    assert (outp.type, outp.shape) == ("tensor(double)", [2])
    q = sess.run(None, {"0": np.array([400.0, 450.0, -1.5])})[0]
    assert q.shape == (2,) and q.dtype == np.float64
    assert report["max_abs_diff"] <= 1e-6 and report["argmax_agreement"] == 1.0
    assert report["states"] == 10_000


def test_rich_export_carries_its_features_in_metadata(exported):
    path, report = exported["smoke_rich"]
    pol = OnnxPolicy(path)
    assert pol.features == ("bar_center", "bar_speed", "bar_height", "fish_pos", "fish_vel", "fish_rel",
                            "progress", "in_bar")
    scaling = json.loads(pol.meta["feature_scaling"])
    assert set(scaling) == set(pol.features)
    assert pol.meta["frame_stack"] == "2"
    assert report["max_abs_diff"] <= 1e-6 and report["argmax_agreement"] == 1.0
    # the numpy engine used by `make evaluate` computes what onnxruntime computes
    x = np.random.default_rng(0).uniform(-1, 1, (500, 16))
    ref = OnnxPolicy(path, engine="onnxruntime").q_values(x)
    np.testing.assert_allclose(pol.q_values(x), ref, atol=1e-9)


def test_frame_stack_keeps_the_newest_first_and_restarts_at_episode_ends():
    from agents.dqn.frames import FrameStack

    fs = FrameStack(2)
    a = fs.push(np.array([[1.0], [10.0]]))
    np.testing.assert_array_equal(a, [[1, 1], [10, 10]])
    b = fs.push(np.array([[2.0], [20.0]]), new_episode=np.array([False, True]))
    np.testing.assert_array_equal(b, [[2, 1], [20, 20]])
    np.testing.assert_array_equal(fs.peek(np.array([[3.0], [30.0]])), [[3, 2], [30, 20]])
