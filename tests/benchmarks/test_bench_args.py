"""The benchmarks refuse counts and durations that leave nothing to measure, naming the option, before any work."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


@pytest.mark.parametrize(
    ("script", "argv", "option"),
    [("bench_env", ["--seconds", "0"], "--seconds"),  # was ZeroDivisionError after 3 s of CartPole
     ("bench_compare", ["--rounds", "0"], "--rounds"),  # was an empty median after making a git worktree
     ("bench_compare", ["--trials", "-1"], "--trials"),
     ("bench_screen", ["--trials", "0"], "--trials"),  # was an empty latency array after starting Xvfb
     ("bench_screen", ["--seconds", "-2"], "--seconds"),
     ("bench_bridge", ["--lockstep-steps", "0"], "--lockstep-steps")],
)
def test_a_benchmark_with_nothing_to_measure_is_a_usage_error(script, argv, option, capsys):
    main = importlib.import_module(script).main
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and option in capsys.readouterr().err
