"""The README's headline figures are the ones `make evaluate` wrote to reports/evaluation.json.

The README is written by hand and the reports by `make evaluate`; when a new model ships, the
"At a glance" table and the targets table of issue 3 must move with it (they once kept the figures
of the model shipped before). After your own `make train-dqn && make export-onnx && make evaluate`,
reports/ describes your models and the README still the shipped ones, so these checks skip while
reports/ differs from the committed reports.
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
def evaluation() -> dict:
    return json.loads((ROOT / "reports" / "evaluation.json").read_text())


@pytest.fixture(scope="module")
def overall(evaluation: dict) -> dict:
    return {name: p["overall"] for name, p in evaluation["policies"].items()}


def _row(text: str, starts: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(starts)]
    assert len(rows) == 1, f"README.md: expected one table row starting {starts!r}, found {len(rows)}"
    return rows[0]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def test_at_a_glance_quotes_the_shipped_dqn_figures(readme: str, overall: dict) -> None:
    best = overall["dqn_best"]
    row = _row(readme, "| DQN (visible features), 5,000 held-out fish")
    for what, x in (("catch", best["catch"]), ("hard catch", best["hard_catch"]), ("perfect", best["perfect"])):
        assert _pct(x) in row, f"README.md 'At a glance': {what} should read {_pct(x)}: {row}"
    seed_row = _row(readme, "| DQN on the seed mod's 3 raw inputs")
    assert _pct(overall["dqn_seed"]["catch"]) in seed_row, seed_row
    assert _pct(overall["braking"]["catch"]) in seed_row, seed_row


def test_at_a_glance_quotes_the_baselines_beside_it(readme: str, overall: dict) -> None:
    row = _row(readme, "| best hand-written controller / SB3 PPO")
    figures = re.findall(r"(\d+\.\d)%", row)
    assert figures == [f"{100 * overall['lead']['catch']:.1f}", f"{100 * overall['ppo_state']['catch']:.1f}"], row


def test_issue_targets_table_quotes_the_shipped_dqn_figures(readme: str, overall: dict, evaluation: dict) -> None:
    best = overall["dqn_best"]
    catch = _row(readme, "| best policy catch >= 92%")
    assert f"{100 * best['catch']:.2f}%" in catch, catch
    hard = _row(readme, "| best policy difficulty >= 90 catch >= 55%")
    assert _pct(best["hard_catch"]) in hard, hard
    perfect = _row(readme, "| best policy perfect >= 60%")
    assert perfect.split("|")[2].strip().startswith(_pct(best["perfect"])), perfect
    seed = _row(readme, "| seed-contract model beats braking overall")
    assert f"{_pct(overall['dqn_seed']['catch'])} vs {_pct(overall['braking']['catch'])}" in seed, seed
    paired = evaluation["paired"]["dqn_seed vs braking"]
    assert f"({paired['new_successes']} new successes, {paired['regressions']} regressions)" in seed, seed


def test_paired_comparison_with_lead_in_the_readme_is_the_reported_one(readme: str, evaluation: dict) -> None:
    lead = evaluation["paired"]["dqn_best vs lead"]
    quoted = f"{lead['new_successes']} new successes against `lead`, {lead['regressions']} regressions"
    assert quoted in readme, f"README.md should quote dqn_best vs lead as: {quoted}"


def test_readme_copy_of_the_evaluation_tables_matches_the_report(readme: str, overall: dict) -> None:
    report = set((ROOT / "reports" / "evaluation.md").read_text().splitlines())
    names = "|".join(re.escape(n) for n in overall)
    copied = [line for line in readme.splitlines() if re.match(rf"\| ({names})( vs ({names}))? \|", line)]
    assert len(copied) >= 3 * len(overall), "README.md: the evaluation tables of `make evaluate` are missing"
    stale = [line for line in copied if line not in report]
    assert not stale, f"README.md rows that reports/evaluation.md no longer has: {stale}"


def test_why_the_perfects_are_lost_quotes_make_perfect_bound(readme: str, overall: dict) -> None:
    """The anatomy of dqn_best's lost perfects and the 58.1% it leads to are reports/perfect_bound.json's."""
    report = json.loads((ROOT / "reports" / "perfect_bound.json").read_text())
    best = report["policies"]["dqn_best"]
    anatomy = best["loss_anatomy"]
    assert f"For `dqn_best`'s {anatomy['open_fights_lost']}:" in readme
    rows = {"its reaction": anatomy["kept_after_the_move"],
            **{f"{'needed knowing the move ' if k == '1' else ''}{k} tick{'' if k == '1' else 's'}": v
               for k, v in anatomy["needed_foresight"].items()},
            "more than 40 ticks": anatomy["needed_more_than_40_ticks"]}
    listed = "\n".join(line.strip() for line in readme.splitlines())  # the table sits in a bullet, indented
    for starts, count in rows.items():
        row = _row(listed, f"| {starts}")
        assert row.endswith(f"| {count} |"), f"README.md: {row!r} should count {count}"
    reacted = best["perfect"] + anatomy["kept_after_the_move"]
    assert f"would reach {reacted:,} ({_pct(reacted / report['episodes'])})" in readme
    perfect = _row(readme, "| best policy perfect >= 60%")
    assert f"with a perfect reaction to every fish move it lost, {_pct(reacted / report['episodes'])}" in perfect
    assert best["perfect"] == round(overall["dqn_best"]["perfect"] * report["episodes"])  # the same model and seeds
