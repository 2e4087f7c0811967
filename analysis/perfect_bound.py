"""Upper bounds on the perfect-catch rate that no policy, not even one that knows the future, can pass.

The fish's path does not depend on the player's input: the protocol has no treasure, and the game
draws the same random numbers whether the fish is in the bar or not. So whether a fight *can* end
in a perfect catch is a question about the bar alone, answered here in two ways; an episode either
rules out counts as impossible, and a policy's perfect rate is at most the share of the others.

* **hold** (cheap): every fight starts with the fish at the bottom of a bar at rest. Holding the
  button from the first tick puts the bar as high as any input sequence can put it, as long as the
  fish stays in the bar (the bar's acceleration depends only on the button and on that). If, held,
  the fish leaves through the *top* before the bar touched the top of the track, every other input
  sequence loses the fish then or earlier. Losing it costs the perfect unless the tick before drew no
  shake (1 in 441), so the bound rules a fight out only if no such tick came before: after one, a
  lower bar could let the fish go for free and catch it again from elsewhere.
* **reach** (every input sequence at once): the set of bar states (position, speed), progress and
  "would leaving now cost the perfect" that some input sequence reaches without losing the perfect
  is carried forward tick by tick, against the fish's recorded path and shake draws. It is kept as
  boxes, bar position x bar speed, one per (in the bar or not, on an edge or not, speed bucket);
  merged boxes keep their union's hull and the larger progress (more progress is never worse), so
  the set only ever grows past the true one. If it empties before any box reaches full progress,
  no input sequence catches the fish perfectly.

    python -m analysis.perfect_bound [--episodes 5000] [--seed0 90000000] [--no-policies] [--out FILE]

It prints its figures as JSON and, for the full run (the default episodes and seeds, with the policies),
writes them to ``reports/perfect_bound.json``, which the README quotes.

For each policy it also says why it lost the perfect in the fights the bounds leave open
(:func:`loss_anatomy`): whether, from where its bar stood right after the fish's last move (a new
target), some input sequence could have kept the fish until its next move (the policy's reaction lost
it), or only a bar that had known the move some ticks ahead could have.

Both bounds are meant to be sound: on the episodes they mark, no policy can make a perfect catch.
``tests/analysis/test_perfect_bound.py`` checks that for the controllers, and the command plays `lead`,
`braking` and the learned policies of ``make evaluate`` (the two exported DQNs, the state PPO) on
the same seeds, reports each one's perfect catches as a share of the fights left open and when it
lost the perfect (in the open fights and in the ruled-out ones), and the fights that at least one of
them caught perfectly; it fails if any of them caught perfectly a fight a bound rules out (how the
first hold bound was found wrong). Both are loose the other way: they assume every other fight
could end in a perfect catch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numba import njit

from agents.evaluation.protocol import HARD, LEVELS, TEST_SEED0, dumps, protocol_config, run_episodes
from envs.cli.argtypes import int_at_least
from envs.cli.paths import file_in_the_way
from envs.stardew import rules as R
from envs.stardew.controllers import make_controller
from envs.stardew.jit_cache import drop_stale_numba_cache
from envs.stardew.sim import FishingSim

drop_stale_numba_cache(__file__)

f32 = np.float32
INTERIOR, BOTTOM, TOP = 0, 1, 2  # where a box's bar is: the edges are points with their own rule
FREE, HELD = 0, 1  # FREE: leaving the bar now keeps the perfect; HELD: the fish was in the bar last tick
EPS = 1e-3  # pixels added to every box edge each tick, for float32 rounding
SPEED_BUCKETS = 64.0  # boxes per pixel/tick of bar speed; finer buckets change nothing measurable
HORIZON = 1500  # ticks of fish path recorded; a search that reaches it counts the fight as possible
EPISODES, REPORT = 5000, Path("reports/perfect_bound.json")  # the full run, and where it writes its figures
FORESIGHT = (1, 2, 3, 5, 10, 20, 40)  # ticks ahead of a fish's move that loss_anatomy lets the bar know it


def perfect_impossible_hold(n: int = 5000, seed0: int = TEST_SEED0) -> dict[str, np.ndarray]:
    """The cheap bound: which of the protocol's episodes ``seed0..seed0+n-1`` hold-and-lose rules out."""
    sim = FishingSim(n, protocol_config(), "seed")
    sim.reset(seeds=np.arange(seed0, seed0 + n))
    impossible = np.zeros(n, dtype=bool)
    decided = np.zeros(n, dtype=bool)
    touched_top = np.zeros(n, dtype=bool)
    free_exit = np.zeros(n, dtype=bool)  # some earlier tick drew no shake
    hold = np.ones(n, dtype=np.int64)
    while not decided.all():
        bar = sim.F[:, R.F_BAR_POS].copy()  # the game tests the fish against the bar before it moves
        perfect = sim.I[:, R.I_PERFECT] != 0
        touched_top |= bar <= 0.0
        sim.step(hold, autoreset=False)
        lost = perfect & (sim.I[:, R.I_PERFECT] == 0) & ~decided
        out_through_top = sim.F[:, R.F_FISH_POS] < bar - 16.0  # the window's top edge is bar - 16
        impossible |= lost & out_through_top & ~touched_top & ~free_exit
        decided |= lost | sim.terminated | sim.truncated
        # After a tick that drew no shake, a lower bar may let the fish go and keep the perfect; from
        # there its bar moves by other rules and may end up above the held one, so the argument stops.
        # The draws are the same under every input while the fish is in the bar. (Before the first
        # tick nothing is drawn, but then every input sequence has the same bar.)
        free_exit |= sim.I[:, R.I_FISH_SHAKE] == 0
    difficulty = np.array([f.difficulty for f in sim.pool_fish])[sim.I[:, R.I_FISH_INDEX]]
    return {"impossible": impossible, "difficulty": difficulty, "level": sim.I[:, R.I_LEVEL].copy()}


def fight_paths(n: int, seed0: int = TEST_SEED0, horizon: int = HORIZON) -> dict[str, np.ndarray]:
    """Each episode's fish path, the shake draws of each tick, the fish's hidden target after each tick (after
    the reset in ``target0``), and its bar and progress at the start.

    Recorded with a bar as tall as the track, so the fish is always in it and the game never ends;
    neither changes the fish's path, its target or the draws.
    """
    cfg = protocol_config()
    sim = FishingSim(n, cfg, "seed")
    sim.reset(seeds=np.arange(seed0, seed0 + n))
    out = {"height": sim.I[:, R.I_HEIGHT].copy(), "bar": sim.F[:, R.F_BAR_POS].copy(),
           "bar_speed": sim.F[:, R.F_BAR_SPEED].copy(), "progress": sim.F[:, R.F_PROGRESS].copy(),
           "penalty_mod": sim.F[:, R.F_PENALTY_MOD].copy(), "level": sim.I[:, R.I_LEVEL].copy(),
           "difficulty": np.array([f.difficulty for f in sim.pool_fish])[sim.I[:, R.I_FISH_INDEX]],
           "target0": sim.F[:, R.F_FISH_TARGET].copy(), "cfg_i": sim.cfg_i}
    sim.I[:, R.I_HEIGHT] = R.BAR_TRACK_HEIGHT
    sim.F[:, R.F_BAR_POS] = 0.0
    sim.F[:, R.F_BAR_SPEED] = 0.0
    fish = np.zeros((n, horizon), np.float32)
    target = np.zeros((n, horizon), np.float32)
    shake = np.zeros((n, horizon), np.int8)
    idle = np.zeros(n, np.int64)
    for t in range(horizon):
        sim.F[:, R.F_PROGRESS] = 0.5
        sim.step(idle, autoreset=False)
        if not (sim.I[:, R.I_IN_BAR] == 1).all():
            raise RuntimeError("fight_paths: a fish left a bar as tall as the track")
        fish[:, t] = sim.F[:, R.F_FISH_POS]
        target[:, t] = sim.F[:, R.F_FISH_TARGET]
        shake[:, t] = sim.I[:, R.I_FISH_SHAKE]
    out.update(fish=fish, shake=shake, target=target)
    return out


@njit(cache=True)
def _add(B, k, phase, edge, vl, vh, progress, lo, hi):
    B[0][k], B[1][k], B[2][k], B[3][k], B[4][k], B[5][k], B[6][k] = phase, edge, vl, vh, progress, lo, hi
    return k + 1


@njit(cache=True)
def bar_image(B, k, phase, lo, hi, edge, vl, vh, press, in_bar, progress, bottom):
    """Add to B the image under one action of the box: bar in [lo, hi] (a point on an edge), speed in [vl, vh].

    The interval form of :func:`envs.stardew.rules.move_bar` without tackle; returns the new count.
    """
    if press and edge != INTERIOR:
        vl, vh = 0.0, 0.0  # pressing with the bar on an edge stops it first
    grav = f32(-0.25) if press else f32(0.25)
    if in_bar:
        grav = f32(grav * f32(0.6))
    vl2, vh2 = vl + grav - EPS * 1e-2, vh + grav + EPS * 1e-2
    b_lo, b_hi = lo + vl2 - EPS, hi + vh2 + EPS
    if b_hi > bottom:  # bounces off the bottom
        k = _add(B, k, phase, BOTTOM, -vh2 * 2.0 / 3.0, -max(vl2, 0.0) * 2.0 / 3.0, progress, bottom, bottom)
    if b_lo < 0.0:  # and off the top
        k = _add(B, k, phase, TOP, -min(vh2, 0.0) * 2.0 / 3.0, -vl2 * 2.0 / 3.0, progress, 0.0, 0.0)
    c_lo, c_hi = max(b_lo, 0.0), min(b_hi, bottom)
    if c_lo <= c_hi:
        k = _add(B, k, phase, INTERIOR, vl2, vh2, progress, c_lo, c_hi)
        if c_hi >= bottom:  # landing exactly on an edge: no bounce, but the edge rule applies next tick
            k = _add(B, k, phase, BOTTOM, vl2, vh2, progress, bottom, bottom)
        if c_lo <= 0.0:
            k = _add(B, k, phase, TOP, vl2, vh2, progress, 0.0, 0.0)
    return k


@njit(cache=True)
def _merge(B, k):
    """One box per (phase, edge, speed bucket): the hull of the boxes, with the larger progress."""
    phase, edge, vl, vh, progress, lo, hi = B
    keys = np.empty(k, np.int64)
    for j in range(k):
        bucket = np.int64(np.floor(0.5 * (vl[j] + vh[j]) * SPEED_BUCKETS))
        keys[j] = (phase[j] * 3 + edge[j]) * (1 << 40) + bucket + (1 << 30)
    order = np.argsort(keys)
    M = (np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k), np.empty(k), np.empty(k, np.float32),
         np.empty(k), np.empty(k))
    u = 0
    last = -1
    for j in range(k):
        o = order[j]
        if u == 0 or keys[o] != last:
            _add(M, u, phase[o], edge[o], vl[o], vh[o], progress[o], lo[o], hi[o])
            u += 1
            last = keys[o]
        else:
            M[2][u - 1] = min(M[2][u - 1], vl[o])
            M[3][u - 1] = max(M[3][u - 1], vh[o])
            M[4][u - 1] = max(M[4][u - 1], progress[o])
            M[5][u - 1] = min(M[5][u - 1], lo[o])
            M[6][u - 1] = max(M[6][u - 1], hi[o])
    return M[0][:u], M[1][:u], M[2][:u], M[3][:u], M[4][:u], M[5][:u], M[6][:u]


@njit(cache=True)
def holding_bars(pos, h):
    """The bar positions that hold the fish at ``pos``: the interval form of ``rules.fish_in_bar``, EPS wider.

    The asymmetric window, joined (for a fish low in the track) by a bar resting on the bottom.
    """
    p, bottom = np.float64(pos), np.float64(568 - h)
    w_lo, w_hi = p + 44.0 - h - EPS, p + 16.0 + EPS
    if p >= 548 - h:
        w_lo, w_hi = min(w_lo, bottom - 4.0 - EPS), max(w_hi, bottom + EPS)
    return w_lo, w_hi


@njit(cache=True)
def perfect_reachable(fish, shake, h, bar0, speed0, progress0, drain):
    """Can some input sequence catch this fish perfectly? (status, tick, most boxes held at once)

    status 1: perhaps (a box reached full progress at ``tick``); 0: no (the set emptied at ``tick``);
    2: perhaps (the recorded path ended first).
    """
    return reachable_from(fish, shake, h, bar0, speed0, progress0, drain, FREE, fish.shape[0])


@njit(cache=True)
def reachable_from(fish, shake, h, bar0, speed0, progress0, drain, phase0, ticks):
    """:func:`perfect_reachable` from any bar state, for the first ``ticks`` ticks of ``fish``.

    ``phase0`` is FREE where the fish may leave on the first tick without costing the perfect (it was out of
    the bar, or the tick before drew no shake; the game's first tick is such a tick), else HELD. Status 2:
    the set held some bar state for all ``ticks`` ticks.
    """
    bottom = np.float64(568 - h)
    phase = np.array([phase0])
    edge = np.array([BOTTOM if bar0 == f32(568 - h) else TOP if bar0 == f32(0.0) else INTERIOR])
    vl, vh = np.array([np.float64(speed0)]), np.array([np.float64(speed0)])
    progress = np.array([f32(progress0)])
    lo, hi = np.array([np.float64(bar0)]), np.array([np.float64(bar0)])
    peak = 1
    for t in range(min(ticks, fish.shape[0])):
        w_lo, w_hi = holding_bars(fish[t], h)
        may_leave = t > 0 and shake[t - 1] == 0  # the last in-bar tick drew no shake
        m = phase.shape[0]
        cap = 24 * m + 24
        B = (np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap), np.empty(cap),
             np.empty(cap, np.float32), np.empty(cap), np.empty(cap))
        k = 0
        for i in range(m):
            a_lo, a_hi = max(lo[i], w_lo), min(hi[i], w_hi)
            if a_lo <= a_hi:  # the fish in the bar
                p = min(f32(1.0), f32(progress[i] + R.PROGRESS_GAIN))
                if p >= f32(1.0):
                    return 1, t, peak
                for a in range(2):
                    k = bar_image(B, k, HELD, a_lo, a_hi, edge[i], vl[i], vh[i], a == 1, True, p, bottom)
            if phase[i] == FREE or may_leave:  # out of the bar, the perfect kept
                p = max(f32(0.0), f32(progress[i] - drain))
                if p > f32(0.0):
                    for o_lo, o_hi in ((lo[i], min(hi[i], w_lo)), (max(lo[i], w_hi), hi[i])):
                        if o_lo <= o_hi:
                            for a in range(2):
                                k = bar_image(B, k, FREE, o_lo, o_hi, edge[i], vl[i], vh[i], a == 1, False, p, bottom)
        if k == 0:
            return 0, t, peak
        phase, edge, vl, vh, progress, lo, hi = _merge(B, k)
        peak = max(peak, phase.shape[0])
    return 2, min(ticks, fish.shape[0]), peak


def perfect_impossible_reach(n: int = 5000, seed0: int = TEST_SEED0, paths: dict | None = None
                             ) -> dict[str, np.ndarray]:
    """The reachability bound: which of the protocol's episodes no input sequence catches perfectly.

    ``paths``: :func:`fight_paths` of the same episodes, when already recorded."""
    paths = fight_paths(n, seed0) if paths is None else paths
    cfg_i = paths["cfg_i"]
    status = np.zeros(n, np.int64)
    ticks = np.zeros(n, np.int64)
    for e in range(n):
        drain = R.progress_drain(cfg_i, paths["penalty_mod"][e])
        status[e], ticks[e], _ = perfect_reachable(paths["fish"][e], paths["shake"][e], int(paths["height"][e]),
                                                   paths["bar"][e], paths["bar_speed"][e], paths["progress"][e],
                                                   drain)
    return {"impossible": status == 0, "tick": ticks, "difficulty": paths["difficulty"], "level": paths["level"]}


def perfect_impossible(n: int = 5000, seed0: int = TEST_SEED0, paths: dict | None = None) -> dict[str, np.ndarray]:
    """For the protocol's episodes ``seed0..seed0+n-1``: which cannot end in a perfect catch, by either bound."""
    hold = perfect_impossible_hold(n, seed0)
    reach = perfect_impossible_reach(n, seed0, paths)
    return {"impossible": hold["impossible"] | reach["impossible"], "impossible_hold": hold["impossible"],
            "impossible_reach": reach["impossible"], "difficulty": hold["difficulty"], "level": hold["level"]}


class BarRecord:
    """A policy's bar after each of its first ``horizon`` steps (column 0: after the reset), as
    :func:`agents.evaluation.protocol.run_episodes` passes it to ``on_step``; for :func:`loss_anatomy`."""

    def __init__(self, n: int, horizon: int = HORIZON):
        self.horizon = horizon
        self.bar = np.zeros((n, horizon + 1), np.float32)
        self.speed = np.zeros((n, horizon + 1), np.float32)
        self.progress = np.zeros((n, horizon + 1), np.float32)
        self.in_bar = np.zeros((n, horizon + 1), np.int8)

    def __call__(self, sim: FishingSim, k: int) -> None:
        if k <= self.horizon:
            self.bar[:, k] = sim.F[:, R.F_BAR_POS]
            self.speed[:, k] = sim.F[:, R.F_BAR_SPEED]
            self.progress[:, k] = sim.F[:, R.F_PROGRESS]
            self.in_bar[:, k] = sim.I[:, R.I_IN_BAR]


def fish_moves(paths: dict, g: int) -> np.ndarray:
    """The steps (1 = the first tick after the reset) on which fight ``g``'s fish took a new target: a re-roll,
    a hop or a dart. In between, the fish only chases its target or coasts."""
    target = np.r_[paths["target0"][g], paths["target"][g]]
    return np.nonzero((target[1:] != target[:-1]) & (target[1:] != f32(-1.0)))[0] + 1


def loss_anatomy(paths: dict, rec: BarRecord, lost_step: np.ndarray, possible: np.ndarray) -> dict:
    """Why a policy lost the perfect in the fights the bounds leave open: its reaction, or where its bar stood
    when the fish moved.

    For each such fight: the fish's last move at or before the loss (its last new target, or the start) and its
    next move after it. From the bar state the policy had right after that move, could any input sequence that
    knows the fish's path have kept the fish in the bar until the next move? If so, the move was survivable
    and the policy's reaction lost it (``kept_after_the_move``). If not, the bar stood where the move could not
    be followed; ``needed_foresight`` counts, for each number of ticks k of FORESIGHT, the fights first kept by
    starting from the policy's bar k ticks before the move (or from the reset, where the move came sooner), i.e.
    by a bar that had known the move k ticks ahead; the rest were not kept even from 40 ticks before (or from
    the reset). A move is the fish's random draw: a policy that cannot see the future can only stand, before a
    move, as it stands before any other.
    """
    fights = np.nonzero(possible & (lost_step > 0))[0]
    within = fights[lost_step[fights] <= rec.horizon]
    kept_after, beyond, at_start = 0, 0, 0
    foresight = dict.fromkeys(FORESIGHT, 0)
    for g in within:
        loss = int(lost_step[g])
        moves = fish_moves(paths, g)
        before, after = moves[moves <= loss], moves[moves > loss]
        move = int(before[-1]) if before.size else 0
        at_start += move == 0
        until = int(after[0]) if after.size else rec.horizon + 1
        drain = R.progress_drain(paths["cfg_i"], paths["penalty_mod"][g])

        def kept(s: int, g: int = g, until: int = until, drain: f32 = drain) -> bool:
            free = s == 0 or rec.in_bar[g, s] == 0 or paths["shake"][g, s - 1] == 0
            status, _, _ = reachable_from(paths["fish"][g, s:], paths["shake"][g, s:], int(paths["height"][g]),
                                          rec.bar[g, s], rec.speed[g, s], rec.progress[g, s], drain,
                                          FREE if free else HELD, until - 1 - s)
            return status != 0

        if kept(move):
            kept_after += 1
            continue
        for k in FORESIGHT:
            if kept(max(move - k, 0)):
                foresight[k] += 1
                break
            if move - k <= 0:  # tried from the reset: no earlier bar to start from
                beyond += 1
                break
        else:
            beyond += 1
    return {"open_fights_lost": int(fights.size), "lost_past_the_recorded_steps": int(fights.size - within.size),
            "lost_before_the_fish_first_moved": int(at_start), "kept_after_the_move": int(kept_after),
            "needed_foresight": {str(k): int(v) for k, v in foresight.items()},
            f"needed_more_than_{FORESIGHT[-1]}_ticks": int(beyond)}


def summary(res: dict[str, np.ndarray]) -> dict:
    imp, d, lv = res["impossible"], res["difficulty"], res["level"]
    hard = d >= HARD
    out = {
        "episodes": int(len(imp)),
        "perfect_upper_bound": float(1.0 - imp.mean()),
        # None when the seeds drew no hard fish: a bound over no fights (NaN) is no number, and not JSON
        "hard_perfect_upper_bound": float(1.0 - imp[hard].mean()) if hard.any() else None,
        "hard_episodes": int(hard.sum()),
        "by_level": {int(lvl): float(1.0 - imp[lv == lvl].mean()) for lvl in LEVELS if (lv == lvl).any()},
    }
    for name in ("hold", "reach"):
        if f"impossible_{name}" in res:
            out[f"perfect_upper_bound_{name}_only"] = float(1.0 - res[f"impossible_{name}"].mean())
    return out


def against_policies(res: dict[str, np.ndarray], episodes: dict) -> dict:
    """Each policy's perfect catches against the bound: how many of the fights it leaves open it catches
    perfectly, the fights it caught perfectly that a bound rules out (any one proves that bound wrong), and
    when it lost the perfect, in the open fights and in the ruled-out ones."""
    out = {}
    possible = ~res["impossible"]
    for name, ep in episodes.items():
        out[name] = {"perfect": int(ep.perfect.sum()), "possible": int(possible.sum()),
                     "share_of_possible": float(ep.perfect.sum() / max(1, possible.sum())),
                     **{f"perfect_where_{b}_rules_out": [int(s) for s in ep.seeds[ep.perfect & res[f"impossible_{b}"]]]
                        for b in ("hold", "reach")}}
        if ep.perfect_lost_step is not None:
            for where, m in (("open", possible), ("ruled_out", ~possible)):
                t = ep.perfect_lost_step[m & (ep.perfect_lost_step > 0)]
                out[name][f"perfect_lost_{where}"] = {
                    "fights": int(t.size), "median_tick": float(np.median(t)) if t.size else None,
                    "share_within_30_ticks": float(np.mean(t <= 30)) if t.size else None}
    return out


def any_policy(res: dict[str, np.ndarray], episodes: dict) -> dict:
    """The fights at least one of the policies caught perfectly: a choice of policy per fight made with hindsight."""
    possible = ~res["impossible"]
    anyone = np.logical_or.reduce([ep.perfect for ep in episodes.values()])
    return {"perfect": int(anyone.sum()), "perfect_rate": float(anyone.mean()),
            "share_of_possible": float((anyone & possible).sum() / max(1, possible.sum()))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int_at_least(1), default=EPISODES)
    ap.add_argument("--seed0", type=int_at_least(0), default=TEST_SEED0, help="the first episode's seed, as in reset(seed=)")
    ap.add_argument("--no-policies", action="store_true",
                    help="skip playing the controllers and the exported models on the same seeds")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"also write the JSON to this file (default: {REPORT} for the full run: the default "
                    "--episodes and --seed0, with the policies; nowhere for any other)")
    args = ap.parse_args(argv)
    if args.seed0 + args.episodes > 2**63:  # the seeds are int64: larger ones wrapped round to small ones
        ap.error(f"--seed0: the seeds {args.seed0}..{args.seed0 + args.episodes - 1} pass 2**63 - 1")
    out = args.out
    if out is None and (args.episodes, args.seed0, args.no_policies) == (EPISODES, TEST_SEED0, False):
        out = REPORT  # a shorter look must not replace the figures the README quotes
    if out is not None:  # before minutes of work, not an error after them
        blocker = out if out.is_dir() else file_in_the_way(out)
        if blocker is not None:
            ap.error(f"--out {out}: {blocker} is {'a folder' if blocker == out else 'a file, not a folder'}")
    paths = fight_paths(args.episodes, args.seed0)
    res = perfect_impossible(args.episodes, args.seed0, paths)
    s = summary(res)
    if not args.no_policies:
        episodes, anatomies = _play_policies(args.episodes, args.seed0, paths, ~res["impossible"])
        s["policies"] = against_policies(res, episodes)
        for name, anatomy in anatomies.items():
            s["policies"][name]["loss_anatomy"] = anatomy
        s["any_policy"] = any_policy(res, episodes)
    text = dumps(s, indent=1)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    wrong = {n: p for n, p in s.get("policies", {}).items()
             if p["perfect_where_hold_rules_out"] or p["perfect_where_reach_rules_out"]}
    if wrong:
        raise SystemExit(f"a bound is unsound: these policies caught perfectly fights it rules out: {wrong}")


def _play_policies(n: int, seed0: int, paths: dict, possible: np.ndarray) -> tuple[dict, dict]:
    """Two hand-written controllers and the learned policies of ``make evaluate`` (those present), on the
    bound's episodes: their episodes, and the :func:`loss_anatomy` of each."""
    from agents.evaluation.evaluate import learned_policies

    policies = {name: make_controller(name) for name in ("lead", "braking")}
    policies.update(learned_policies())
    episodes, anatomies = {}, {}
    for name, pol in policies.items():
        rec = BarRecord(n)
        episodes[name] = run_episodes(pol, n=n, seed0=seed0, on_step=rec)
        anatomies[name] = loss_anatomy(paths, rec, episodes[name].perfect_lost_step, possible)
    return episodes, anatomies


if __name__ == "__main__":
    main()
