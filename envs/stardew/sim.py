"""FishingSim: N fishing minigames stepped together (N = 1 for the scalar env).

The simulator owns the state arrays of :mod:`envs.stardew.rules` and steps them with one compiled
kernel. Game slot ``g`` seeded with ``s`` plays exactly the same episodes whether it runs alone or
among 4096 others: each slot draws its episodes from its own stream.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array
from numpy.lib.stride_tricks import as_strided

from envs.options import flag_option, positive_int_option
from envs.stardew import features as feats
from envs.stardew import rules as R
from envs.stardew.fish import Fish, FishChoice, resolve_fish
from envs.stardew.jit_cache import drop_stale_numba_cache

drop_stale_numba_cache(__file__)

TACKLE_IDS = {
    "cork": 695,
    "trap": 694,
    "lead": 692,
    "barbed": 691,
    "treasure_hunter": 693,
}
_TACKLE_CFG = {695: R.C_CORK, 694: R.C_TRAP, 692: R.C_LEAD, 691: R.C_BARBED, 693: R.C_HUNTER}
REWARDS = {"shaped": R.REWARD_SHAPED, "seed": R.REWARD_SEED, "sparse": R.REWARD_SPARSE}
VERSIONS = {"1.5": 15, "1.5.4": 15, "1.6": 16}


@dataclass
class GameConfig:
    """Everything that decides which minigames are played and how they are scored.

    Shared by the scalar env, the vector env, the reference server and the screen game.
    """

    fish: FishChoice = None
    level: int | tuple[int, int] = (0, 10)
    tackle: Sequence[str | int] | Mapping[str | int, int] = ()
    treasure: bool | float = False
    version: str = "1.5"
    training_rod: bool = False
    caught_before: bool = True
    deluxe_bait: bool = False
    max_ticks: int = 20_000
    frame_skip: int = 1
    skip_fade_in: bool = True
    reward: str = "shaped"
    reward_weights: dict = field(default_factory=lambda: {"progress": 100.0, "catch": 10.0, "escape": 10.0,
                                                          "perfect": 5.0})

    def with_options(self, options: Mapping[str, object], others: Sequence[str] = ()) -> GameConfig:
        """A copy with ``options`` (``reset(options=...)``, or an env's keyword arguments) applied; the
        original is unchanged. An unknown option name raises here, listing the game options and ``others``
        (the caller's own keyword arguments, which a misspelt name may have meant); the values are checked
        by :meth:`compile` (``FishingSim.configure`` runs it before it changes anything)."""
        if not isinstance(options, Mapping):
            raise ValueError(f"options: a dict of game options such as {{'fish': 'Legend', 'level': 10}}, got "
                             f"{type(options).__name__} {options!r}")
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(map(str, set(options) - known))
        if unknown:
            also = f"; the env also takes {sorted(others)}" if others else ""
            raise ValueError(f"options: unknown {unknown}; game options are {sorted(known)}{also}")
        return dataclasses.replace(self, **options)

    def compile(self) -> tuple[np.ndarray, np.ndarray, list[Fish]]:
        """-> (cfg_i, cfg_f, fish pool); raises ValueError naming the bad option."""
        cfg_i = np.zeros(R.NCI, dtype=np.int64)
        cfg_f = np.zeros(R.NCF, dtype=np.float64)
        if not isinstance(self.version, str) or self.version not in VERSIONS:
            raise ValueError(f"version: {self.version!r} not one of {sorted(VERSIONS)}")
        cfg_i[R.C_VERSION] = VERSIONS[self.version]
        lo, hi = _level_range(self.level)
        cfg_i[R.C_LEVEL_LO], cfg_i[R.C_LEVEL_HI] = lo, hi
        cfg_i[R.C_BEGINNER_ROD] = int(flag_option("training_rod", self.training_rod))
        cfg_i[R.C_CAUGHT_BEFORE] = int(flag_option("caught_before", self.caught_before))
        cfg_i[R.C_DELUXE_BAIT] = int(flag_option("deluxe_bait", self.deluxe_bait))
        if isinstance(self.tackle, (str, bytes)) or not isinstance(self.tackle, (Mapping, Sequence, np.ndarray)):
            raise ValueError(f"tackle: a list of names or ids (e.g. ['cork']) or {{name: count}}, got {self.tackle!r}")
        items = self.tackle.items() if isinstance(self.tackle, Mapping) else ((t, 1) for t in self.tackle)
        total = 0
        for name, count in items:
            if isinstance(name, str):
                tid = int(name) if name.isdigit() else TACKLE_IDS.get(name, name)
            elif isinstance(name, numbers.Integral) and not isinstance(name, bool):
                tid = int(name)
            else:
                tid = None
            if tid not in _TACKLE_CFG:
                raise ValueError(f"tackle: unknown {name!r}; known {sorted(TACKLE_IDS)} or ids {sorted(_TACKLE_CFG)}")
            if isinstance(count, bool) or not isinstance(count, numbers.Integral) or not 0 <= count <= 2:
                raise ValueError(f"tackle: the count of {name!r} must be an integer 0..2, got {count!r}")
            cfg_i[_TACKLE_CFG[tid]] += int(count)
            total += int(count)
        if cfg_i[R.C_VERSION] == 15 and total > 1:
            raise ValueError("tackle: game version 1.5 has one tackle slot; use version='1.6' for two")
        if total > 2:
            raise ValueError("tackle: at most two pieces (1.6's Advanced Iridium Rod)")
        if self.deluxe_bait and cfg_i[R.C_VERSION] != 16:
            raise ValueError("deluxe_bait: Deluxe Bait exists in game version 1.6 only")
        if not isinstance(self.treasure, (bool, np.bool_, numbers.Real)):
            raise ValueError(f"treasure: a bool or a probability in [0, 1], got {self.treasure!r}")
        prob = float(self.treasure)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"treasure: a bool or a probability in [0, 1], got {self.treasure!r}")
        cfg_f[R.CF_TREASURE_PROB] = prob
        cfg_f[R.CF_PENALTY_MOD] = 1.0
        cfg_i[R.C_MAX_TICKS] = positive_int_option("max_ticks", self.max_ticks)
        cfg_i[R.C_SKIP_FADE_IN] = int(flag_option("skip_fade_in", self.skip_fade_in))
        if cfg_i[R.C_SKIP_FADE_IN] and self.max_ticks <= R.FADE_IN_TICKS:
            # reset() has already run the fade-in, so such a cap would end every episode on its first step
            raise ValueError(f"max_ticks: the cap counts the {R.FADE_IN_TICKS} fade-in ticks that reset() runs "
                             f"(skip_fade_in=True), so it must exceed {R.FADE_IN_TICKS}; got {self.max_ticks!r}")
        cfg_i[R.C_FRAME_SKIP] = positive_int_option("frame_skip", self.frame_skip)
        if not isinstance(self.reward, str) or self.reward not in REWARDS:
            raise ValueError(f"reward: {self.reward!r} not one of {sorted(REWARDS)}")
        cfg_i[R.C_REWARD] = REWARDS[self.reward]
        w = {"progress": 100.0, "catch": 10.0, "escape": 10.0, "perfect": 5.0}
        w.update(number_dict_option("reward_weights", self.reward_weights, sorted(w), "a finite number"))
        cfg_f[R.CF_W_PROGRESS] = w["progress"]
        cfg_f[R.CF_W_CATCH] = w["catch"]
        cfg_f[R.CF_W_ESCAPE] = w["escape"]
        cfg_f[R.CF_W_PERFECT] = w["perfect"]
        return cfg_i, cfg_f, resolve_fish(self.fish, self.version)


def _level_range(level: object) -> tuple[int, int]:
    """A level or an inclusive (lo, hi) range -> (lo, hi), checked: 0 <= lo <= hi <= 20."""
    if isinstance(level, np.ndarray):
        level = level.tolist()
    if isinstance(level, numbers.Integral) and not isinstance(level, bool):
        lo = hi = int(level)
    elif (isinstance(level, Sequence) and not isinstance(level, str) and len(level) == 2
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in level)):
        lo, hi = int(level[0]), int(level[1])
    else:
        raise ValueError(f"level: an integer 0..20 or an inclusive range (lo, hi), got {level!r}")
    if not 0 <= lo <= hi <= 20:
        raise ValueError(f"level: need 0 <= lo <= hi <= 20, got {level!r}")
    return lo, hi


def number_dict_option(name: str, value: object, known: Sequence[str], must_be: str,
                       positive: bool = False) -> dict[str, float]:
    """``value`` of the option ``name``: a dict whose keys are among ``known`` and whose values are finite numbers
    (> 0 if ``positive``), or a ValueError naming the option and the key; ``must_be`` words the value rule."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: a dict with keys among {list(known)}, got {value!r}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown {unknown}; known {list(known)}")
    for key, v in value.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or (positive and v <= 0):
            raise ValueError(f"{name}: {key!r} must be {must_be}, got {v!r}")
    return dict(value)


# columns of the per-game outcome row written when an episode ends
O_STATUS, O_PERFECT, O_TICKS, O_FISH, O_LEVEL, O_TREASURE_CAUGHT = range(6)
NO = 6


# Every array of a simulator lives in one of two byte buffers, the game state and the configuration,
# described by the layout L. The kernels take the two buffers instead of ~18 arrays because numba
# spends ~0.1 us per argument on each call, which would dominate a single-game step.
#
# The state buffer begins with one record per game holding all of that game's state, contiguous:
# its F row, its I row, its .NET generator R and its episode stream E (REC bytes). A step reads and
# writes one record per game, so the games a thread steps are one contiguous block of memory. The
# outputs (observations, rewards, flags, outcomes) follow as ordinary C-contiguous arrays.
# F, I, R and E are strided views into the records, with the shapes and dtypes they always had.
REC_F, REC_I, REC_R, REC_E = 0, R.NF * 4, R.NF * 4 + R.NI * 8, R.NF * 4 + R.NI * 8 + R.NR * 4
REC = REC_E + 8  # bytes per game record (a multiple of 8)

(L_N, L_K, L_P, L_OBS, L_FOBS, L_REW, L_OUT, L_TERM, L_TRUNC,
 L_CI, L_CF, L_FD, L_FM, L_POOL, L_FEAT, L_STATE_BYTES, L_CFG_BYTES) = range(17)


def _layout(n: int, k: int, p: int) -> np.ndarray:
    L = np.zeros(17, dtype=np.int64)
    L[L_N], L[L_K], L[L_P] = n, k, p
    off = n * REC  # the game records come first
    for slot, nbytes in ((L_OBS, n * k * 4), (L_FOBS, n * k * 4), (L_REW, n * 8), (L_OUT, n * NO * 8),
                         (L_TERM, n), (L_TRUNC, n)):
        L[slot] = off
        off += (nbytes + 7) // 8 * 8
    L[L_STATE_BYTES] = off
    off = 0
    for slot, nbytes in ((L_CI, R.NCI * 8), (L_CF, R.NCF * 8), (L_FD, p * 4), (L_FM, p * 8), (L_POOL, p * 8),
                         (L_FEAT, k * 8)):
        L[slot] = off
        off += (nbytes + 7) // 8 * 8
    L[L_CFG_BYTES] = off
    return L


@intrinsic
def _borrowed(typingctx, arr):
    """``arr`` without its reference count: the same memory, shape and strides, no meminfo.

    Every call that takes an array counts a reference to it on the way in and out, an atomic update. In the games'
    loop that was a quarter of a step (eight such updates per game-step for the state arrays alone), and from two
    threads a contended cache line. Views of a borrowed array are borrowed too, so the loop counts nothing. Only
    for arrays that live no longer than the kernel call that borrows them: the caller's own arrays keep the
    memory alive."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        out = make_array(sig.return_type)(context, builder)
        populate_array(out, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                       meminfo=None)
        return out._getvalue()

    return arr(arr), codegen


@intrinsic
def _row(typingctx, arr, g):
    """Row ``g`` of the 2-d array ``arr``, whose rows are contiguous, as a C-contiguous array of shape (1, columns).

    The game's loop steps one game at a time through its rows: indexed by the constant 0 with constant strides,
    every field of a game is a fixed offset from the record's start, where the strided views of all the games
    cost a multiplication by the runtime stride (and a negative-index check) on every access. Borrowed, as
    :func:`_borrowed`."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(g, types.Integer)):
        return None
    out_type = types.Array(arr.dtype, 2, "C")

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        out = make_array(out_type)(context, builder)
        shape = cgutils.unpack_tuple(builder, src.shape, 2)
        strides = cgutils.unpack_tuple(builder, src.strides, 2)
        g_val = context.cast(builder, args[1], sig.args[1], types.intp)
        raw = builder.bitcast(src.data, cgutils.voidptr_t)
        data = builder.bitcast(builder.gep(raw, [builder.mul(g_val, strides[0])]), src.data.type)
        one = context.get_constant(types.intp, 1)
        populate_array(out, data=data, shape=[one, shape[1]], strides=[builder.mul(shape[1], strides[1]), strides[1]],
                       itemsize=src.itemsize, meminfo=None)
        return out._getvalue()

    return out_type(arr, g), codegen


@njit(cache=True, inline="always")
def _views(S, C, L):
    S, C = _borrowed(S), _borrowed(C)
    n, k, p = L[L_N], L[L_K], L[L_P]
    F = as_strided(S.view(np.float32)[REC_F // 4:], shape=(n, R.NF), strides=(REC, 4))
    I = as_strided(S.view(np.int64)[REC_I // 8:], shape=(n, R.NI), strides=(REC, 8))
    Rs = as_strided(S.view(np.int32)[REC_R // 4:], shape=(n, R.NR), strides=(REC, 4))
    E = as_strided(S.view(np.uint64)[REC_E // 8:], shape=(n,), strides=(REC,))
    obs = S[L[L_OBS]:L[L_OBS] + n * k * 4].view(np.float32).reshape((n, k))
    fobs = S[L[L_FOBS]:L[L_FOBS] + n * k * 4].view(np.float32).reshape((n, k))
    rew = S[L[L_REW]:L[L_REW] + n * 8].view(np.float64)
    out = S[L[L_OUT]:L[L_OUT] + n * NO * 8].view(np.int64).reshape((n, NO))
    term = S[L[L_TERM]:L[L_TERM] + n].view(np.bool_)
    trunc = S[L[L_TRUNC]:L[L_TRUNC] + n].view(np.bool_)
    cfg_i = C[L[L_CI]:L[L_CI] + R.NCI * 8].view(np.int64)
    cfg_f = C[L[L_CF]:L[L_CF] + R.NCF * 8].view(np.float64)
    fd = C[L[L_FD]:L[L_FD] + p * 4].view(np.float32)
    fm = C[L[L_FM]:L[L_FM] + p * 8].view(np.int64)
    pool = C[L[L_POOL]:L[L_POOL] + p * 8].view(np.int64)
    feat = C[L[L_FEAT]:L[L_FEAT] + k * 8].view(np.int64)
    return F, I, Rs, E, obs, fobs, rew, out, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat


@njit(cache=True, inline="always")
def end_step(F, I, g, p0, seed_sum, cfg_i, cfg_f):  # noqa: E741 - the state arrays' names
    """Finish an env step of game g after its ticks: truncation, reward, ``F_PREV_PROGRESS``.

    ``p0`` is the progress before the step, ``seed_sum`` the sum of the progress after each of its
    ticks (the "seed" reward). Returns ``(reward, status)``. Shared by :func:`play` and the
    socket backend (:mod:`envs.stardew.bridge.client`), so both score a step identically.
    """
    st = I[g, R.I_STATUS]
    if st == R.PLAYING and I[g, R.I_TICK] >= cfg_i[R.C_MAX_TICKS]:
        st = R.TRUNCATED
        I[g, R.I_STATUS] = st
    mode = cfg_i[R.C_REWARD]
    r = seed_sum
    if mode == R.REWARD_SHAPED:
        r = cfg_f[R.CF_W_PROGRESS] * (F[g, R.F_PROGRESS] - p0)
        if st == R.CAUGHT:
            r += cfg_f[R.CF_W_CATCH] + cfg_f[R.CF_W_PERFECT] * I[g, R.I_PERFECT]
        elif st == R.ESCAPED:
            r -= cfg_f[R.CF_W_ESCAPE]
    elif mode == R.REWARD_SPARSE:
        r = 1.0 if st == R.CAUGHT else (-1.0 if st == R.ESCAPED else 0.0)
    F[g, R.F_PREV_PROGRESS] = p0
    return r, st


@njit(cache=True)
def play(F, I, Rs, cfg_i, cfg_f, feat, actions, obs, rew, term, trunc, out):
    """One env step of every game: ``frame_skip`` ticks, the reward, the end flags and the observation.

    Games that end stay ended (the caller decides about autoreset). The scalar env calls this
    directly, with the arrays of its single game, since building the array views of
    :func:`step_games` costs more than one game's tick. The loop is :func:`_play_range`'s, written out
    again: calling it from here made the scalar env's step 4% slower.
    """
    mode = cfg_i[R.C_REWARD]
    skip = cfg_i[R.C_FRAME_SKIP]
    for g in range(F.shape[0]):
        pressed = actions[g] != 0
        p0 = F[g, R.F_PROGRESS]
        r = 0.0
        for _ in range(skip):
            R.tick(F, I, Rs, g, pressed, cfg_i)
            if mode == R.REWARD_SEED:
                r += F[g, R.F_PROGRESS]
            if I[g, R.I_STATUS] != R.PLAYING:
                break
        r, st = end_step(F, I, g, p0, r, cfg_i, cfg_f)
        rew[g] = r
        term[g] = st == R.CAUGHT or st == R.ESCAPED
        trunc[g] = st == R.TRUNCATED
        if st != R.PLAYING:
            out[g, O_STATUS] = st
            out[g, O_PERFECT] = I[g, R.I_PERFECT] if st == R.CAUGHT else 0
            out[g, O_TICKS] = I[g, R.I_TICK]
            out[g, O_FISH] = I[g, R.I_FISH_INDEX]
            out[g, O_LEVEL] = I[g, R.I_LEVEL]
            out[g, O_TREASURE_CAUGHT] = I[g, R.I_TREASURE_CAUGHT]
        feats.write_obs(F, I, g, feat, obs[g])


@njit(cache=True)
def _play_range(F, I, Rs, cfg_i, cfg_f, feat, actions, obs, rew, term, trunc, out, lo, hi):
    """:func:`play` for the games ``lo .. hi - 1`` of borrowed arrays (:func:`_borrowed`), one game's record at a
    time through its rows (:func:`_row`); the default observation is written without the loop over feature codes
    (:func:`envs.stardew.features.write_default_obs`, the same values bit for bit)."""
    mode = cfg_i[R.C_REWARD]
    skip = cfg_i[R.C_FRAME_SKIP]
    default_obs = feats.is_default(feat)
    for g in range(lo, hi):
        Fg, Ig, Rg = _row(F, g), _row(I, g), _row(Rs, g)  # this game's fields at constant offsets
        pressed = actions[g] != 0
        p0 = Fg[0, R.F_PROGRESS]
        r = 0.0
        for _ in range(skip):
            R.tick(Fg, Ig, Rg, 0, pressed, cfg_i)
            if mode == R.REWARD_SEED:
                r += Fg[0, R.F_PROGRESS]
            if Ig[0, R.I_STATUS] != R.PLAYING:
                break
        r, st = end_step(Fg, Ig, 0, p0, r, cfg_i, cfg_f)
        rew[g] = r
        term[g] = st == R.CAUGHT or st == R.ESCAPED
        trunc[g] = st == R.TRUNCATED
        if st != R.PLAYING:
            out[g, O_STATUS] = st
            out[g, O_PERFECT] = Ig[0, R.I_PERFECT] if st == R.CAUGHT else 0
            out[g, O_TICKS] = Ig[0, R.I_TICK]
            out[g, O_FISH] = Ig[0, R.I_FISH_INDEX]
            out[g, O_LEVEL] = Ig[0, R.I_LEVEL]
            out[g, O_TREASURE_CAUGHT] = Ig[0, R.I_TREASURE_CAUGHT]
        if default_obs:
            feats.write_default_obs(Fg, Ig, 0, obs[g])
        else:
            feats.write_obs(Fg, Ig, 0, feat, obs[g])


@njit(cache=True, inline="always")
def _check_actions(actions):
    for g in range(actions.shape[0]):  # every action is checked before any game moves
        if actions[g] != 0 and actions[g] != 1:
            raise ValueError("step: actions must be 0 (release) or 1 (hold)")


@njit(cache=True)
def _autoreset(F, I, Rs, E, obs, fobs, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat, lo, hi):
    """Begin anew the games among ``lo .. hi - 1`` whose episode just ended, keeping their last observation."""
    for g in range(lo, hi):
        if term[g] or trunc[g]:
            fobs[g, :] = obs[g, :]
            R.begin_episode(F, I, Rs, E, g, fd, fm, pool, cfg_i, cfg_f)
            feats.write_obs(F, I, g, feat, obs[g])


TILE = 256  # games stepped before the ended ones among them begin anew


@njit(cache=True)
def _step_block(F, I, Rs, E, obs, fobs, rew, out, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat, actions, autoreset,
                lo, hi):
    """Step games ``lo`` to ``hi - 1`` of borrowed arrays (:func:`_views`)."""
    for t in range(lo, hi, TILE):
        end = min(t + TILE, hi)
        _play_range(F, I, Rs, cfg_i, cfg_f, feat, actions, obs, rew, term, trunc, out, t, end)
        if autoreset:  # while the tile's records are still in the core's cache
            _autoreset(F, I, Rs, E, obs, fobs, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat, t, end)


@njit(cache=True)
def step_games(S, C, L, actions, autoreset):
    """Step every game one env step with its action, on the calling thread; games that end begin anew if
    ``autoreset``."""
    _check_actions(actions)
    F, I, Rs, E, obs, fobs, rew, out, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat = _views(S, C, L)
    _step_block(F, I, Rs, E, obs, fobs, rew, out, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat, actions, autoreset,
                0, actions.shape[0])


@njit(cache=True, parallel=True)
def step_games_parallel(S, C, L, actions, autoreset, num_threads):
    """:func:`step_games` with the games split into ``num_threads`` contiguous blocks, stepped on numba's threads
    (each game is stepped by one thread and depends on nothing outside its own record, so every game plays
    exactly as it does on one thread)."""
    _check_actions(actions)
    F, I, Rs, E, obs, fobs, rew, out, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat = _views(S, C, L)
    n = actions.shape[0]
    for c in prange(num_threads):
        _step_block(F, I, Rs, E, obs, fobs, rew, out, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat, actions,
                    autoreset, c * n // num_threads, (c + 1) * n // num_threads)


@njit(cache=True)
def reset_games(S, C, L, idx, seeds, reseed):
    """Begin a new episode in the games ``idx`` (reseeding their streams with ``seeds`` if ``reseed``)."""
    F, I, Rs, E, obs, fobs, rew, out, term, trunc, cfg_i, cfg_f, fd, fm, pool, feat = _views(S, C, L)
    for k in range(idx.shape[0]):
        g = idx[k]
        if reseed:
            E[g] = seeds[k]
        R.begin_episode(F, I, Rs, E, g, fd, fm, pool, cfg_i, cfg_f)
        out[g, :] = 0
        term[g] = False
        trunc[g] = False
        rew[g] = 0.0
        feats.write_obs(F, I, g, feat, obs[g])


# A thread steps at least this many games: below it, starting the threads costs more than they save.
PARALLEL_MIN_GAMES = 512


def check_num_threads(num_threads: object) -> int:
    """``num_threads`` as the int a simulator steps its games on: None is numba's thread count (the machine's
    cores, or ``NUMBA_NUM_THREADS``); otherwise an integer from 1 to that count, or a ValueError naming it."""
    most = numba.config.NUMBA_NUM_THREADS
    if num_threads is None:
        return most
    if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral) or not 1 <= num_threads <= most:
        raise ValueError(f"num_threads: an integer from 1 to {most} (numba's thread count, NUMBA_NUM_THREADS), "
                         f"got {num_threads!r}")
    return int(num_threads)


_pool_pid: list[int] = []  # the process that started numba's thread pool
# turns a thread of numba's OpenMP spins after a parallel step before it sleeps (1,000 to 30,000 measured alike on a
# 2-core machine: long enough to span the caller's work between two steps)
SPIN_COUNT = 10_000


def _parallel_allowed() -> bool:
    """Whether this process may step games on numba's threads; starts them on the first call.

    GNU OpenMP (numba's usual threading layer on Linux) cannot run in a child forked from a process that had
    started its threads: there the games step on the calling thread instead (the same games, only slower).

    GNU OpenMP's threads spin for a while after each parallel step before they sleep, 300,000 turns by default.
    A thread that sleeps between steps must be woken for the next one, and on a 2-core machine that cost
    the two-thread step a third of its gain (1.27x one thread at 4,096 games, against 1.73x with a short spin);
    a long spin takes the core from the thread that calls ``step`` on a machine busy with other work. Unless the
    user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``, numba's OpenMP starts with ``GOMP_SPINCOUNT`` =
    ``SPIN_COUNT`` (read once, when the library loads; the variable is removed again, so other libraries never
    see it). On a busy machine the default's :class:`ThreadChoice` steps on one thread instead.
    """
    if not _pool_pid:
        _pool_pid.append(os.getpid())
        ours = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
        if ours:
            os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
        try:
            numba.get_num_threads()  # starts numba's threading layer
        finally:
            if ours:
                del os.environ["GOMP_SPINCOUNT"]
    return _pool_pid[0] == os.getpid()


class ThreadChoice:
    """Whether a simulator's default steps its games on its threads or on the calling thread: measured, not assumed.

    Two threads are worth having only while the second core is free. Each threaded step wakes a sleeping thread
    and waits for it at the end, and on a machine busy with other work the kernel's scheduler may let a woken thread
    wait for another process's time slice (milliseconds, against a step of a fraction of one): measured on a 2-core
    machine with two other programs running at the lowest priority, two threads stepped 4,096 games at 0.95x the
    speed of one. So the default times both ways now and then, a few steps each, interleaved, and steps the games
    the faster way until the next trial; trials that keep choosing the same way come ever more rarely (up to one
    per ``MAX_PERIOD`` steps), and a step much slower than the trial promised brings the next trial forward. Every
    game plays the same either way, so the choice changes only the speed.
    """

    TRIAL = 3  # steps of each way per trial, interleaved; the fastest of each counts
    MIN_PERIOD, MAX_PERIOD = 64, 4096  # steps between trials
    SLOWER = 2.0  # a step this many times slower than the trial's figure for the chosen way starts a trial

    def __init__(self) -> None:
        self.threaded = True
        self.period = self.MIN_PERIOD
        self.left = 0  # steps until the next trial
        self._trial: list[bool] = []  # the ways still to time in this trial
        self._times: dict[bool, list[float]] = {True: [], False: []}
        self._expected = 0.0

    def next_way(self) -> bool:
        """Whether the next step should use the threads."""
        if self.left <= 0 and not self._trial:
            self._trial = [True, False] * self.TRIAL
            self._times = {True: [], False: []}
        return self._trial[0] if self._trial else self.threaded

    def record(self, threaded: bool, seconds: float) -> None:
        """What the step just made on ``threaded`` (as :meth:`next_way` said) took, wall clock."""
        if self._trial:
            self._trial.pop(0)
            self._times[threaded].append(seconds)
            if not self._trial:
                best = {way: min(t) for way, t in self._times.items()}
                choice = best[True] < best[False]
                self.period = min(2 * self.period, self.MAX_PERIOD) if choice == self.threaded else self.MIN_PERIOD
                self.threaded, self._expected, self.left = choice, best[choice], self.period
            return
        self.left -= 1
        if seconds > self.SLOWER * self._expected:
            self.left, self.period = 0, self.MIN_PERIOD


# the envs take seeds 0..2**64 - 1 (each its own stream): a larger one would share a smaller one's stream
MAX_SEED = 2**64 - 1


def seed_to_stream(seed: int) -> np.uint64:
    """The episode stream a game slot seeded with ``seed`` starts from (same rule everywhere)."""
    return np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as an int in 0..MAX_SEED, or a ValueError naming ``name`` (bools and floats are refused)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name}: an integer from 0 to 2**64 - 1, got {seed!r}")
    return int(seed)


class FishingSim:
    """N fishing minigames with one configuration, stepped by one compiled kernel.

    Arrays are public for fast callers (training loops, the vector env): ``obs`` (N, K) float32,
    ``reward`` (N,) float64, ``terminated``/``truncated`` (N,) bool, ``final_obs`` (N, K) (the last
    observation of an episode that just ended, when stepping with ``autoreset``), ``outcome`` (N, 6)
    (status, perfect, ticks, fish row, level, treasure caught of the last episode that ended).

    ``num_threads`` is how many of numba's threads step the games; a batch gets at most one thread per
    ``PARALLEL_MIN_GAMES`` games. The default (None) is numba's thread count (the machine's cores or
    ``NUMBA_NUM_THREADS``), used while it is measured to be faster than the calling thread alone
    (:class:`ThreadChoice`); a number is used as given. Each game is stepped whole by one thread, so every game
    plays the same on any number of threads.
    ``F``, ``I``, ``R`` and ``E`` are strided views into one contiguous record per game.
    """

    def __init__(self, num_games: int = 1, config: GameConfig | None = None,
                 features: str | Sequence[str] | None = None, num_threads: int | None = None):
        num_games = positive_int_option("num_games", num_games)
        self.num_threads = check_num_threads(num_threads)
        self._choice = ThreadChoice() if num_threads is None else None  # the default measures which way is faster
        self.configure(config or GameConfig())
        if features is None:
            features = "treasure" if self.cfg_f[R.CF_TREASURE_PROB] > 0 else "default"
        self.feature_names = feats.resolve(features)
        self.feat = feats.codes(self.feature_names)
        n, k = num_games, len(self.feature_names)
        self.num_games = n
        self.L = _layout(n, k, len(self.pool_fish))
        self._S = np.zeros(self.L[L_STATE_BYTES], dtype=np.uint8)
        L, S = self.L, self._S

        def view(slot, dtype, count, shape):
            return S[L[slot]:L[slot] + count * np.dtype(dtype).itemsize].view(dtype).reshape(shape)

        records = S[:n * REC].reshape(n, REC)  # one row of bytes per game: its F, I, R and E
        self.F = records[:, REC_F:REC_I].view(np.float32)
        self.I = records[:, REC_I:REC_R].view(np.int64)
        self.R = records[:, REC_R:REC_E].view(np.int32)
        self.E = records[:, REC_E:REC].view(np.uint64).reshape(n)
        self.obs = view(L_OBS, np.float32, n * k, (n, k))
        self.final_obs = view(L_FOBS, np.float32, n * k, (n, k))
        self.reward = view(L_REW, np.float64, n, (n,))
        self.outcome = view(L_OUT, np.int64, n * NO, (n, NO))
        self.terminated = view(L_TERM, np.bool_, n, (n,))
        self.truncated = view(L_TRUNC, np.bool_, n, (n,))
        self._write_config()
        self._play_entry = None
        self._static: list = [None] * n
        self._rows: dict = {}  # g -> (F[g], I[g]) views, made once  # per slot: (episode number, the episode's fixed info)
        self.E[:] = np.random.default_rng().integers(0, 2**63, n, dtype=np.uint64)  # until seeded
        self._all = np.arange(n, dtype=np.int64)
        self._action = np.zeros(1, dtype=np.int64)
        # game 0's record as C-contiguous one-row arrays: the scalar env's step indexes them with constant strides
        self._play_args = (S[REC_F:REC_I].view(np.float32).reshape(1, R.NF),
                           S[REC_I:REC_R].view(np.int64).reshape(1, R.NI),
                           S[REC_R:REC_E].view(np.int32).reshape(1, R.NR), self.cfg_i, self.cfg_f, self.feat,
                           self._action, self.obs[:1], self.reward[:1], self.terminated[:1], self.truncated[:1],
                           self.outcome[:1])
        self._threads_for_games()

    def _threads_for_games(self) -> None:
        # threads that each get at least PARALLEL_MIN_GAMES games (fewer would wait on the threads' start more
        # than they gain); one thread steps on the caller's thread, without the threading layer
        self._step_threads = max(1, min(self.num_threads, self.num_games // PARALLEL_MIN_GAMES))

    def __getstate__(self) -> dict:
        # the compiled entry point and the array views cannot be pickled; the state is one buffer
        return {"num_games": self.num_games, "config": self.config, "features": self.feature_names,
                "num_threads": None if self._choice is not None else self.num_threads, "state": self._S.copy()}

    def __setstate__(self, state: dict) -> None:
        threads = state.get("num_threads")  # a machine with fewer threads steps it on all of its own
        threads = None if threads is None else min(threads, numba.config.NUMBA_NUM_THREADS)
        self.__init__(state["num_games"], state["config"], state["features"], threads)
        self._S[:] = state["state"]

    def configure(self, config: GameConfig) -> None:
        """Play the next episodes under ``config`` (the games' streams and the features stay); a bad option
        raises ValueError before anything changes."""
        cfg_i, cfg_f, pool_fish = config.compile()
        self.config, self.cfg_i, self.cfg_f, self.pool_fish = config, cfg_i, cfg_f, pool_fish
        self.fish_diff = np.array([f.difficulty for f in pool_fish], dtype=np.float32)
        self.fish_motion = np.array([f.motion for f in pool_fish], dtype=np.int64)
        self.pool = np.arange(len(pool_fish), dtype=np.int64)
        if hasattr(self, "_S"):
            self._play_args = self._play_args[:3] + (cfg_i, cfg_f) + self._play_args[5:]
            self.L[L_P] = len(pool_fish)
            self._write_config()

    def _write_config(self) -> None:
        L = _layout(self.num_games, len(self.feature_names), len(self.pool_fish))
        self.L[L_CI:L_CFG_BYTES + 1] = L[L_CI:L_CFG_BYTES + 1]
        C = np.zeros(L[L_CFG_BYTES], dtype=np.uint8)
        for slot, arr in ((L_CI, self.cfg_i), (L_CF, self.cfg_f), (L_FD, self.fish_diff), (L_FM, self.fish_motion),
                          (L_POOL, self.pool), (L_FEAT, self.feat)):
            C[L[slot]:L[slot] + arr.nbytes] = arr.view(np.uint8)
        self._C = C

    # -- episodes -----------------------------------------------------------------------------------
    def reset(self, seeds: Sequence[int] | np.ndarray | None = None, idx: Sequence[int] | np.ndarray | None = None
              ) -> np.ndarray:
        """Begin new episodes in games ``idx`` (all by default); ``seeds`` reseeds their streams."""
        if idx is None:
            idx = self._all
        else:
            idx = np.asarray(idx)
            if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
                raise ValueError(f"reset: idx must be a 1-d list of game indices, got {idx!r}")
            idx = idx.astype(np.int64, copy=False)
            if idx.size and (idx.min() < 0 or idx.max() >= self.num_games):
                raise ValueError(f"reset: idx must lie in 0..{self.num_games - 1}, got {idx.tolist()}")
        if seeds is None:
            s = np.zeros(len(idx), dtype=np.uint64)
        else:
            # element by element: np.atleast_1d would turn a list holding a seed past 2**63 into float64, and
            # seeds that differ by less than its precision into one stream
            listed = seeds.tolist() if isinstance(seeds, np.ndarray) else seeds
            listed = [listed] if isinstance(listed, numbers.Integral) else list(listed)  # a range, a list, ...
            s = np.array([seed_to_stream(x) for x in listed], dtype=np.uint64)
            if s.shape[0] != idx.shape[0]:
                raise ValueError(f"reset: {s.shape[0]} seeds for {idx.shape[0]} games")
        reset_games(self._S, self._C, self.L, idx, s, seeds is not None)
        return self.obs

    def play_one(self, action: int) -> None:
        """Game 0 only, no autoreset: the scalar env's fast path (see :func:`play`)."""
        self._action[0] = action
        if self._play_entry is None:
            play(*self._play_args)
            # numba's typed entry point skips the dispatcher's argument typing (~0.3 us of a ~3 us step)
            sig = play.signatures[-1]
            self._play_entry = getattr(play.overloads.get(sig), "entry_point", None) or play
        else:
            self._play_entry(*self._play_args)

    def step(self, actions: np.ndarray | Sequence[int], autoreset: bool = True) -> np.ndarray:
        """One env step in every game; returns ``obs`` (rewards etc. are in the public arrays)."""
        a = np.asarray(actions)
        # the kernel does no bounds checks, so a short array would read past its end
        if a.shape != (self.num_games,):
            raise ValueError(f"step: actions must have shape ({self.num_games},), one per game, got {a.shape}")
        if a.dtype != np.int64:
            if a.dtype != np.bool_ and not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"step: actions must be integers 0 or 1, got dtype {a.dtype}")
            a = a.astype(np.int64)
        if self._step_threads > 1 and _parallel_allowed():
            choice = self._choice
            if choice is None:
                step_games_parallel(self._S, self._C, self.L, a, autoreset, self._step_threads)
            else:
                threaded = choice.next_way()
                t0 = time.perf_counter()
                if threaded:
                    step_games_parallel(self._S, self._C, self.L, a, autoreset, self._step_threads)
                else:
                    step_games(self._S, self._C, self.L, a, autoreset)
                choice.record(threaded, time.perf_counter() - t0)
        else:
            step_games(self._S, self._C, self.L, a, autoreset)
        return self.obs

    def set_num_threads(self, num_threads: int | None) -> None:
        """Step the games on ``num_threads`` threads from now on (None: the default, numba's thread count while it
        is measured to be faster than one thread, :class:`ThreadChoice`).

        Every game plays the same whatever the count: each is stepped whole by one thread."""
        self.num_threads = check_num_threads(num_threads)
        self._choice = ThreadChoice() if num_threads is None else None
        self._threads_for_games()

    # -- what the game holds, by its own names ------------------------------------------------------
    @property
    def bobberBarPos(self) -> np.ndarray:  # noqa: N802 - the game's own name
        return self.F[:, R.F_BAR_POS]

    @property
    def bobberPosition(self) -> np.ndarray:  # noqa: N802
        return self.F[:, R.F_FISH_POS]

    @property
    def bobberBarSpeed(self) -> np.ndarray:  # noqa: N802
        return self.F[:, R.F_BAR_SPEED]

    @property
    def bobberBarHeight(self) -> np.ndarray:  # noqa: N802
        return self.I[:, R.I_HEIGHT]

    @property
    def distanceFromCatching(self) -> np.ndarray:  # noqa: N802
        return self.F[:, R.F_PROGRESS]

    def fish_of(self, g: int) -> Fish:
        """The fish game g is playing."""
        return self.pool_fish[int(self.I[g, R.I_FISH_INDEX])]

    def state_dict(self, g: int) -> dict:
        """Game g's raw values under the game's own names, plus what the episode is (the envs' info)."""
        rows = self._rows.get(g)
        if rows is None:
            rows = self._rows[g] = (self.F[g], self.I[g])
        (bar, fish, bar_speed, fish_speed, progress, tpos, tlevel) = _F_INFO(rows[0].tolist())
        (in_bar, pressed, perfect, status, tcaught, tick, episode) = _I_INFO(rows[1].tolist())
        static = self._static[g]
        if static is None or static[0] != episode:
            static = self._static[g] = (episode, self._episode_info(g))
        return {
            "bobberBarPos": bar,
            "bobberPosition": fish,
            "bobberBarSpeed": bar_speed,
            "bobberSpeed": fish_speed,
            "distanceFromCatching": progress,
            "bobberInBar": in_bar == 1,
            "buttonPressed": pressed == 1,
            "perfect": perfect == 1,
            "caught": status == R.CAUGHT,
            "escaped": status == R.ESCAPED,
            "treasurePosition": tpos,
            "treasureCatchLevel": tlevel,
            "treasureCaught": tcaught == 1,
            "tick": tick,
            **static[1],
        }

    def _episode_info(self, g: int) -> dict:
        fish = self.fish_of(g)
        return {
            "bobberBarHeight": int(self.I[g, R.I_HEIGHT]),
            "treasure": bool(self.I[g, R.I_TREASURE]),
            "fish": fish.name,
            "fish_id": fish.id,
            "difficulty": fish.difficulty,
            "motion_type": fish.behavior,
            "fishing_level": int(self.I[g, R.I_LEVEL]),
        }


_F_INFO = operator.itemgetter(R.F_BAR_POS, R.F_FISH_POS, R.F_BAR_SPEED, R.F_FISH_SPEED, R.F_PROGRESS, R.F_TREASURE_POS,
                              R.F_TREASURE_LEVEL)
_I_INFO = operator.itemgetter(R.I_IN_BAR, R.I_PRESSED, R.I_PERFECT, R.I_STATUS, R.I_TREASURE_CAUGHT, R.I_TICK,
                              R.I_EPISODE)
