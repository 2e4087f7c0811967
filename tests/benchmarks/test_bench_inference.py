"""`make bench BENCH=inference`: every model's latency comes with its ratio to the one-layer reference."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_inference import main  # noqa: E402


def test_each_model_is_reported_beside_the_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the exported models' paths are relative to the project root, as make runs it
    out = tmp_path / "bench.json"
    main(["--calls", "50", "--json", str(out)])
    ref, *models = json.loads(out.read_text())
    assert ref["model"].startswith("reference") and ref["calls"] == 50
    assert {m["model"] for m in models} >= {"exported/autofisher_dqn.onnx", "exported/autofisher_dqn_rich.onnx"}
    for m in models:
        assert m["median_ratio_to_reference"] == pytest.approx(m["median_us"] / ref["median_us"])
        assert m["p99_ratio_to_reference"] == pytest.approx(m["p99_us"] / ref["p99_us"])


@pytest.mark.parametrize("calls", ["0", "-1"])
def test_fewer_than_one_call_is_a_usage_error(tmp_path, capsys, calls):
    with pytest.raises(SystemExit) as e:
        main(["--calls", calls, "--json", str(tmp_path / "bench.json")])
    assert e.value.code == 2 and "--calls" in capsys.readouterr().err
    assert not (tmp_path / "bench.json").exists()
