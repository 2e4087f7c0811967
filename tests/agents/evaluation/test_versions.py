"""``agents.evaluation.versions``: the shipped DQNs under 1.5.4 and 1.6 rules on the same held-out seeds."""

from __future__ import annotations

import json

from agents.evaluation.versions import evaluate_versions, main, markdown


def test_both_models_and_the_reference_are_played_under_each_version_on_the_same_seeds():
    res = evaluate_versions(episodes=40)
    assert res["protocol"]["fish"] == {"1.5": 60, "1.6": 61}
    assert res["protocol"]["seeds"][1] - res["protocol"]["seeds"][0] == 39
    for version in ("1.5", "1.6"):
        assert set(res["results"][version]) == {"lead", "dqn_seed", "dqn_best"}
        for s in res["results"][version].values():
            assert s["episodes"] == 40 and 0.0 <= s["catch"] <= 1.0 and s["truncated"] == 0
    for name in ("lead", "dqn_seed", "dqn_best"):
        p = res["paired"][f"{name}: 1.6 vs 1.5"]
        assert p["new_successes"] + p["regressions"] + p["both"] + p["neither"] == 40
    table = markdown(res)
    assert table.count("\n| dqn_best | 1.6 | 61 |") == 1 and table.count("| dqn_seed | 1.5 | 60 |") == 1


def test_the_command_writes_its_json_where_asked(tmp_path, capsys):
    out = tmp_path / "versions.json"
    main(["--episodes", "10", "--out", str(out)])
    assert json.loads(out.read_text())["protocol"]["episodes"] == 10
    assert "| lead | 1.6 | 61 |" in capsys.readouterr().out
