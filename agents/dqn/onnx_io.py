"""Build, load and run the exported ONNX Q-networks (a plain float64 MLP: MatMul, Add, Relu).

The graph is written with ``onnx.helper`` from the network's folded layers
(:meth:`QNetwork.folded_layers`; an ensemble's members as parallel branches, summed) rather than
traced: that gives exact control over the seed mod's contract (input named ``"0"``, float64, shape
[3] with no batch dimension), opset 13 and IR version 8 (Microsoft.ML.OnnxRuntime 1.10 loads at
most opset 15 / IR 8), and one file with no external data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from agents.dqn.frames import FrameStack
from agents.evaluation.protocol import act_on_active
from envs.stardew import features as feats

OPSET = 13
IR_VERSION = 8


def build_mlp_onnx(branches: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]], input_name: str, input_shape: list,
                   output_name: str, output_shape: list, metadata: Mapping[str, str], doc: str) -> onnx.ModelProto:
    """Float64 MLPs (ReLU between layers, x @ W^T + b per layer) on one input, their outputs summed.

    One branch is a plain MLP (initializers ``W0, b0, W1, ...``); several (an ensemble, each branch's
    last layer already divided by their number) are written side by side as ``m0.W0, m0.b0, ...,
    m1.W0, ...`` and joined by one ``Sum`` node.
    """
    inits, nodes, outs = [], [], []
    single = len(branches) == 1
    for k, layers in enumerate(branches):
        p = "" if single else f"m{k}."
        h = input_name
        for i, (w, b) in enumerate(layers):
            wn, bn = f"{p}W{i}", f"{p}b{i}"
            inits.append(numpy_helper.from_array(np.ascontiguousarray(w.T, dtype=np.float64), wn))
            inits.append(numpy_helper.from_array(np.asarray(b, dtype=np.float64), bn))
            last = i == len(layers) - 1
            mm, add = f"{p}mm{i}", (output_name if last and single else f"{p}z{i}")
            nodes.append(helper.make_node("MatMul", [h, wn], [mm], name=f"{p}MatMul{i}"))
            nodes.append(helper.make_node("Add", [mm, bn], [add], name=f"{p}Add{i}"))
            if not last:
                h = f"{p}h{i}"
                nodes.append(helper.make_node("Relu", [add], [h], name=f"{p}Relu{i}"))
        outs.append(add)
    if not single:
        nodes.append(helper.make_node("Sum", outs, [output_name], name="Sum"))
    graph = helper.make_graph(
        nodes, "autofisher_q",
        [helper.make_tensor_value_info(input_name, TensorProto.DOUBLE, input_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.DOUBLE, output_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="stardew-rl",
                              doc_string=doc)
    model.ir_version = IR_VERSION
    for k, v in metadata.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    return model


def save_model(model: onnx.ModelProto, path: str | Path) -> None:
    onnx.checker.check_model(model, full_check=True)
    onnx.save_model(model, str(path), save_as_external_data=False)


def mlp_forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """numpy float64 forward pass of one branch's layers (what onnxruntime computes for it)."""
    h = np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def branches_from_onnx(model: onnx.ModelProto) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """The (W, b) pairs of each branch of a model written by :func:`build_mlp_onnx` (outputs sum to Q)."""
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

    def layers(p: str) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        while f"{p}W{len(out)}" in init:
            out.append((init[f"{p}W{len(out)}"].T.copy(), init[f"{p}b{len(out)}"].copy()))
        return out

    if "W0" in init:  # one network
        return [layers("")]
    branches = []
    while f"m{len(branches)}.W0" in init:
        branches.append(layers(f"m{len(branches)}."))
    return branches


class OnnxFileError(ValueError):
    """An ``.onnx`` file that is not a usable model (missing, empty, truncated, not ONNX): names the file."""


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """The model in ``path``, checked by ``onnx.checker``; OnnxFileError naming the file when it is missing,
    empty, truncated or not an ONNX model at all (protobuf's own errors name neither the file nor the problem,
    and it reads an empty file as an empty model)."""
    path = Path(path)
    if not path.is_file():
        raise OnnxFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise OnnxFileError(f"{path}: an empty file, not an ONNX model")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf's DecodeError, or a RuntimeWarning-turned error, for bytes that are not ONNX
        raise OnnxFileError(f"{path}: not an ONNX model, or a truncated one ({size} bytes; "
                            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not model.graph.node or not model.graph.input or not model.opset_import:
        raise OnnxFileError(f"{path}: not an ONNX model ({size} bytes with no graph, inputs or opset: a truncated "
                            "or foreign file)")
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # onnx.checker.ValidationError and friends
        raise OnnxFileError(f"{path}: not a valid ONNX model ({str(e).splitlines()[0] if str(e) else e!r})") from None
    return model


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


class OnnxPolicy:
    """act(sim) with an exported model.

    ``engine="numpy"`` runs the model's own weights as a batched float64 MLP (fast, for 5,000-game
    evaluations); ``engine="onnxruntime"`` calls onnxruntime itself, one game per call
    for a model without a batch dimension (the seed contract), for the export check.

    The features the model reads come from its ``feature_names`` metadata (written by
    ``agents.dqn.export``); for a model without it, name them: ``features="seed"`` for one on the seed
    mod's contract (the raw bobberBarPos, bobberPosition, bobberBarSpeed), with ``engine="onnxruntime"``
    unless it was written by :func:`build_mlp_onnx`.
    """

    def __init__(self, path: str | Path, engine: str = "numpy", features: str | Sequence[str] | None = None):
        if engine not in ("numpy", "onnxruntime"):
            raise ValueError(f"OnnxPolicy: engine must be 'numpy' or 'onnxruntime', got {engine!r}")
        self.path = Path(path)
        self.model = load_onnx(self.path)
        self.meta = metadata(self.model)
        if features is not None:
            self.features = feats.resolve(features)
        elif "feature_names" in self.meta:
            self.features = tuple(json.loads(self.meta["feature_names"]))
        else:
            raise ValueError(
                f"{self.path}: the model's metadata_props have no 'feature_names' (agents.dqn.export writes them), so "
                "the features it reads are unknown; name them: a model on the seed mod's contract (input '0', shape "
                "[3]: bobberBarPos, bobberPosition, bobberBarSpeed) loads with OnnxPolicy(path, "
                "engine='onnxruntime', features='seed')")
        self.frames = FrameStack(int(self.meta.get("frame_stack", "1")))
        self.branches = branches_from_onnx(self.model)
        if engine == "numpy" and not self.branches:
            raise ValueError(f"{self.path}: not an MLP written by agents.dqn.export (no W0, b0, ... initializers), "
                             "which engine='numpy' needs; use engine='onnxruntime'")
        self.engine = engine
        self.name = self.meta.get("policy_name", self.path.stem)
        if engine == "onnxruntime":
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            self.runtime = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
            self.input_name = self.runtime.get_inputs()[0].name
            self.batched = len(self.runtime.get_inputs()[0].shape) == 2

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64)
        if self.engine == "numpy":
            return sum(mlp_forward(layers, x) for layers in self.branches)
        if self.batched:
            return self.runtime.run(None, {self.input_name: x})[0]
        return np.stack([self.runtime.run(None, {self.input_name: row})[0] for row in x])

    def reset(self) -> None:
        self.frames.reset()

    supports_active = True

    def act(self, sim, active: np.ndarray | None = None) -> np.ndarray:
        return act_on_active(lambda x: self.q_values(x).argmax(axis=1), self.frames.push(sim.obs), active)
