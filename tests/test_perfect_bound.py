"""The perfect-catch upper bound is sound: no policy makes a perfect catch of a fish it marks impossible."""

import numpy as np

from agents.perfect_bound import perfect_impossible, summary
from agents.population import DEV_SEED0, run_episodes
from envs.stardew.controllers import make_controller

SEED0 = DEV_SEED0 + 777_000


def test_no_policy_catches_perfectly_a_fish_the_bound_marks_impossible():
    n = 1500
    res = perfect_impossible(n, SEED0)
    imp = res["impossible"]
    assert 0.1 < imp.mean() < 0.6  # the bound marks the fast fish, and only some of them
    assert imp[res["difficulty"] < 50].mean() < 0.01  # slow fish are never out of reach at the start
    for name in ("lead", "braking", "naive", "random"):
        ep = run_episodes(make_controller(name), n=n, seed0=SEED0)
        assert not (ep.perfect & imp).any(), name
        # the same fish, levels and seeds as the protocol's episodes
        assert np.array_equal(ep.level, res["level"]) and np.array_equal(ep.difficulty, res["difficulty"])


def test_bound_summary_reports_overall_hard_and_per_level_bounds():
    s = summary(perfect_impossible(400, SEED0))
    assert s["episodes"] == 400
    assert 0.0 < s["hard_perfect_upper_bound"] < s["perfect_upper_bound"] < 1.0
    assert set(s["by_level"]) <= set(range(11)) and len(s["by_level"]) >= 10
