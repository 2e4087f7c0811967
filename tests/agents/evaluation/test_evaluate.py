"""`python -m agents.evaluation`: what it writes, and where."""

import json
import shutil
from pathlib import Path

import pytest

import agents.evaluation.evaluate as ev
from agents.evaluation.report import markdown

ROOT = Path(__file__).resolve().parents[3]


def committed_evaluation() -> dict:
    """reports/evaluation.json as evaluate_all returns it (fishing levels as int keys)."""
    res = json.loads((ROOT / "reports" / "evaluation.json").read_text())
    for p in res["policies"].values():
        p["per_level"] = {int(k): v for k, v in p["per_level"].items()}
    return res


@pytest.fixture
def exported(tmp_path, monkeypatch):
    """An exported/ folder with the shipped export report and a model card; evaluation replaced by the report."""
    exp = tmp_path / "exported"
    exp.mkdir()
    shutil.copy(ROOT / "exported" / "export_report.json", exp)
    (exp / "README.md").write_text("the published model card\n")
    monkeypatch.setattr(ev, "evaluate_all", lambda episodes, models=None, ppo_models=None: committed_evaluation())
    monkeypatch.chdir(tmp_path)
    return exp


@pytest.mark.parametrize("args", [["--episodes", "50", "--out", "rep"], ["--episodes", "50"], ["--out", "rep"]])
def test_a_partial_evaluation_leaves_the_model_card_alone(exported, tmp_path, capsys, args):
    main_out = tmp_path / (args[args.index("--out") + 1] if "--out" in args else "runs/evaluate-50")
    ev.main([*args, "--exported", str(exported)])
    assert (exported / "README.md").read_text() == "the published model card\n"
    card = (main_out / "model_card.md").read_text()
    assert card.startswith("# Exported DQN policies")
    assert f"Per level, per fish and paired comparisons: `{main_out.relative_to(tmp_path) / 'evaluation.md'}`" in card
    assert "model card" in capsys.readouterr().out


def test_fewer_episodes_leave_the_published_reports_alone(exported, tmp_path, capsys):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "evaluation.json").write_text("the published figures\n")
    ev.main(["--episodes", "50", "--exported", str(exported)])
    assert (tmp_path / "reports" / "evaluation.json").read_text() == "the published figures\n"
    assert (tmp_path / "runs" / "evaluate-50" / "evaluation.json").exists()
    assert "runs/evaluate-50/evaluation.json" in capsys.readouterr().out


def test_an_out_folder_that_is_a_file_is_a_usage_error_before_the_evaluation(exported, tmp_path, capsys,
                                                                               monkeypatch):
    (tmp_path / "taken").write_text("a file")
    monkeypatch.setattr(ev, "evaluate_all", lambda *a, **k: pytest.fail("evaluated before checking --out"))
    for out in ("taken", "taken/rep"):
        with pytest.raises(SystemExit) as e:
            ev.main(["--out", out, "--exported", str(exported)])
        assert e.value.code == 2 and f"--out {out}: taken is a file, not a folder" in capsys.readouterr().err


def test_the_full_default_evaluation_rewrites_the_model_card(exported, tmp_path):
    ev.main(["--exported", str(exported)])
    assert (exported / "README.md").read_text().startswith("# Exported DQN policies")
    assert not (tmp_path / "reports" / "model_card.md").exists()


def _shipped_reports() -> bool:
    import subprocess

    try:
        changed = subprocess.run(["git", "status", "--porcelain", "--", "reports", "exported"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return True
    return changed.returncode == 0 and not changed.stdout.strip()


@pytest.mark.skipif(not _shipped_reports(), reason="reports/ or exported/ hold a run of your own")
def test_the_published_reports_are_what_the_code_writes_from_their_json(tmp_path):
    """evaluation.md and the model card regenerate byte for byte from the committed evaluation.json."""
    from agents.evaluation.model_card import write_model_card

    res = committed_evaluation()
    assert markdown(res) == (ROOT / "reports" / "evaluation.md").read_text()
    card = write_model_card(res, ROOT / "exported", tmp_path / "card.md")
    assert card.read_text() == (ROOT / "exported" / "README.md").read_text()
    assert "min wall on 2 CPU cores" in card.read_text()  # training cost with its core count (evaluation.md)


def test_the_safety_cap_is_reported_when_it_fires(tmp_path):
    from agents.evaluation.model_card import write_model_card

    res = committed_evaluation()
    assert all(p["overall"]["truncated"] == 0 for p in res["policies"].values())
    assert "Safety cap" not in markdown(res)  # the published reports: none fired
    res["policies"]["dqn_best"]["overall"]["truncated"] = 3
    res["policies"]["random"]["overall"]["truncated"] = 1
    line = ("Safety cap fired: episodes that reached 20,000 ticks without a catch or an escape (counted as not "
            "caught): random 1 of 5,000, dqn_best 3 of 5,000")
    md = markdown(res).splitlines()
    assert md.index(line) < md.index("## Catch % by fishing level")
    assert line in write_model_card(res, ROOT / "exported", tmp_path / "card.md").read_text().splitlines()


def strict_json(path: Path) -> dict:
    def reject(token: str):
        raise ValueError(f"{path} is not JSON: it holds {token}")

    return json.loads(path.read_text(), parse_constant=reject)


def test_a_small_run_writes_strict_json_and_dashes_for_rates_over_no_episodes(tmp_path):
    """3 episodes leave most fishing levels and the hard fish without episodes: their rates are null in the
    JSON (Python's bare NaN is not JSON) and "-" in the tables."""
    empty = tmp_path / "no_models"
    empty.mkdir()
    ev.main(["--episodes", "3", "--out", str(tmp_path / "rep"), "--exported", str(empty)])
    res = strict_json(tmp_path / "rep" / "evaluation.json")
    levels = res["policies"]["random"]["per_level"]
    assert any(s["episodes"] == 0 and s["catch"] is None and s["perfect"] is None for s in levels.values())
    assert res["policies"]["random"]["overall"]["episodes"] == 3
    assert "nan" not in (tmp_path / "rep" / "evaluation.md").read_text().lower()


def test_exported_folder_is_where_every_learned_policy_comes_from(tmp_path, capsys):
    """--exported names the folder of the state PPO too, not only of the DQNs: a folder without it has none."""
    empty = tmp_path / "no_models"
    empty.mkdir()
    models, ppo = ev.exported_models(empty)
    assert all(Path(p).parent == empty for p in models.values())
    assert ppo == {"ppo_state": str(empty / "ppo_state" / "policy")}
    assert ev.learned_policies(models, ppo) == {}
    assert all(f"{name} left out" in line for name, line in zip(  # each one said, none dropped in silence
        ["dqn_best", "dqn_seed", "ppo_state"], capsys.readouterr().out.splitlines(), strict=True))
    shutil.copytree(ROOT / "exported" / "ppo_state", empty / "ppo_state")
    assert list(ev.learned_policies(*ev.exported_models(empty))) == ["ppo_state"]


@pytest.mark.parametrize("name", ["autofisher_dqn.onnx", "autofisher_dqn_rich.onnx"])
def test_a_file_that_is_not_a_model_is_named_in_a_one_line_error(tmp_path, name):
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / name).write_bytes(b"not an onnx model\n")
    with pytest.raises(SystemExit) as e:
        ev.main(["--episodes", "3", "--out", str(tmp_path / "rep"), "--exported", str(folder)])
    assert str(folder / name) in str(e.value) and "cannot load" in str(e.value)


@pytest.mark.parametrize("args", [["--episodes", "0"], ["--episodes", "-5"], ["--exported", "no/such/folder"]])
def test_bad_arguments_stop_with_a_usage_error_naming_them(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as e:
        ev.main(["--out", str(tmp_path / "rep"), *args])
    assert e.value.code == 2
    assert args[0] in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()


def test_every_policy_plays_the_same_test_seeds_and_is_paired_against_lead():
    """evaluate_all: each policy's figures are its episodes on TEST_SEED0.., and "x vs lead" counts x's new
    successes and regressions against lead on those same seeds."""
    from agents.evaluation.protocol import TEST_SEED0, dumps, paired, per_level, run_episodes, summarize
    from envs.stardew.controllers import make_controller

    n = 40
    res = ev.evaluate_all(episodes=n, models={}, ppo_models={})
    assert res["protocol"]["seeds"] == [TEST_SEED0, TEST_SEED0 + n - 1]
    assert list(res["policies"]) == list(ev.BASELINES)
    eps = {name: run_episodes(make_controller(name), n=n, seed0=TEST_SEED0) for name in ("lead", "random")}
    for name, ep in eps.items():
        got = res["policies"][name]
        assert dumps(got["overall"]) == dumps(summarize(ep))
        assert dumps(got["per_level"]) == dumps(per_level(ep))
    assert res["paired"]["random vs lead"] == paired(eps["lead"], eps["random"])
    assert res["paired"]["random vs lead"]["regressions"] > 0  # lead catches fish random loses: the order shows
    assert set(res["paired"]) == {f"{b} vs lead" for b in ev.BASELINES if b != "lead"}


@pytest.mark.parametrize("name", ["ppo_state", "dqn_best"])
def test_learned_policies_play_only_the_games_still_playing_with_the_same_outcomes(name):
    """run_episodes hands the evaluated policies the games still playing (a 5,000-game evaluation waits for the
    slowest fish); computing actions only for those leaves every episode's outcome as it was."""
    import numpy as np

    from agents.evaluation.protocol import run_episodes

    policy = ev.learned_policies(*ev.exported_models(ROOT / "exported"))[name]
    assert policy.supports_active

    class Unmasked:
        features = policy.features

        def reset(self):
            if hasattr(policy, "reset"):
                policy.reset()

        def act(self, sim):
            return policy.act(sim)

    seeds = dict(n=300, seed0=ev.TEST_SEED0)
    masked, full = run_episodes(policy, **seeds), run_episodes(Unmasked(), **seeds)
    for field in ("caught", "perfect", "truncated", "ticks", "fish", "level"):
        np.testing.assert_array_equal(getattr(masked, field), getattr(full, field), err_msg=field)
