"""The rules of Stardew Valley's fishing minigame (``BobberBar.update``), in one place.

Everything that decides how the fish, the bar, the progress meter and the treasure chest move lives
in this module, compiled with numba. The scalar env, the batched simulator, the vector env, the
reference game server and the screen game all step games through :func:`step_games`, so there is
one set of rules, not several copies.

Faithfulness (see ``shared/design/stardew-fishing-facts.md`` section 1):

* every quantity the game keeps in a C# ``float`` is kept in float32, and every arithmetic step is
  rounded to float32 in the order the game evaluates it;
* random draws come from a per-game copy of .NET's seeded ``System.Random`` (the subtractive
  generator both .NET Framework, Mono and .NET 5/6 use for seeded instances), drawn in the order
  ``BobberBar`` draws them within a tick, with C#'s exclusive upper bounds;
* game versions 1.5.4 and 1.6 differ only where the game's code differs (tackle stacking, trap
  bobber drain, lead bobber factor, treasure placement guard, re-roll guard).

State layout: each game is one row of three arrays, ``F`` (float32 game fields), ``I`` (int64 flags
and counters) and ``R`` (int32: the .NET generator's 56-word table, C# ``int``s, and two indices), plus ``E``, a
splitmix64 stream that draws each new episode's fish, level, treasure and .NET seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from envs.stardew.jit_cache import drop_stale_numba_cache

drop_stale_numba_cache(__file__)

f32 = np.float32

# --- motion types (Data/Fish field 2) -------------------------------------------------------------
MIXED, DART, SMOOTH, SINKER, FLOATER = 0, 1, 2, 3, 4
MOTION_NAMES = ("mixed", "dart", "smooth", "sinker", "floater")

# --- track geometry (pixels, y grows downward) ------------------------------------------------------
TRACK_HEIGHT = 548  # bobberTrackHeight: the fish's track
BAR_TRACK_HEIGHT = 568  # bobberBarTrackHeight: the bar's track
FISH_MAX = 532  # the fish is clamped to [0, 532] inside a tick
FADE_IN_STEP = f32(0.05)
FADE_IN_TICKS = 20  # updates of +0.05 scale before the physics starts; input is not read in them
PROGRESS_GAIN = f32(0.002)  # what the progress meter gains on a tick with the fish in the bar

# --- episode status -----------------------------------------------------------------------------
PLAYING, CAUGHT, ESCAPED, TRUNCATED = 0, 1, 2, 3

# --- float32 fields: columns of F ---------------------------------------------------------------
(
    F_FISH_POS,  # bobberPosition
    F_FISH_SPEED,  # bobberSpeed (hidden from the player)
    F_FISH_TARGET,  # bobberTargetPosition (hidden)
    F_FSA,  # floaterSinkerAcceleration (hidden)
    F_BAR_POS,  # bobberBarPos (top of the bar)
    F_BAR_SPEED,  # bobberBarSpeed
    F_PROGRESS,  # distanceFromCatching
    F_SCALE,  # fade-in scale
    F_DIFFICULTY,
    F_TREASURE_POS,
    F_TREASURE_LEVEL,  # treasureCatchLevel
    F_TREASURE_TIMER,  # treasureAppearTimer (ms)
    F_TREASURE_SCALE,
    F_PREV_FISH_POS,  # fish position one tick earlier: what a player sees as the fish's velocity
    F_PREV_PROGRESS,  # progress before the last step, for rewards
    F_PENALTY_MOD,  # 1.6 distanceFromCatchPenaltyModifier
) = range(16)
NF = 16

# --- integer fields: columns of I ---------------------------------------------------------------
(
    I_MOTION,
    I_HEIGHT,  # bobberBarHeight
    I_FADE_IN,
    I_PRESSED,  # buttonPressed as the game applied it on the last tick
    I_IN_BAR,  # bobberInBar on the last tick
    I_PERFECT,
    I_STATUS,
    I_TREASURE,  # a chest is part of this minigame
    I_TREASURE_CAUGHT,
    I_TREASURE_IN_BAR,
    I_FISH_SHAKE,  # fishShake != Vector2.Zero (perfect is lost on the next out-of-bar tick)
    I_FISH_INDEX,  # row of the fish table
    I_LEVEL,  # fishing level
    I_TICK,  # game ticks since the BobberBar was created (fade-in included)
    I_EPISODE,  # episodes begun by this game slot
) = range(15)
NI = 15

# --- configuration shared by all games of one simulator: cfg_i / cfg_f ---------------------------
(
    C_VERSION,  # 15 or 16
    C_LEVEL_LO,
    C_LEVEL_HI,
    C_BEGINNER_ROD,  # Training Rod
    C_CAUGHT_BEFORE,  # the player has caught a fish before (progress starts 0.3 and drains)
    C_CORK,  # tackle counts: Cork Bobber 695
    C_TRAP,  # Trap Bobber 694
    C_LEAD,  # Lead Bobber 692
    C_BARBED,  # Barbed Hook 691
    C_HUNTER,  # Treasure Hunter 693
    C_DELUXE_BAIT,  # 1.6 Deluxe Bait
    C_MAX_TICKS,  # safety cap: the episode is truncated after this many playing ticks
    C_REWARD,  # reward mode, see REWARD_*
    C_FRAME_SKIP,  # game ticks per env step
    C_SKIP_FADE_IN,  # reset() runs the 20 fade-in ticks, in which input is not read
) = range(15)
NCI = 15
(
    CF_TREASURE_PROB,  # chance that a minigame has a treasure chest
    CF_PENALTY_MOD,
    CF_W_PROGRESS,  # shaped reward: weight on the change of progress
    CF_W_CATCH,
    CF_W_ESCAPE,
    CF_W_PERFECT,
) = range(6)
NCF = 6

REWARD_SHAPED, REWARD_SEED, REWARD_SPARSE = 0, 1, 2

# --- .NET System.Random (seeded), per game ---------------------------------------------------------
MBIG = 2147483647
MSEED = 161803398
R_INEXT, R_INEXTP = 56, 57
NR = 58


@njit(cache=True, inline="always")
def _wrap32(x: int) -> int:
    """C# unchecked int32 arithmetic."""
    return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648


@njit(cache=True)
def net_seed(R, g, seed):
    """``new System.Random(seed)``: fill game g's generator table."""
    subtraction = MBIG if seed == -2147483648 else abs(seed)
    mj = _wrap32(MSEED - subtraction)
    R[g, 55] = mj
    mk = 1
    ii = 0
    for _ in range(1, 55):
        ii += 21
        if ii >= 55:
            ii -= 55
        R[g, ii] = mk
        mk = _wrap32(mj - mk)
        if mk < 0:
            mk += MBIG
        mj = R[g, ii]
    for _ in range(1, 5):
        for i in range(1, 56):
            n = i + 30
            if n >= 55:
                n -= 55
            v = _wrap32(R[g, i] - R[g, 1 + n])
            if v < 0:
                v += MBIG
            R[g, i] = v
    R[g, R_INEXT] = 0
    R[g, R_INEXTP] = 21


@njit(cache=True, inline="always")
def _internal_sample(R, g):
    a = R[g, R_INEXT] + 1
    if a >= 56:
        a = 1
    b = R[g, R_INEXTP] + 1
    if b >= 56:
        b = 1
    v = _wrap32(R[g, a] - R[g, b])
    if v == MBIG:
        v -= 1
    if v < 0:
        v += MBIG
    R[g, a] = v
    R[g, R_INEXT] = a
    R[g, R_INEXTP] = b
    return v


@njit(cache=True)
def net_double(R, g):
    """``Random.NextDouble()``: [0, 1)."""
    return _internal_sample(R, g) * (1.0 / MBIG)


@njit(cache=True)
def net_next(R, g, lo, hi):
    """``Random.Next(lo, hi)``: an integer in [lo, hi) (lo when hi == lo)."""
    return int(_internal_sample(R, g) * (1.0 / MBIG) * (hi - lo)) + lo


# --- splitmix64: the per-slot episode stream ---------------------------------------------------------
@njit(cache=True)
def _next_u64(E, g):
    z = E[g] + np.uint64(0x9E3779B97F4A7C15)
    E[g] = z
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _unit(E, g):
    return float(_next_u64(E, g) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _below(E, g, n):
    return int(_unit(E, g) * n)


# --- the minigame -----------------------------------------------------------------------------------
@njit(cache=True)
def bar_height(level, cfg_i):
    """bobberBarHeight for a fishing level under this configuration's rod, tackle and bait."""
    h = 96 + level * 8
    if level < 5 and cfg_i[C_BEGINNER_ROD] != 0:
        h += 40 - level * 8
    if cfg_i[C_VERSION] == 15:
        if cfg_i[C_CORK] > 0:
            h += 24
    else:
        h += 24 * cfg_i[C_CORK]
        if cfg_i[C_DELUXE_BAIT] != 0:
            h += 12
    return h


@njit(cache=True)
def begin_episode(F, I, R, E, g, fish_diff, fish_motion, pool, cfg_i, cfg_f):
    """Draw this slot's next minigame from its episode stream and construct the BobberBar."""
    fi = pool[_below(E, g, pool.shape[0])]
    lo = cfg_i[C_LEVEL_LO]
    level = lo + _below(E, g, cfg_i[C_LEVEL_HI] - lo + 1)
    treasure = _unit(E, g) < cfg_f[CF_TREASURE_PROB]
    seed = np.int64(_next_u64(E, g) >> np.uint64(33))
    net_seed(R, g, seed)

    d = fish_diff[fi]
    h = bar_height(level, cfg_i)
    F[g, :] = 0
    F[g, F_TREASURE_TIMER] = f32(net_next(R, g, 1000, 3000))  # the constructor's first draw
    F[g, F_DIFFICULTY] = d
    F[g, F_PROGRESS] = f32(0.3) if cfg_i[C_CAUGHT_BEFORE] != 0 else f32(0.1)
    F[g, F_BAR_POS] = f32(568 - h)
    F[g, F_FISH_POS] = f32(508.0)
    F[g, F_PREV_FISH_POS] = f32(508.0)
    F[g, F_FISH_TARGET] = f32(f32(f32(f32(100.0) - d) / f32(100.0)) * f32(548.0))
    F[g, F_PREV_PROGRESS] = F[g, F_PROGRESS]
    F[g, F_PENALTY_MOD] = cfg_f[CF_PENALTY_MOD]
    episode = I[g, I_EPISODE]
    I[g, :] = 0
    I[g, I_EPISODE] = episode + 1
    I[g, I_MOTION] = fish_motion[fi]
    I[g, I_HEIGHT] = h
    I[g, I_FADE_IN] = 1
    I[g, I_PERFECT] = 1
    I[g, I_TREASURE] = 1 if treasure else 0
    I[g, I_FISH_INDEX] = fi
    I[g, I_LEVEL] = level
    if cfg_i[C_SKIP_FADE_IN] != 0:
        while I[g, I_FADE_IN] != 0:
            tick(F, I, R, g, False, cfg_i)
        F[g, F_PREV_FISH_POS] = F[g, F_FISH_POS]


@njit(cache=True, inline="always")
def fish_in_bar(pos, bar, h):
    """bobberInBar: the fish at ``pos`` against the bar at ``bar`` (its top) of height ``h``.

    The window is asymmetric, [bar - 16, bar + h - 44] for the fish's top, and a fish low in the
    track counts as caught by a bar resting on the bottom.
    """
    hf = f32(h)
    in_bar = f32(pos + f32(12.0)) <= f32(f32(bar - f32(32.0)) + hf) and f32(pos - f32(16.0)) >= f32(
        bar - f32(32.0)
    )
    if pos >= f32(548 - h) and bar >= f32(568 - h - 4):
        in_bar = True
    return in_bar


@njit(cache=True, inline="always")
def move_bar(bar, bar_speed, pressed, in_bar, pos, h, cfg_i):
    """The bar's part of a tick: the new (bobberBarPos, bobberBarSpeed) for the button and bobberInBar.

    ``pos`` (the fish) matters only to the barbed hook's pull.
    """
    hf = f32(h)
    v16 = cfg_i[C_VERSION] == 16
    grav = f32(-0.25) if pressed else f32(0.25)
    # the bar at either end first: rarely true, so the button (a coin toss under a random policy) is seldom read here
    if (bar == f32(0.0) or bar == f32(568 - h)) and pressed:
        bar_speed = f32(0.0)
    barbed = cfg_i[C_BARBED]
    if in_bar:
        grav = f32(grav * (f32(0.3) if barbed > 0 else f32(0.6)))
        toward_up = f32(pos + f32(16.0)) < f32(bar + f32(h // 2))
        if v16:
            for j in range(barbed):
                nudge = f32(0.05) if j > 0 else f32(0.2)
                bar_speed = f32(bar_speed - nudge) if toward_up else f32(bar_speed + nudge)
                if j > 0:
                    grav = f32(grav * f32(0.9))
        elif barbed > 0:
            bar_speed = f32(bar_speed - f32(0.2)) if toward_up else f32(bar_speed + f32(0.2))
    bar_speed = f32(bar_speed + grav)
    bar = f32(bar + bar_speed)
    if f32(bar + hf) > f32(568.0):
        bar = f32(568 - h)
        lead = cfg_i[C_LEAD]
        if lead > 0:
            k = f32(f32(lead) * f32(0.1)) if v16 else f32(0.1)
        else:
            k = f32(1.0)
        bar_speed = f32(f32(f32(f32(f32(0.0) - bar_speed) * f32(2.0)) / f32(3.0)) * k)
    elif bar < f32(0.0):
        bar = f32(0.0)
        bar_speed = f32(f32(f32(f32(0.0) - bar_speed) * f32(2.0)) / f32(3.0))
    return bar, bar_speed


@njit(cache=True, inline="always")
def progress_drain(cfg_i, penalty_mod):
    """What the progress meter loses on a tick with the fish out of the bar (once a fish was ever caught)."""
    beginner = cfg_i[C_BEGINNER_ROD] != 0
    trap = cfg_i[C_TRAP]
    if cfg_i[C_VERSION] == 16:
        if trap > 0:
            reduction = f32(0.003)
            amount = f32(0.001)
            for _ in range(trap):
                reduction = f32(reduction - amount)
                amount = f32(amount / f32(2.0))
            reduction = max(f32(0.001), reduction)
        else:
            reduction = f32(0.002) if beginner else f32(0.003)
        return f32(reduction * penalty_mod)
    return f32(0.002) if (trap > 0 or beginner) else f32(0.003)


@njit(cache=True)
def tick(F, I, R, g, pressed, cfg_i):
    """One ``BobberBar.update`` of game g, with the use-tool button held iff ``pressed``."""
    I[g, I_TICK] += 1
    if I[g, I_FADE_IN] != 0:
        s = f32(F[g, F_SCALE] + FADE_IN_STEP)
        if s >= f32(1.0):
            s = f32(1.0)
            I[g, I_FADE_IN] = 0
        F[g, F_SCALE] = s
        return
    v16 = cfg_i[C_VERSION] == 16
    d = F[g, F_DIFFICULTY]
    motion = I[g, I_MOTION]
    h = I[g, I_HEIGHT]
    hf = f32(h)
    pos = F[g, F_FISH_POS]
    speed = F[g, F_FISH_SPEED]
    target = F[g, F_FISH_TARGET]
    fsa = F[g, F_FSA]
    F[g, F_PREV_FISH_POS] = pos

    # (a) target re-roll; the first draw is always taken
    mult = f32(20.0) if motion == SMOOTH else f32(1.0)
    if net_double(R, g) < np.float64(f32(f32(d * mult) / f32(4000.0))) and (
        motion != SMOOTH or target == f32(-1.0)
    ):
        space_below = f32(f32(548.0) - pos)
        space_above = pos
        pct = f32(min(f32(99.0), f32(d + f32(net_next(R, g, 10, 45)))) / f32(100.0))
        lo = int(min(f32(-space_above), space_below)) if v16 else -int(space_above)
        target = f32(pos + f32(f32(net_next(R, g, lo, int(space_below))) * pct))

    # (b) persistent drift of sinkers and floaters
    if motion == FLOATER:
        fsa = max(f32(fsa - f32(0.01)), f32(-1.5))
    elif motion == SINKER:
        fsa = min(f32(fsa + f32(0.01)), f32(1.5))

    # (c) chase the target, or idle: a hop (not smooth) or coast with no target
    if abs(f32(pos - target)) > f32(3.0) and target != f32(-1.0):
        denom = f32(f32(net_next(R, g, 10, 30)) + f32(f32(100.0) - min(f32(100.0), d)))
        accel = f32(f32(target - pos) / denom)
        speed = f32(speed + f32(f32(accel - speed) / f32(5.0)))
    elif motion != SMOOTH and net_double(R, g) < np.float64(f32(d / f32(2000.0))):
        if net_double(R, g) < 0.5:
            jump = net_next(R, g, -100, -51)
        else:
            jump = net_next(R, g, 50, 101)
        target = f32(pos + f32(jump))
    else:
        target = f32(-1.0)

    # (d) darters jump
    if motion == DART and net_double(R, g) < np.float64(f32(d / f32(1000.0))):
        di = int(d)
        if net_double(R, g) < 0.5:
            jump = net_next(R, g, -100 - di * 2, -51)
        else:
            jump = net_next(R, g, 50, 101 + di * 2)
        target = f32(pos + f32(jump))

    # (e) move the fish
    target = max(f32(-1.0), min(target, f32(548.0)))
    pos = f32(pos + f32(speed + fsa))
    if pos > f32(532.0):
        pos = f32(532.0)
    elif pos < f32(0.0):
        pos = f32(0.0)

    # (f) is the fish in the bar (the bar as it was before this tick's move)
    bar = F[g, F_BAR_POS]
    in_bar = fish_in_bar(pos, bar, h)

    # (h) the bar
    bar, bar_speed = move_bar(bar, F[g, F_BAR_SPEED], pressed, in_bar, pos, h, cfg_i)

    # (i) the treasure chest
    treasure_in_bar = False
    treasure_caught = I[g, I_TREASURE_CAUGHT] != 0
    if I[g, I_TREASURE] != 0:
        old_timer = F[g, F_TREASURE_TIMER]
        timer = f32(old_timer - f32(16.0))
        F[g, F_TREASURE_TIMER] = timer
        if timer <= f32(0.0):
            tscale = F[g, F_TREASURE_SCALE]
            if tscale < f32(1.0) and not treasure_caught:
                if old_timer > f32(0.0):
                    if bar > f32(274.0):
                        F[g, F_TREASURE_POS] = f32(net_next(R, g, 8, int(bar) - 20))
                    else:
                        lo = min(528, int(bar) + h)
                        if v16 and lo > 500:
                            F[g, F_TREASURE_POS] = f32(499.0)
                        else:
                            F[g, F_TREASURE_POS] = f32(net_next(R, g, lo, 500))
                F[g, F_TREASURE_SCALE] = min(f32(1.0), f32(tscale + f32(0.1)))
            tpos = F[g, F_TREASURE_POS]
            treasure_in_bar = f32(tpos + f32(12.0)) <= f32(f32(bar - f32(32.0)) + hf) and f32(
                tpos - f32(16.0)
            ) >= f32(bar - f32(32.0))
            if treasure_in_bar and not treasure_caught:
                level = f32(F[g, F_TREASURE_LEVEL] + f32(0.0135))
                F[g, F_TREASURE_LEVEL] = level
                net_next(R, g, -2, 3)
                net_next(R, g, -2, 3)
                if level >= f32(1.0):
                    I[g, I_TREASURE_CAUGHT] = 1
            elif treasure_caught:
                F[g, F_TREASURE_SCALE] = max(f32(0.0), f32(F[g, F_TREASURE_SCALE] - f32(0.1)))
            else:
                F[g, F_TREASURE_LEVEL] = max(f32(0.0), f32(F[g, F_TREASURE_LEVEL] - f32(0.01)))

    # (j) progress, perfect, catch and escape
    progress = F[g, F_PROGRESS]
    if in_bar:
        progress = f32(progress + PROGRESS_GAIN)
        sx = net_next(R, g, -10, 11)
        sy = net_next(R, g, -10, 11)
        I[g, I_FISH_SHAKE] = 1 if (sx != 0 or sy != 0) else 0
    elif not (treasure_in_bar and not treasure_caught and cfg_i[C_HUNTER] > 0):
        if I[g, I_FISH_SHAKE] != 0:
            I[g, I_PERFECT] = 0
        if cfg_i[C_CAUGHT_BEFORE] != 0:
            progress = f32(progress - progress_drain(cfg_i, F[g, F_PENALTY_MOD]))
        net_next(R, g, -10, 11)  # barShake
        net_next(R, g, -10, 11)
        I[g, I_FISH_SHAKE] = 0
    progress = max(f32(0.0), min(f32(1.0), progress))

    F[g, F_FISH_POS] = pos
    F[g, F_FISH_SPEED] = speed
    F[g, F_FISH_TARGET] = target
    F[g, F_FSA] = fsa
    F[g, F_BAR_POS] = bar
    F[g, F_BAR_SPEED] = bar_speed
    F[g, F_PROGRESS] = progress
    I[g, I_PRESSED] = 1 if pressed else 0
    I[g, I_IN_BAR] = 1 if in_bar else 0
    I[g, I_TREASURE_IN_BAR] = 1 if treasure_in_bar else 0
    if progress <= f32(0.0):
        I[g, I_STATUS] = ESCAPED
    elif progress >= f32(1.0):
        I[g, I_STATUS] = CAUGHT
