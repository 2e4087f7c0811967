"""Replay memory (n-step transitions from many games at once) and the seed mod's CSV logs."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np


class ReplayBuffer:
    """A ring buffer of (obs, action, n-step return, bootstrap obs, bootstrap discount)."""

    def __init__(self, capacity: int, obs_dim: int, seed: int = 0):
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.action = np.zeros(capacity, dtype=np.int64)
        self.ret = np.zeros(capacity, dtype=np.float32)
        self.disc = np.zeros(capacity, dtype=np.float32)  # gamma^m, or 0 after a terminal state
        self.demo = np.zeros(capacity, dtype=bool)  # the action came from a demonstrator
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def add(self, obs, action, ret, next_obs, disc, demo=False) -> None:
        n = len(action)
        idx = (self.pos + np.arange(n)) % self.capacity
        self.obs[idx], self.action[idx], self.ret[idx] = obs, action, ret
        self.next_obs[idx], self.disc[idx], self.demo[idx] = next_obs, disc, demo
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch: int):
        i = self.rng.integers(0, self.size, batch)
        return self.obs[i], self.action[i], self.ret[i], self.next_obs[i], self.disc[i], self.demo[i]

    def state(self) -> dict:
        return {k: getattr(self, k) for k in ("obs", "next_obs", "action", "ret", "disc", "demo", "pos", "size")}

    def load_state(self, st: dict) -> None:
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                getattr(self, k)[: len(v)] = v
            else:
                setattr(self, k, int(v))


class NStepCollector:
    """Turns per-step rewards of N games into n-step transitions, one vector step at a time.

    ``push`` takes what one env step of all games produced; once n steps are held it returns the
    transitions that start n steps back: return sum_k gamma^k r, the observation to bootstrap from
    (the last state before the episode ended, if it did) and its discount (0 if it terminated).
    """

    def __init__(self, n: int, gamma: float):
        self.n, self.gamma = n, gamma
        self.steps: list[tuple] = []

    def push(self, obs, action, reward, next_obs, terminated, ended):
        self.steps.append((obs, action, reward, next_obs, terminated, ended))
        if len(self.steps) < self.n:
            return None
        obs0, a0 = self.steps[0][0], self.steps[0][1]
        g = np.zeros(len(a0), dtype=np.float64)
        alive = np.ones(len(a0), dtype=bool)
        disc = np.zeros(len(a0), dtype=np.float64)
        boot = np.array(self.steps[-1][3], copy=True)
        for k, (_, _, r, nobs, term, end) in enumerate(self.steps):
            g += np.where(alive, self.gamma**k * r, 0.0)
            stop = alive & end
            boot[stop] = nobs[stop]
            disc[stop] = np.where(term[stop], 0.0, self.gamma ** (k + 1))
            alive &= ~end
        disc[alive] = self.gamma**self.n
        self.steps.pop(0)
        return obs0, a0, g, boot, disc


CSV_COLUMNS = ("oldBarPos", "oldFishPos", "oldBarSpeed", "newBarPos", "newFishPos", "newBarSpeed", "reward",
               "action")


# a number as the mod writes it (C#'s round-trip format: 12, -0.5, 1E-05); Python's float() would also take
# '1_0', ' inf' or 'nan', which no log holds
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _game_ranges() -> dict[str, tuple[float, float]]:
    """The range of each position and speed column, and of the reward (distanceFromCatching): the game's physical
    ranges, from the one table the bridge client checks states against too."""
    from envs.stardew.features import STATE_RANGES

    fields = ("bobberBarPos", "bobberPosition", "bobberBarSpeed")
    bounds = {c: STATE_RANGES[f] for c, f in zip(CSV_COLUMNS[:3], fields, strict=True)}
    return {**bounds, **{new: bounds[old] for old, new in zip(CSV_COLUMNS[:3], CSV_COLUMNS[3:6], strict=True)},
            "reward": STATE_RANGES["distanceFromCatching"]}


class CSVFormatError(ValueError):
    """A malformed row of a seed-mod CSV log (message: file and line number)."""


def _count_lines(path: Path) -> int:
    """Lines in ``path`` (newlines, plus a last line without one), read in 1 MiB blocks."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def load_seed_csv(path: str | Path) -> np.ndarray:
    """The seed mod's ``replayMemory.csv`` (no header, 8 columns: old bar position, old fish position,
    old bar speed, new bar position, new fish position, new bar speed, reward, action) as an (n, 8)
    float64 array. Every row must be well formed: a bad row raises :class:`CSVFormatError` naming
    the file and its line in the file; blank lines are the only lines skipped (a trailing newline is
    common). UTF-8 text, with or without a byte-order mark.

    The file is streamed a line at a time into an array sized by a first pass that counts its lines, so
    the memory it takes beyond the rows it returns (64 bytes each) does not grow with the file. Measured on
    a 2-core machine (``/usr/bin/time -v``, peak resident set), a 100 MB file of 1.84 million rows: 234 MB, of
    which the rows are 118 MB and the interpreter with numpy and numba most of the rest; reading the text whole
    and parsing it into lists of Python floats first took 1,531 MB.
    """
    path = Path(path)
    out = np.empty((_count_lines(path), 8), dtype=np.float64)
    ranges = _game_ranges()
    progress_lo, progress_hi = ranges.pop("reward")
    n = 0
    with open(path, "rb") as f:
        reader = csv.reader(_utf8_lines(path, f), strict=True)  # strict: an unclosed quote is an error
        line_no = 1  # the file line the next row starts on
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise CSVFormatError(f"{path}:{line_no}: {e}") from e
            first, line_no = line_no, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if reader.line_num != first:
                raise CSVFormatError(f"{path}:{first}: the row runs on to line {reader.line_num} (a quoted line "
                                     "break); each row must be one line")
            if len(row) != 8:
                raise CSVFormatError(f"{path}:{first}: expected 8 columns {CSV_COLUMNS}, got {len(row)}")
            vals = out[n]
            for k, (col, cell) in enumerate(zip(CSV_COLUMNS, row, strict=True)):
                cell = cell.strip()
                if not cell:
                    raise CSVFormatError(f"{path}:{first}: {col} is empty")
                if not _NUMBER.fullmatch(cell):
                    if cell.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                        raise CSVFormatError(f"{path}:{first}: non-finite value {cell!r} in {col}")
                    raise CSVFormatError(f"{path}:{first}: {col} is not a number: {row[k]!r}")
                v = float(cell)
                if not math.isfinite(v):  # 1e999
                    raise CSVFormatError(f"{path}:{first}: non-finite value in {row}")
                rng = ranges.get(col)
                if rng is not None and not rng[0] <= v <= rng[1]:
                    raise CSVFormatError(f"{path}:{first}: {col} {v:g} is outside the game's range "
                                         f"[{rng[0]:g}, {rng[1]:g}] (columns in another order?)")
                vals[k] = v
            if vals[7] not in (0.0, 1.0):
                raise CSVFormatError(f"{path}:{first}: action must be 0 or 1, got {row[7]}")
            if not progress_lo <= vals[6] <= progress_hi:
                raise CSVFormatError(f"{path}:{first}: reward (distanceFromCatching) outside [0, 1]: {row[6]}")
            n += 1
    if not n:
        raise CSVFormatError(f"{path}: no rows")
    return out[:n].copy() if n < len(out) else out


def _utf8_lines(path: Path, f) -> Iterator[str]:
    """The lines of the binary file ``f`` as text (a leading byte-order mark dropped); CSVFormatError naming the
    line, byte and offset of bytes that are not UTF-8."""
    offset = 0
    for line_no, raw in enumerate(f, 1):
        body = raw[3:] if line_no == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
        try:
            yield body.decode("utf-8")
        except UnicodeDecodeError as e:
            at = offset + len(raw) - len(body) + e.start
            raise CSVFormatError(f"{path}:{line_no}: not UTF-8 text (byte 0x{body[e.start]:02x} at offset "
                                 f"{at})") from e
        offset += len(raw)


def csv_transitions(rows: np.ndarray, gamma: float, reward_weights: Mapping[str, float] | None = None):
    """Seed CSV rows -> 1-step transitions for the seed-feature buffer, and how many rows gave one.

    Row t holds (s_{t-1}, s_t, progress_t, a_{t-1}). The transition s_{t-1} -> s_t gets the simulator's
    shaped reward: ``progress`` weight x the change of progress, taken from consecutive rows that chain
    (row t's old state is row t-1's new state), plus the ``catch`` weight when progress reaches 1 or minus
    the ``escape`` weight when it reaches 0; such a row ends its minigame, so its transition is terminal
    (discount 0) and the next row starts a new chain. (The perfect-catch bonus is left out: the CSV
    does not show whether the fish left the bar.) A row that starts a chain (the first row, a new
    minigame, a gap in the log) has no known previous progress and gives no transition.

    Returns ``(obs, action, reward, next_obs, discount), counts`` with counts ``rows``, ``used`` (rows
    that gave a transition), ``dropped`` (rows that started a chain) and ``episode_ends`` (terminal ones).
    """
    w = {"progress": 100.0, "catch": 10.0, "escape": 10.0, **(reward_weights or {})}
    caught, escaped = rows[:, 6] >= 1.0, rows[:, 6] <= 0.0
    chained = np.all(np.isclose(rows[1:, 0:3], rows[:-1, 3:6]), axis=1) & ~(caught | escaped)[:-1]
    cur, prev = rows[1:][chained], rows[:-1][chained]
    won, lost = caught[1:][chained], escaped[1:][chained]
    obs = cur[:, 0:3].astype(np.float32)
    nobs = cur[:, 3:6].astype(np.float32)
    rew = w["progress"] * (cur[:, 6] - prev[:, 6]) + w["catch"] * won - w["escape"] * lost
    act = cur[:, 7].astype(np.int64)
    disc = np.where(won | lost, 0.0, gamma).astype(np.float32)
    used = int(chained.sum())
    counts = {"rows": len(rows), "used": used, "dropped": len(rows) - used, "episode_ends": int((won | lost).sum())}
    return (obs, act, rew.astype(np.float32), nobs, disc), counts
