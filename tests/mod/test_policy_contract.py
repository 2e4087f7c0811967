"""The mod's check of a model before its "onnx" mode runs it (mod/StardewRlBridge/PolicyContract.cs, built with mcs).

The mod feeds every model the same three raw BobberBar numbers. Each model's interface is read by onnxruntime,
as the mod reads it through the C# API, and handed to the C# check; the shipped files are checked as they are.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from agents.dqn.onnx_io import OnnxPolicy, build_mlp_onnx, save_model
from envs.stardew import rules as R
from envs.stardew.sim import FishingSim, GameConfig
from tests.envs.stardew.bridge.helpers import NEEDS_MONO, build_csharp

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "mod/StardewRlBridge/Protocol.cs", ROOT / "mod/StardewRlBridge/PolicyContract.cs",
           ROOT / "mod/ProtocolTest/PolicyContractCheck.cs"]
SEED_MODEL = ROOT / "exported/autofisher_dqn.onnx"
RICH_MODEL = ROOT / "exported/autofisher_dqn_rich.onnx"
pytestmark = [pytest.mark.timeout(120), NEEDS_MONO]


@pytest.fixture(scope="module")
def checker(tmp_path_factory) -> Path:
    return build_csharp(tmp_path_factory.mktemp("csharp") / "PolicyContractCheck.exe", SOURCES)


def interface(path: Path) -> dict:
    """A model's inputs, outputs and metadata_props as onnxruntime reports them (-1: a symbolic dimension)."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def port(p) -> dict:
        tensor = p.type.startswith("tensor(")
        return {"name": p.name, "tensor": tensor, "type": p.type[len("tensor("):-1] if tensor else p.type,
                "shape": [d if isinstance(d, int) else -1 for d in p.shape]}

    return {"inputs": [port(p) for p in sess.get_inputs()], "outputs": [port(p) for p in sess.get_outputs()],
            "metadata": dict(sess.get_modelmeta().custom_metadata_map)}


def check(exe: Path, model: Path, tmp_path: Path) -> str:
    """The C# check's verdict on ``model``: "ACCEPTED [shape fed]" or "REFUSED <message the mod logs>"."""
    spec = tmp_path / (model.stem + ".json")
    spec.write_text(json.dumps(interface(model)))
    out = subprocess.run(["mono", str(exe), str(spec)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip()


def mlp(path: Path, in_shape: list, out_shape: list, meta: dict[str, str], n_in: int = 3, n_out: int = 2) -> Path:
    """A small float64 MLP written the way agents.dqn.export writes models."""
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(8, n_in)), rng.normal(size=8)), (rng.normal(size=(n_out, 8)), rng.normal(size=n_out))]
    save_model(build_mlp_onnx([layers], "x", in_shape, "q", out_shape, meta, "test model"), path)
    return path


def test_the_shipped_seed_model_is_accepted_and_reads_bobberbar_in_the_order_the_mod_feeds(checker, tmp_path):
    assert check(checker, SEED_MODEL, tmp_path) == "ACCEPTED [3]"
    # what the mod feeds (BobberBar's raw bobberBarPos, bobberPosition, bobberBarSpeed as double[3]) gives the
    # Q-values the Python policy computes from the simulator's seed observation of the same states
    sim = FishingSim(64, GameConfig(level=(0, 10)), features="seed")
    sim.reset(seeds=np.arange(64))
    for _ in range(30):
        sim.step(np.arange(64) % 2)
    sess = ort.InferenceSession(str(SEED_MODEL), providers=["CPUExecutionProvider"])
    raw = sim.F[:, [R.F_BAR_POS, R.F_FISH_POS, R.F_BAR_SPEED]].astype(np.float64)
    fed = np.stack([sess.run(None, {"0": row})[0] for row in raw])
    np.testing.assert_allclose(fed, OnnxPolicy(SEED_MODEL).q_values(sim.obs), rtol=1e-12, atol=1e-12)


def test_the_shipped_rich_model_is_refused_with_what_to_do_instead(checker, tmp_path):
    verdict = check(checker, RICH_MODEL, tmp_path)
    assert verdict.startswith("REFUSED") and "[N, 32]" in verdict
    assert "bridge" in verdict and "autofisher_dqn.onnx" in verdict
    # what the mod did before: load it, then fail in every Run, 60 times a second
    sess = ort.InferenceSession(str(RICH_MODEL), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="Expected: 32"):
        sess.run(None, {"obs": np.zeros((1, 3))})


def test_a_model_of_three_other_features_is_refused_though_it_would_run(checker, tmp_path):
    names = ["bar_center", "bar_speed", "fish_pos"]
    model = mlp(tmp_path / "scaled3.onnx", ["N", 3], ["N", 2], {"feature_names": json.dumps(names), "frame_stack": "1"})
    verdict = check(checker, model, tmp_path)
    assert verdict.startswith("REFUSED") and "bar_center, bar_speed, fish_pos" in verdict
    # the shape alone would pass: onnxruntime runs the raw numbers through a network trained on scaled ones
    q = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": np.array([[300.0, 200.0, 1.0]])})
    assert q[0].shape == (1, 2)


@pytest.mark.parametrize(("in_shape", "out_shape", "meta", "n_in", "n_out", "expect"), [
    ([3], [2], {}, 3, 2, "ACCEPTED [3]"),  # a seed-contract model from elsewhere: no metadata
    (["N", 3], ["N", 2], {"feature_names": '["bobberBarPos", "bobberPosition", "bobberBarSpeed"]'}, 3, 2,
     "ACCEPTED [1, 3]"),
    ([3], [2], {"feature_names": '["bobberPosition", "bobberBarPos", "bobberBarSpeed"]'}, 3, 2, "REFUSED"),  # order
    (["N", 12], ["N", 2], {"frame_stack": "4"}, 12, 2, "REFUSED"),  # 4 ticks of the seed's 3
    ([3], [2], {"frame_stack": "4"}, 3, 2, "REFUSED"),
    ([3], [3], {}, 3, 3, "REFUSED"),  # three outputs: not (release, hold)
    ([2, 3], [2, 2], {}, 3, 2, "REFUSED"),  # a batch of 2: the mod feeds one state
])
def test_the_check_accepts_the_seed_contract_only(checker, tmp_path, in_shape, out_shape, meta, n_in, n_out, expect):
    model = mlp(tmp_path / "m.onnx", in_shape, out_shape, meta, n_in, n_out)
    assert check(checker, model, tmp_path).startswith(expect)


def test_a_float_model_with_a_batch_of_one_is_accepted(checker, tmp_path):
    w = numpy_helper.from_array(np.ones((3, 2), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["input", "w"], ["q"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, 2])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save_model(model, str(tmp_path / "f.onnx"))
    assert check(checker, tmp_path / "f.onnx", tmp_path) == "ACCEPTED [1, 3]"


def test_a_model_with_a_second_input_is_refused(checker, tmp_path):
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["q"])], "g",
                              [helper.make_tensor_value_info("a", TensorProto.DOUBLE, [3]),
                               helper.make_tensor_value_info("b", TensorProto.DOUBLE, [3])],
                              [helper.make_tensor_value_info("q", TensorProto.DOUBLE, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save_model(model, str(tmp_path / "two.onnx"))
    assert check(checker, tmp_path / "two.onnx", tmp_path).startswith("REFUSED not a policy the mod can run: it has 2 inputs")
