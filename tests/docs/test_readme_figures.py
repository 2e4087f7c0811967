"""The README's headline figures are the ones the project's commands wrote to reports/*.json.

The README is written by hand; `make evaluate`, `make perfect-bound` and `make bench BENCH=inference` write the
reports. When a new model ships, the README's "What it does today" table must move with them. After your own
`make train-dqn && make export-onnx && make evaluate`, reports/ describes your models and the README still the
shipped ones, so these checks skip while reports/ differs from the committed reports.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _shipped_reports() -> None:
    try:
        changed = subprocess.run(["git", "status", "--porcelain", "--", "reports"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return  # no git: the reports are the shipped ones
    if changed.returncode == 0 and changed.stdout.strip():
        pytest.skip("reports/ holds a run of your own (it differs from the committed reports); the README quotes the "
                    "shipped models")


@pytest.fixture(scope="module")
def readme() -> str:
    return (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def overall() -> dict:
    evaluation = json.loads((ROOT / "reports" / "evaluation.json").read_text())
    return {name: p["overall"] for name, p in evaluation["policies"].items()}


def _row(text: str, starts: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(starts)]
    assert len(rows) == 1, f"README.md: expected one table row starting {starts!r}, found {len(rows)}"
    return rows[0]


def _figure(row: str) -> str:
    """The 'figure' cell of a row of the capabilities table."""
    return row.split("|")[2].strip()


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def test_the_capabilities_table_quotes_the_shipped_dqn_figures(readme: str, overall: dict) -> None:
    best = overall["dqn_best"]
    row = _figure(_row(readme, "| DQN (visible features), 5,000 held-out fish"))
    assert row == (f"{_pct(best['catch'])} caught, {_pct(best['hard_catch'])} of difficulty >= 90, "
                   f"{_pct(best['perfect'])} perfect"), row


def test_the_capabilities_table_quotes_the_seed_mods_drop_in_beside_the_braking_controller(readme: str,
                                                                                          overall: dict) -> None:
    row = _figure(_row(readme, "| DQN on the seed mod's 3 raw inputs"))
    assert row == f"{_pct(overall['dqn_seed']['catch'])} caught (braking controller: {_pct(overall['braking']['catch'])})"


def test_the_capabilities_table_quotes_the_baselines_beside_it(readme: str, overall: dict) -> None:
    row = _figure(_row(readme, "| best hand-written controller / SB3 PPO"))
    figures = re.findall(r"(\d+\.\d)%", row)
    assert figures == [f"{100 * overall['lead']['catch']:.1f}", f"{100 * overall['ppo_state']['catch']:.1f}"], row


def test_the_capabilities_table_quotes_the_perfect_catch_bound(readme: str) -> None:
    report = json.loads((ROOT / "reports" / "perfect_bound.json").read_text())
    row = _figure(_row(readme, "| perfect catches no policy can exceed"))
    assert row == _pct(report["perfect_upper_bound"]), row


def test_the_capabilities_table_quotes_the_inference_benchmark(readme: str) -> None:
    rows = {Path(r["model"]).name: r for r in json.loads((ROOT / "reports" / "bench_inference.json").read_text())}
    seed, rich = rows["autofisher_dqn.onnx"], rows["autofisher_dqn_rich.onnx"]
    row = _figure(_row(readme, "| ONNX inference, one call, one thread"))
    assert row == (f"{seed['median_us']:.1f} / {rich['median_us']:.1f} us median, "
                   f"{seed['p99_us']:.1f} / {rich['p99_us']:.1f} us p99"), row


def test_the_evaluation_guide_quotes_the_shipped_figures(overall: dict) -> None:
    """docs/evaluation.md sums the generated tables up in a few figures; they are the reports' too."""
    guide = " ".join((ROOT / "docs" / "evaluation.md").read_text().split())
    best = overall["dqn_best"]
    assert (f"The best policy catches {_pct(best['catch'])} of the held-out fish, {_pct(best['hard_catch'])} of those "
            f"of difficulty >= 90, and {_pct(best['perfect'])} perfectly") in guide
    assert (f"catches {_pct(overall['dqn_seed']['catch'])}, above the `braking` controller's "
            f"{_pct(overall['braking']['catch'])}") in guide
    bound = json.loads((ROOT / "reports" / "perfect_bound.json").read_text())
    share = bound["policies"]["dqn_best"]["share_of_possible"]
    assert (f"no policy can exceed {_pct(bound['perfect_upper_bound'])} perfect on these seeds; the best policy "
            f"perfects {_pct(share)} of the fights the bounds leave open") in guide
