"""The perfect-catch upper bounds are sound: no policy makes a perfect catch of a fish they mark impossible."""

import dataclasses

import numpy as np
import pytest

from agents.evaluation.protocol import DEV_SEED0, Episodes, protocol_config, run_episodes
from analysis.perfect_bound import (
    BOTTOM,
    EPS,
    INTERIOR,
    TOP,
    BarRecord,
    against_policies,
    any_policy,
    bar_image,
    fight_paths,
    fish_moves,
    holding_bars,
    loss_anatomy,
    perfect_impossible,
    perfect_impossible_hold,
    perfect_reachable,
    summary,
)
from envs.stardew import rules as R
from envs.stardew.controllers import make_controller

SEED0 = DEV_SEED0 + 777_000
N = 600


@pytest.fixture(scope="module")
def paths():
    return fight_paths(N, SEED0)


@pytest.fixture(scope="module")
def bounds(paths):
    return perfect_impossible(N, SEED0, paths)


def test_no_policy_catches_perfectly_a_fish_either_bound_marks_impossible(bounds):
    imp = bounds["impossible"]
    assert 0.1 < imp.mean() < 0.6  # the bounds mark the fast fish, and only some of them
    assert imp[bounds["difficulty"] < 50].mean() < 0.01  # slow fish are never out of reach at the start
    assert (imp == (bounds["impossible_hold"] | bounds["impossible_reach"])).all()
    for name in ("lead", "braking", "naive", "random"):
        ep = run_episodes(make_controller(name), n=N, seed0=SEED0)
        assert not (ep.perfect & bounds["impossible_hold"]).any(), name
        assert not (ep.perfect & bounds["impossible_reach"]).any(), name
        # the same fish, levels and seeds as the protocol's episodes
        assert np.array_equal(ep.level, bounds["level"]) and np.array_equal(ep.difficulty, bounds["difficulty"])


def test_hold_keeps_a_fight_where_the_fish_may_leave_after_a_shake_free_tick():
    # held-out seed 90,004,755: the shipped DQN let the fish out right after the shake-free tick 30,
    # kept the perfect through 23 ticks out, and caught it perfectly; the held bar loses it later
    seed = 90_004_755
    assert not perfect_impossible_hold(1, seed)["impossible"][0]
    paths = fight_paths(1, seed, horizon=64)
    assert (paths["shake"][0, 1:31] == 0).any()


def test_policy_check_names_the_seeds_a_policy_caught_perfectly_against_a_bound():
    seeds = np.arange(100, 106)
    res = {"impossible": np.array([1, 1, 0, 0, 0, 0], bool), "impossible_hold": np.array([1, 0, 0, 0, 0, 0], bool),
           "impossible_reach": np.array([0, 1, 0, 0, 0, 0], bool)}
    z = np.zeros(6, bool)
    ep = Episodes(seeds=seeds, caught=z, perfect=np.array([0, 1, 1, 1, 0, 0], bool), truncated=z, ticks=seeds,
                  fish=seeds, level=seeds, difficulty=seeds, perfect_lost_step=np.array([5, -1, -1, -1, 40, 60]))
    other = dataclasses.replace(ep, perfect=np.array([0, 0, 0, 0, 1, 0], bool))
    both = {"p": ep, "q": other}
    out = against_policies(res, both)["p"]
    assert out["perfect_where_hold_rules_out"] == [] and out["perfect_where_reach_rules_out"] == [101]
    assert (out["perfect"], out["possible"], out["share_of_possible"]) == (3, 4, 0.75)
    assert out["perfect_lost_open"] == {"fights": 2, "median_tick": 50.0, "share_within_30_ticks": 0.0}
    assert out["perfect_lost_ruled_out"] == {"fights": 1, "median_tick": 5.0, "share_within_30_ticks": 1.0}
    anyone = any_policy(res, both)
    assert anyone["perfect"] == 4 and anyone["share_of_possible"] == 0.75


def test_bound_summary_reports_overall_hard_and_per_level_bounds(bounds):
    s = summary(bounds)
    assert s["episodes"] == N
    assert 0.0 < s["hard_perfect_upper_bound"] < s["perfect_upper_bound"] < 1.0
    assert s["perfect_upper_bound"] <= min(s["perfect_upper_bound_hold_only"], s["perfect_upper_bound_reach_only"])
    assert set(s["by_level"]) <= set(range(11)) and len(s["by_level"]) >= 10


# the reachability search on made-up fish paths: a level-0 bar (96 px) resting on the bottom, progress 0.3
H = 96
BAR0 = np.float32(R.BAR_TRACK_HEIGHT - H)
DRAIN = R.progress_drain(protocol_config().compile()[0], np.float32(1.0))


def _reach(fish, shake):
    return perfect_reachable(np.asarray(fish, np.float32), np.asarray(shake, np.int8), H, BAR0, np.float32(0.0),
                             np.float32(0.3), DRAIN)


def test_reach_finds_a_perfect_catch_of_a_fish_that_stays_put():
    status, tick, _ = _reach(np.full(600, 508.0), np.ones(600))
    assert status == 1
    assert tick == 350  # in float32, 0.3 + 0.002 per tick reaches 1.0 on the 351st tick (tick index 350)


def test_reach_rules_out_a_fish_that_jumps_out_of_any_bar_after_a_shake():
    fish = np.r_[np.full(10, 508.0), np.full(20, 0.0), np.full(570, 508.0)]  # the bar cannot climb 470 px in a tick
    status, tick, _ = _reach(fish, np.ones(600))
    assert (status, tick) == (0, 10)


def test_reach_lets_the_fish_go_after_a_tick_that_drew_no_shake():
    fish = np.r_[np.full(10, 508.0), np.full(20, 0.0), np.full(570, 508.0)]
    shake = np.ones(600)
    shake[9] = 0  # the game's 1-in-441 tick: leaving right after it keeps the perfect
    status, tick, _ = _reach(fish, shake)
    assert status == 1
    assert tick > 350  # twenty ticks out drained the meter, so the catch comes later


# the interval forms agree with the rules they mirror, point by point
CFG_I = protocol_config().compile()[0]


def test_holding_bars_is_the_in_bar_test_as_an_interval():
    rng = np.random.default_rng(0)
    for level in range(11):
        h = 96 + 8 * level
        for pos in np.r_[rng.uniform(0, 532, 200), 532.0, 0.0, 548.0 - h].astype(np.float32):
            w_lo, w_hi = holding_bars(pos, h)
            for bar in np.r_[rng.uniform(0, 568 - h, 200), 0.0, 568 - h, 564 - h].astype(np.float32):
                if R.fish_in_bar(pos, bar, h):
                    assert w_lo <= bar <= w_hi, (level, pos, bar)
                elif w_lo + 2 * EPS <= bar <= w_hi - 2 * EPS:
                    raise AssertionError(f"a bar inside the interval does not hold the fish: {level, pos, bar}")


def test_bar_image_holds_the_bar_the_rules_move_to():
    rng = np.random.default_rng(1)
    h = 120
    bottom = np.float32(568 - h)
    for _ in range(3000):
        bar = np.float32(rng.choice([0.0, bottom, rng.uniform(0, bottom)]))
        speed = np.float32(rng.uniform(-12, 12))
        press, in_bar = bool(rng.integers(2)), bool(rng.integers(2))
        new_bar, new_speed = R.move_bar(bar, speed, press, in_bar, np.float32(300.0), h, CFG_I)
        edge = BOTTOM if bar == bottom else TOP if bar == 0.0 else INTERIOR
        B = (np.empty(8, np.int64), np.empty(8, np.int64), np.empty(8), np.empty(8), np.empty(8, np.float32),
             np.empty(8), np.empty(8))
        k = bar_image(B, 0, 0, float(bar), float(bar), edge, float(speed), float(speed), press, in_bar,
                      np.float32(0.5), float(bottom))
        assert any(B[5][j] <= new_bar <= B[6][j] and B[2][j] <= new_speed <= B[3][j]
                   and (B[1][j] == INTERIOR or new_bar == (bottom if B[1][j] == BOTTOM else 0.0))
                   for j in range(k)), (bar, speed, press, in_bar)


def test_the_command_prints_strict_json_when_the_seeds_drew_no_hard_fish(capsys):
    """Seeds 90,000,000..90,000,001 hold no fish of difficulty >= 90: the hard bound is null, not a bare NaN."""
    import json

    from analysis.perfect_bound import main

    main(["--episodes", "2", "--no-policies"])
    s = json.loads(capsys.readouterr().out, parse_constant=lambda token: pytest.fail(f"not JSON: {token}"))
    assert s["hard_episodes"] == 0 and s["hard_perfect_upper_bound"] is None
    assert s["episodes"] == 2


@pytest.mark.parametrize("episodes", ["0", "-1"])
def test_the_command_refuses_fewer_than_one_episode(capsys, episodes):
    from analysis.perfect_bound import main

    with pytest.raises(SystemExit) as e:
        main(["--episodes", episodes, "--no-policies"])
    assert e.value.code == 2 and "--episodes" in capsys.readouterr().err


@pytest.mark.parametrize(("seed0", "why"), [("-1", "must be >= 0"), (str(2**64), "pass 2**63 - 1")])
def test_the_command_refuses_seeds_outside_what_reset_takes(capsys, seed0, why):
    from analysis.perfect_bound import main

    with pytest.raises(SystemExit) as e:
        main(["--episodes", "2", "--seed0", seed0, "--no-policies"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--seed0" in err and why in err


# why a policy lost the perfect: a made-up fight on a level-0 bar, the fish resting mid-track in the middle of the
# bar's window with the bar at rest, until step 100, when it takes a new target 150 px up and swims there at a steady
# speed; the policy let it go 15 steps later
def _anatomy_of_a_climb(speed: float, move: int = 100) -> dict:
    T, start, stop = 700, 300.0, 150.0
    step = np.arange(T) + 1  # fish[t] is the fish after step t + 1
    fish = np.maximum(start - speed * np.maximum(0, step - move), stop).astype(np.float32)
    paths = {"fish": fish[None], "shake": np.ones((1, T), np.int8),
             "target": np.where(step >= move, stop, start).astype(np.float32)[None],
             "target0": np.array([start], np.float32), "height": np.array([H]),
             "penalty_mod": np.array([1.0], np.float32), "cfg_i": CFG_I}
    rec = BarRecord(1, T)
    rec.bar[:] = start - 18.0  # the window is [bar - 16, bar + 52]: 34 px either side of the fish
    rec.progress[:] = np.minimum(0.3 + 0.002 * np.arange(T + 1), 0.99)
    rec.in_bar[:] = 1
    return loss_anatomy(paths, rec, np.array([move + 15]), np.array([True]))


def test_loss_anatomy_blames_the_reaction_when_the_bar_could_follow_the_move():
    # a bar that starts pressing when the fish does falls behind by speed^2 / 0.3 px at most: 13 px at 2 px/tick
    a = _anatomy_of_a_climb(2.0)
    assert a["open_fights_lost"] == 1 and a["kept_after_the_move"] == 1
    assert sum(a["needed_foresight"].values()) == 0 and a["needed_more_than_40_ticks"] == 0


def test_loss_anatomy_counts_the_foresight_a_fast_move_needed():
    # at 4 px/tick the lag (53 px) passes the 34 px above the fish: only a bar that had moved up the window
    # before the fish left (up to 34 px more room) keeps it, which takes ticks of knowing the move is coming
    a = _anatomy_of_a_climb(4.0)
    assert a["kept_after_the_move"] == 0
    assert a["needed_foresight"] == {"1": 0, "2": 0, "3": 0, "5": 0, "10": 1, "20": 0, "40": 0}
    # a move 7 ticks after the reset: the bar had at most those 7 ticks, and they were enough
    assert _anatomy_of_a_climb(4.0, move=7)["needed_foresight"]["10"] == 1
    # at 8 px/tick only 40 ticks of warning do; a fish that climbs 5 ticks after the reset gives no such time
    assert _anatomy_of_a_climb(8.0)["needed_foresight"]["40"] == 1
    early = _anatomy_of_a_climb(8.0, move=5)
    assert sum(early["needed_foresight"].values()) == 0 and early["needed_more_than_40_ticks"] == 1
    # and no bar keeps a fish that crosses the track in five ticks
    b = _anatomy_of_a_climb(30.0)
    assert b["kept_after_the_move"] == 0 and sum(b["needed_foresight"].values()) == 0
    assert b["needed_more_than_40_ticks"] == 1


def test_loss_anatomy_of_a_controller_accounts_for_every_open_fight_it_lost(paths, bounds):
    rec = BarRecord(N)
    ep = run_episodes(make_controller("braking"), n=N, seed0=SEED0, on_step=rec)
    # run_episodes showed every step, the reset first: the bar starts at rest on the bottom
    assert (rec.bar[:, 0] == R.BAR_TRACK_HEIGHT - paths["height"]).all() and (rec.speed[:, 0] == 0).all()
    possible = ~bounds["impossible"]
    a = loss_anatomy(paths, rec, ep.perfect_lost_step, possible)
    lost = possible & (ep.perfect_lost_step > 0)
    assert a["open_fights_lost"] == lost.sum() > 10
    assert a["open_fights_lost"] == (a["lost_past_the_recorded_steps"] + a["kept_after_the_move"]
                                     + sum(a["needed_foresight"].values()) + a["needed_more_than_40_ticks"])
    assert 0 < a["kept_after_the_move"] < a["open_fights_lost"]


def test_fish_moves_are_the_ticks_the_fish_took_a_new_target():
    paths = fight_paths(50, SEED0, horizon=400)
    for g in range(50):
        moves = fish_moves(paths, g)
        target = np.r_[paths["target0"][g], paths["target"][g]]
        # between two moves: one target, or none (-1)
        for a, b in zip(np.r_[0, moves], np.r_[moves, 401], strict=True):
            assert set(np.unique(target[a:b])) <= {target[a], np.float32(-1.0)}


def test_the_command_writes_its_json_where_out_says_and_a_short_run_leaves_the_report_alone(capsys, tmp_path,
                                                                                         monkeypatch):
    from analysis import perfect_bound

    monkeypatch.setattr(perfect_bound, "REPORT", tmp_path / "reports" / "perfect_bound.json")
    perfect_bound.main(["--episodes", "2", "--no-policies"])
    assert not (tmp_path / "reports").exists()  # the README quotes the full run's report
    out = tmp_path / "new" / "bound.json"
    perfect_bound.main(["--episodes", "2", "--no-policies", "--out", str(out)])
    printed = capsys.readouterr().out.split("\n{")[-1]
    assert out.read_text() == "{" + printed


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_the_command_refuses_an_out_it_cannot_write_before_any_work(capsys, tmp_path, where):
    from analysis.perfect_bound import main

    (tmp_path / "f").write_text("x")
    out = tmp_path if where == "folder" else tmp_path / "f" / "bound.json"
    with pytest.raises(SystemExit) as e:
        main(["--episodes", "2", "--no-policies", "--out", str(out)])
    err = capsys.readouterr()
    assert e.value.code == 2 and "--out" in err.err and err.out == ""
