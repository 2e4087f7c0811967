"""The simulator follows the game's BobberBar rules (shared/design/stardew-fishing-facts.md section 1).

Each test pins one rule with a closed-form consequence, so a wrong constant, a wrong order of
operations or float64 where the game uses float32 makes it fail.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from envs.stardew import rules as R
from envs.stardew.sim import FishingSim, GameConfig

f32 = np.float32
STILL_FISH = {"difficulty": 0, "behavior": "smooth"}  # never re-rolls, never hops: it only moves if told to


def one(fish=STILL_FISH, level=0, **kw) -> FishingSim:
    sim = FishingSim(1, GameConfig(fish=fish, level=level, **kw))
    sim.reset(seeds=[7])
    return sim


def freeze_fish(sim: FishingSim, pos: float) -> None:
    """Park a STILL_FISH at ``pos``: no target, no speed, so the tick leaves it where it is."""
    sim.F[0, R.F_FISH_POS] = pos
    sim.F[0, R.F_FISH_SPEED] = 0
    sim.F[0, R.F_FISH_TARGET] = -1


def step(sim: FishingSim, action: int) -> None:
    sim.step(np.array([action]), autoreset=False)


def run_until_end(sim: FishingSim, action: int, cap: int = 5000) -> int:
    for n in range(1, cap + 1):
        step(sim, action)
        if sim.terminated[0] or sim.truncated[0]:
            return n
    raise AssertionError("episode did not end")


# --- progress -------------------------------------------------------------------------------------
def test_fish_always_in_bar_is_caught_after_351_ticks_from_progress_0_3():
    sim = one()  # the still fish sinks to the bottom, where the resting bar holds it (bottom rule)
    assert sim.F[0, R.F_PROGRESS] == f32(0.3)
    assert run_until_end(sim, action=0) == 351
    assert sim.I[0, R.I_STATUS] == R.CAUGHT and sim.I[0, R.I_PERFECT] == 1


def test_fish_always_out_of_bar_escapes_after_100_ticks():
    sim = one()
    sim.F[0, R.F_BAR_POS] = 0  # bar pinned at the top while held, fish at 508
    assert run_until_end(sim, action=1) == 100
    assert sim.I[0, R.I_STATUS] == R.ESCAPED


@pytest.mark.parametrize(
    ("version", "tackle", "training_rod", "ticks"),
    [
        ("1.5", ["trap"], False, 150),  # 0.002 per tick
        ("1.5", [], True, 150),  # the Training Rod drains like a trap bobber
        ("1.6", ["trap", "trap"], False, 200),  # 1.6 stacks: 0.003 - 0.001 - 0.0005 = 0.0015
        ("1.6", ["trap"], False, 150),
        ("1.6", [], True, 150),  # 1.6 keeps the Training Rod's 0.002
        ("1.6", [], False, 100),
    ],
)
def test_drain_rate_follows_tackle_rod_and_version(version, tackle, training_rod, ticks):
    sim = one(version=version, tackle=tackle, training_rod=training_rod)
    sim.F[0, R.F_BAR_POS] = 0
    n = run_until_end(sim, action=1)
    assert abs(n - ticks) <= 1  # float32 rounding of 0.3 / rate


def test_first_ever_fish_starts_at_0_1_and_never_drains():
    sim = one(caught_before=False)
    assert sim.F[0, R.F_PROGRESS] == f32(0.1)
    sim.F[0, R.F_BAR_POS] = 0
    for _ in range(2000):
        step(sim, 1)
    assert not sim.terminated[0] and sim.F[0, R.F_PROGRESS] == f32(0.1)


def test_perfect_is_lost_only_when_the_fish_leaves_the_bar():
    sim = one()
    for _ in range(50):
        step(sim, 0)  # in the bar
    assert sim.I[0, R.I_PERFECT] == 1
    sim.F[0, R.F_BAR_POS] = 0
    step(sim, 1)  # this tick is the first out of the bar
    assert sim.I[0, R.I_IN_BAR] == 0 and sim.I[0, R.I_PERFECT] == 0


def test_perfect_survives_an_exit_after_an_in_bar_tick_that_drew_no_shake():
    """Perfect is cleared through fishShake, which an in-bar tick sets from two Next(-10, 11) draws: when both are 0
    (1 in 441) the next tick out of the bar keeps the perfect, and so do the ticks after it."""
    sim = one()
    freeze_fish(sim, 508)  # in the resting bar; each tick draws the re-roll, then the two shakes
    for _ in range(20_000):
        sim.F[0, R.F_PROGRESS] = 0.5
        draws = sim.R.copy()
        R.net_double(draws, 0)
        no_shake = R.net_next(draws, 0, -10, 11) == 0 and R.net_next(draws, 0, -10, 11) == 0
        step(sim, 0)
        assert sim.I[0, R.I_IN_BAR] == 1 and sim.I[0, R.I_PERFECT] == 1
        if no_shake:
            break
    else:
        raise AssertionError("no shake-free tick drawn")
    sim.F[0, R.F_BAR_POS] = 0  # the fish leaves the bar
    for _ in range(3):
        step(sim, 1)
        assert sim.I[0, R.I_IN_BAR] == 0 and sim.I[0, R.I_PERFECT] == 1


# --- the in-bar window --------------------------------------------------------------------------
@pytest.mark.parametrize("level", [0, 10])
def test_in_bar_window_is_bar_minus_16_to_bar_plus_height_minus_44(level):
    sim = one(level=level)
    h = int(sim.I[0, R.I_HEIGHT])
    bar = f32(200.0)
    for offset, inside in [(-16, True), (-16.5, False), (h - 44, True), (h - 43.5, False), (h / 2 - 30, True)]:
        sim.reset(seeds=[7])
        sim.F[0, R.F_BAR_POS] = bar
        sim.F[0, R.F_BAR_SPEED] = 0
        freeze_fish(sim, bar + f32(offset))
        step(sim, 0)
        assert bool(sim.I[0, R.I_IN_BAR]) is inside, (level, offset)


def test_bottom_rule_counts_a_low_fish_as_in_a_resting_bar():
    sim = one(level=0)
    h = int(sim.I[0, R.I_HEIGHT])
    # a fish below the window (barPos + H - 44 = 524 for a bar 4 px above the bottom) is in the bar by the
    # bottom rule alone: fishPos >= 548 - H and barPos >= 568 - H - 4
    for fish, bar, inside in [(530, 568 - h - 4, True),  # the bar just low enough
                              (530, 568 - h - 5, False),  # ... and just too high
                              (548 - h, 568 - h, True),  # a fish just low enough, above the window's top edge
                              (548 - h - 0.5, 568 - h, False)]:  # ... and just too high
        sim.reset(seeds=[7])
        freeze_fish(sim, fish)
        sim.F[0, R.F_BAR_POS] = bar
        sim.F[0, R.F_BAR_SPEED] = 0
        step(sim, 0)
        assert bool(sim.I[0, R.I_IN_BAR]) is inside, (fish, bar)


# --- the bar --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "leads", "factor"),
                         [("1.5", 0, f32(1.0)), ("1.5", 1, f32(0.1)), ("1.6", 1, f32(0.1)), ("1.6", 2, f32(0.2))])
def test_bar_bounces_off_the_bottom_with_two_thirds_of_its_speed(version, leads, factor):
    sim = one(tackle=["lead"] * leads, version=version)  # 1.6: 0.1 per lead bobber
    h = int(sim.I[0, R.I_HEIGHT])
    freeze_fish(sim, 0)  # far from the bar: full gravity
    sim.F[0, R.F_BAR_POS] = 568 - h - 3
    sim.F[0, R.F_BAR_SPEED] = 5
    step(sim, 0)
    v = f32(f32(5) + f32(0.25))
    assert sim.F[0, R.F_BAR_POS] == 568 - h
    assert sim.F[0, R.F_BAR_SPEED] == f32(f32(f32(f32(-v) * f32(2)) / f32(3)) * factor)


def test_pressing_at_the_top_edge_zeroes_the_speed_before_gravity():
    sim = one()
    freeze_fish(sim, 500)
    sim.F[0, R.F_BAR_POS] = 0
    sim.F[0, R.F_BAR_SPEED] = 7
    step(sim, 1)  # speed 7 is dropped: 0 - 0.25 overshoots the top and bounces
    assert sim.F[0, R.F_BAR_POS] == 0
    assert sim.F[0, R.F_BAR_SPEED] == f32(f32(f32(0.25) * f32(2)) / f32(3))


def test_pressing_at_the_bottom_edge_zeroes_the_speed_before_gravity():
    sim = one()
    h = int(sim.I[0, R.I_HEIGHT])
    freeze_fish(sim, 0)  # out of the bar: full gravity
    sim.F[0, R.F_BAR_POS] = 568 - h
    sim.F[0, R.F_BAR_SPEED] = 2  # still falling: kept, it would carry the bar into the bottom and bounce
    step(sim, 1)
    assert sim.F[0, R.F_BAR_SPEED] == f32(-0.25)
    assert sim.F[0, R.F_BAR_POS] == f32(f32(568 - h) - f32(0.25))


def test_fish_in_bar_damps_gravity_to_sixty_percent():
    sim = one()
    freeze_fish(sim, 250)
    sim.F[0, R.F_BAR_POS] = 240
    sim.F[0, R.F_BAR_SPEED] = 0
    step(sim, 0)
    assert sim.I[0, R.I_IN_BAR] == 1 and sim.F[0, R.F_BAR_SPEED] == f32(f32(0.25) * f32(0.6))


@pytest.mark.parametrize(("fish", "pull"), [(250, f32(-0.2)), (285, f32(0.2))])  # above / below the bar's middle
def test_barbed_hook_damps_gravity_to_thirty_percent_and_pulls_the_bar_to_the_fish(fish, pull):
    sim = one(tackle=["barbed"])  # 1.5
    freeze_fish(sim, fish)  # in the window [224, 292] of a bar at 240 (height 96); middle: fish + 16 vs 240 + 48
    sim.F[0, R.F_BAR_POS] = 240
    sim.F[0, R.F_BAR_SPEED] = 0
    step(sim, 0)
    assert sim.I[0, R.I_IN_BAR] == 1
    assert sim.F[0, R.F_BAR_SPEED] == f32(pull + f32(f32(0.25) * f32(0.3)))


def test_two_barbed_hooks_in_1_6_add_a_smaller_pull_and_damp_gravity_further():
    sim = one(tackle=["barbed", "barbed"], version="1.6")
    freeze_fish(sim, 250)
    sim.F[0, R.F_BAR_POS] = 240
    sim.F[0, R.F_BAR_SPEED] = 0
    step(sim, 0)
    grav = f32(f32(f32(0.25) * f32(0.3)) * f32(0.9))
    assert sim.F[0, R.F_BAR_SPEED] == f32(f32(f32(0.0) - f32(0.2)) - f32(0.05)) + grav


@pytest.mark.parametrize(
    ("level", "kw", "height"),
    [
        (0, {}, 96),
        (10, {}, 176),
        (0, {"training_rod": True}, 136),
        (4, {"training_rod": True}, 136),
        (6, {"training_rod": True}, 144),
        (2, {"tackle": ["cork"]}, 136),
        (2, {"tackle": ["cork", "cork"], "version": "1.6"}, 160),
        (0, {"deluxe_bait": True, "version": "1.6"}, 108),
    ],
)
def test_bar_height_follows_level_rod_and_tackle(level, kw, height):
    assert one(level=level, **kw).I[0, R.I_HEIGHT] == height


# --- the fish -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("behavior", "limit"), [("sinker", f32(1.5)), ("floater", f32(-1.5))])
def test_sinker_and_floater_drift_accumulates_and_saturates_at_1_5(behavior, limit):
    sim = one(fish={"difficulty": 50, "behavior": behavior})
    drift = []
    for _ in range(400):
        sim.F[0, R.F_PROGRESS] = 0.5  # keep the episode going; drift does not depend on progress
        step(sim, 0)
        drift.append(float(sim.F[0, R.F_FSA]))
    d = np.abs(drift)
    assert d.max() == abs(limit)  # reached and held, never passed
    assert np.all(np.diff(d) >= 0)  # persistent: it never resets between ticks


def test_fish_motion_does_not_depend_on_the_actions():
    seeds = list(range(40))
    a = FishingSim(40, GameConfig())
    b = FishingSim(40, GameConfig())
    a.reset(seeds=seeds)
    b.reset(seeds=seeds)
    rng = np.random.default_rng(0)
    for _ in range(600):
        a.F[:, R.F_PROGRESS] = b.F[:, R.F_PROGRESS] = 0.5  # keep every episode going
        a.step(rng.integers(0, 2, 40), autoreset=False)
        b.step(rng.integers(0, 2, 40), autoreset=False)
        assert np.array_equal(a.F[:, R.F_FISH_POS], b.F[:, R.F_FISH_POS])
    assert not np.array_equal(a.F[:, R.F_BAR_POS], b.F[:, R.F_BAR_POS])


def test_fade_in_lasts_20_ticks_and_ignores_the_button():
    sim = one(skip_fade_in=False)
    start = float(sim.F[0, R.F_BAR_POS])
    for _ in range(20):
        step(sim, 1)
    assert sim.I[0, R.I_FADE_IN] == 0 and sim.F[0, R.F_BAR_POS] == start
    step(sim, 1)
    assert sim.F[0, R.F_BAR_POS] < start


def test_treasure_appears_away_from_the_bar_and_is_caught_in_75_ticks():
    sim = one(treasure=True, fish=STILL_FISH)
    # the first draw of the BobberBar sets the chest's timer: 1000..2999 ms, 16 ms a tick
    timer = float(sim.F[0, R.F_TREASURE_TIMER])
    assert 1000 <= timer < 3000
    appear = int(np.ceil(timer / 16))
    for _ in range(appear):
        step(sim, 0)
    assert sim.F[0, R.F_TREASURE_SCALE] > 0
    tpos = float(sim.F[0, R.F_TREASURE_POS])
    assert 8 <= tpos < float(sim.F[0, R.F_BAR_POS]) - 20  # the bar rests low, so the chest is above it
    # park the bar on the chest: 0.0135 per tick in float32 reaches 1 on the 75th tick
    sim.F[0, R.F_BAR_POS] = tpos - 20
    level_ticks = 0
    while not sim.I[0, R.I_TREASURE_CAUGHT] and level_ticks < 200:  # a chest that moves away fails, not hangs
        sim.F[0, R.F_BAR_POS] = tpos - 20
        sim.F[0, R.F_BAR_SPEED] = 0
        step(sim, 0)
        level_ticks += 1
    assert level_ticks == 75


def chest_shown(sim: FishingSim) -> float:
    """Step (releasing) until the chest has appeared; its position."""
    for _ in range(200):
        step(sim, 0)
        if sim.F[0, R.F_TREASURE_SCALE] > 0:
            return float(sim.F[0, R.F_TREASURE_POS])
    raise AssertionError("no chest appeared")


@pytest.mark.parametrize(("hunter", "drain"), [(False, f32(0.003)), (True, f32(0.0))])
def test_treasure_hunter_stops_the_drain_while_the_chest_is_in_the_bar(hunter, drain):
    sim = one(treasure=True, tackle=["treasure_hunter"] if hunter else [])
    tpos = chest_shown(sim)
    freeze_fish(sim, 508)  # the bar goes up to the chest, away from the fish
    for _ in range(10):
        sim.F[0, R.F_BAR_POS] = tpos - 20
        sim.F[0, R.F_BAR_SPEED] = 0
        before = sim.F[0, R.F_PROGRESS]
        step(sim, 0)
        assert sim.I[0, R.I_IN_BAR] == 0 and sim.I[0, R.I_TREASURE_IN_BAR] == 1
        assert sim.F[0, R.F_PROGRESS] == f32(before - drain)


def test_treasure_level_falls_by_0_01_a_tick_out_of_the_bar_and_stops_at_0():
    sim = one(treasure=True)
    chest_shown(sim)
    sim.F[0, R.F_TREASURE_LEVEL] = 0.025
    sim.F[0, R.F_TREASURE_POS] = 100  # far above the bar resting at the bottom
    levels = []
    for _ in range(4):
        step(sim, 0)
        assert sim.I[0, R.I_TREASURE_IN_BAR] == 0
        levels.append(sim.F[0, R.F_TREASURE_LEVEL])
    assert levels == [f32(f32(0.025) - f32(0.01)), f32(f32(f32(0.025) - f32(0.01)) - f32(0.01)), 0, 0]


def test_reset_with_a_seed_reproduces_the_episode_exactly():
    def trajectory():
        sim = FishingSim(1, GameConfig())
        sim.reset(seeds=[123])
        out = []
        for k in range(500):
            sim.step(np.array([k % 3 == 0]), autoreset=True)
            out.append(sim.F[0].copy())
        return np.array(out)

    assert np.array_equal(trajectory(), trajectory())


# --- the fish, draw for draw -------------------------------------------------------------------------
def expected_fish_tick(Rs, pos, speed, target, fsa, d, motion, v16):
    """Section 1.3 (a)-(e) of the fact sheet, in float32, drawing from ``Rs`` (a copy of the game's generator)."""
    def below(x, y):
        return np.float64(x) < np.float64(y)

    smooth = motion == R.SMOOTH
    # (a) the re-roll draw is always taken
    if below(R.net_double(Rs, 0), f32(f32(d * f32(20 if smooth else 1)) / f32(4000))) and (
        not smooth or target == f32(-1)
    ):
        pct = f32(f32(min(f32(99), f32(d + f32(R.net_next(Rs, 0, 10, 45))))) / f32(100))
        hi = int(f32(f32(548) - pos))
        lo = int(min(f32(-pos), f32(f32(548) - pos))) if v16 else -int(pos)
        target = f32(pos + f32(f32(R.net_next(Rs, 0, lo, hi)) * pct))
    # (b) drift
    if motion == R.FLOATER:
        fsa = max(f32(fsa - f32(0.01)), f32(-1.5))
    elif motion == R.SINKER:
        fsa = min(f32(fsa + f32(0.01)), f32(1.5))
    # (c) chase, hop or coast
    if abs(f32(pos - target)) > f32(3) and target != f32(-1):
        denom = f32(f32(R.net_next(Rs, 0, 10, 30)) + f32(f32(100) - min(f32(100), d)))
        speed = f32(speed + f32(f32(f32(f32(target - pos) / denom) - speed) / f32(5)))
    elif not smooth and below(R.net_double(Rs, 0), f32(d / f32(2000))):
        up = R.net_double(Rs, 0) < 0.5
        target = f32(pos + f32(R.net_next(Rs, 0, -100, -51) if up else R.net_next(Rs, 0, 50, 101)))
    else:
        target = f32(-1)
    # (d) darters jump
    if motion == R.DART and below(R.net_double(Rs, 0), f32(d / f32(1000))):
        up = R.net_double(Rs, 0) < 0.5
        jump = R.net_next(Rs, 0, -100 - 2 * int(d), -51) if up else R.net_next(Rs, 0, 50, 101 + 2 * int(d))
        target = f32(pos + f32(jump))
    # (e) move, clamp
    target = min(max(target, f32(-1)), f32(548))
    pos = min(max(f32(pos + f32(speed + fsa)), f32(0)), f32(532))
    return pos, speed, target, fsa


@pytest.mark.parametrize("version", ["1.5", "1.6"])
@pytest.mark.parametrize(("behavior", "difficulty"),
                         [("mixed", 100), ("mixed", 35), ("dart", 100), ("smooth", 85), ("sinker", 90), ("floater", 80)])
def test_fish_moves_draw_for_draw_as_bobberbar_update_moves_it(behavior, difficulty, version):
    """Re-roll, chase, hop, dart, drift and the clamps of every tick, against the game's own draws."""
    sim = one(fish={"difficulty": difficulty, "behavior": behavior}, level=5, version=version)
    motion, d, v16 = R.MOTION_NAMES.index(behavior), f32(difficulty), version == "1.6"
    rng = np.random.default_rng(difficulty)
    edges = 0
    for i in range(3000):
        sim.F[0, R.F_PROGRESS] = 0.5  # keep the episode going
        if i % 250 == 0:  # now and then fling the fish at an edge of its track
            sim.F[0, R.F_FISH_SPEED] = 40 if i % 500 else -40
        pos, speed, target, fsa = (f32(sim.F[0, k]) for k in (R.F_FISH_POS, R.F_FISH_SPEED, R.F_FISH_TARGET, R.F_FSA))
        want = expected_fish_tick(sim.R.copy(), pos, speed, target, fsa, d, motion, v16)
        step(sim, int(rng.integers(0, 2)))
        got = tuple(f32(sim.F[0, k]) for k in (R.F_FISH_POS, R.F_FISH_SPEED, R.F_FISH_TARGET, R.F_FSA))
        assert got == want, (behavior, difficulty, (pos, speed, target, fsa))
        edges += got[0] in (f32(0), f32(532))
    assert edges > 0  # the clamps were exercised


def test_a_minigame_starts_as_the_bobberbar_constructor_sets_it_up():
    sim = one(fish={"difficulty": 37, "behavior": "mixed"}, level=3, skip_fade_in=False)
    h = 96 + 3 * 8
    assert sim.I[0, R.I_HEIGHT] == h and sim.I[0, R.I_FADE_IN] == 1 and sim.I[0, R.I_PERFECT] == 1
    assert sim.F[0, R.F_FISH_POS] == 508 and sim.F[0, R.F_FISH_SPEED] == 0
    assert sim.F[0, R.F_FISH_TARGET] == f32(f32(f32(f32(100) - f32(37)) / f32(100)) * f32(548))
    assert sim.F[0, R.F_BAR_POS] == 568 - h and sim.F[0, R.F_BAR_SPEED] == 0
    assert sim.F[0, R.F_PROGRESS] == f32(0.3)


# --- .NET's System.Random ---------------------------------------------------------------------------
CSHARP = """
using System;
class P { static void Main(string[] a) {
  foreach (var s in new[] {0, 1, 42, 161803398, 2147483647, -5, int.MinValue}) {
    var r = new Random(s);
    for (int i = 0; i < 5; i++) Console.Write(r.Next(-100, 101) + " ");
    for (int i = 0; i < 3; i++) Console.Write(r.NextDouble().ToString("R") + " ");
    Console.WriteLine();
  }
} }
"""


@pytest.mark.skipif(shutil.which("mcs") is None or shutil.which("mono") is None, reason="needs mono (make test installs it)")
def test_random_draws_match_dotnet_system_random(tmp_path):
    (tmp_path / "r.cs").write_text(CSHARP)
    subprocess.run(["mcs", "-out:" + str(tmp_path / "r.exe"), str(tmp_path / "r.cs")], check=True, capture_output=True)
    lines = subprocess.run(["mono", str(tmp_path / "r.exe")], check=True, capture_output=True, text=True).stdout.split("\n")
    Rs = np.zeros((1, R.NR), dtype=np.int64)
    for seed, line in zip([0, 1, 42, 161803398, 2147483647, -5, -(2**31)], lines, strict=False):
        R.net_seed(Rs, 0, seed)
        ints = [R.net_next(Rs, 0, -100, 101) for _ in range(5)]
        doubles = [R.net_double(Rs, 0) for _ in range(3)]
        got = line.split()
        assert [int(x) for x in got[:5]] == ints, seed
        assert [float(x) for x in got[5:]] == doubles, seed
