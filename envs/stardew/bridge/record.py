"""Recording transitions: the seed mod's 8-column CSV and the project's per-episode JSONL.

:class:`RecordingWrapper` wraps any ``StardewFishing-v0`` (socket or simulator backend) and records
every transition, whatever chooses the actions: a trained policy, a scripted one, or a person
playing the live game while the mod runs in observe mode (``"Mode": "observe"``; the press
recorded is then the player's, because it is read from the game).

Both files are appended one whole episode at a time, flushed and fsync'ed when the episode ends
(terminated or truncated), so a crash or a lost connection loses at most the episode in flight.
With both files the JSONL line goes first and is the episode's record of what the CSV takes: its
``csv_start`` / ``csv_end`` are the CSV's size in bytes before and after the episode's rows. A kill at
any point (a machine that lost power included) leaves at worst an incomplete last JSONL line, or a
JSONL line whose rows did not all reach the CSV; the next recorder made on the two files finds that
tail and cuts it from both (with a warning naming the files and what was cut), so the two always hold
the same episodes. A CSV shorter than its JSONL says for an earlier episode is not the JSONL's pair:
the recorder refuses it rather than cut episodes already recorded.
An episode abandoned by ``reset()`` or ended by an exception is not written. A minigame the game
closed without a result (``info["closed"]``: the player cancelled it) is written up to its last real
state, with outcome ``closed``: the closing step repeats that state and is not a transition.

CSV (``csv_path``), exactly the seed mod's ``replayMemory.csv``: no header, one row per step::

    oldBarPos, oldFishPos, oldBarSpeed, newBarPos, newFishPos, newBarSpeed, reward, action

raw game values (px, px/tick); ``reward`` is the raw ``distanceFromCatching`` after the step (the
seed's reward, whatever reward the env is set to); ``action`` is 1/0, the press the game actually
applied in the step's last tick (``buttonPressed``), not the policy's wish (they differ when an
action arrived late, or when a person plays).

JSONL (``jsonl_path``): one JSON object per line, one line per episode::

    {"format": "stardew-rl-episode", "version": 1, "episode": 3, "backend": "socket",
     "fish": "Pufferfish", "fish_id": 128, "difficulty": 80, "motion_type": "floater",
     "fishing_level": 5, "bobberBarHeight": 136, "outcome": "caught", "perfect": false,
     "steps": 412, "return": 31.2, "late_steps": 0, "missed_ticks": 0, "csv_start": 0, "csv_end": 41020,
     "features": ["bar_center", ...], "obs0": [...],
     "columns": {"action": [...], "applied_press": [...], "reward": [...], "tick": [...],
                 "bobberBarPos": [...], "bobberPosition": [...], "bobberBarSpeed": [...],
                 "bobberSpeed": [...], "distanceFromCatching": [...], "bobberInBar": [...],
                 "treasurePosition": [...], "treasureCatchLevel": [...], "obs": [[...], ...]}}

Column ``k`` describes step ``k``: the policy's ``action``, then what the game reported after it.
``obs0`` is the observation ``reset()`` returned, ``columns.obs[k]`` the one after step ``k``.
``outcome`` is ``caught``, ``escaped``, ``truncated`` or ``closed``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.cli.paths import file_in_the_way
from envs.stardew import features as feats

COLUMNS = ("bobberBarPos", "bobberPosition", "bobberBarSpeed", "bobberSpeed", "distanceFromCatching",
           "bobberInBar", "treasurePosition", "treasureCatchLevel")
# the game fields of a CSV row's first seven columns (old state, new state, progress), checked before a row is kept
CSV_FIELDS = ("bobberBarPos", "bobberPosition", "bobberBarSpeed", "bobberBarPos", "bobberPosition", "bobberBarSpeed",
              "distanceFromCatching")
EPISODE_KEYS = ("fish", "fish_id", "difficulty", "motion_type", "fishing_level", "bobberBarHeight")


class EpisodeRecorder:
    """Buffers one episode's transitions and appends them to the CSV and/or JSONL at its end."""

    def __init__(self, csv_path: str | os.PathLike | None = None, jsonl_path: str | os.PathLike | None = None,
                 backend: str = "sim", features: tuple[str, ...] = ()):
        if csv_path is None and jsonl_path is None:
            raise ValueError("EpisodeRecorder: give csv_path, jsonl_path or both")
        self.csv_path = _output_path("csv_path", csv_path)
        self.jsonl_path = _output_path("jsonl_path", jsonl_path)
        if self.csv_path is not None and self.csv_path == self.jsonl_path:
            raise ValueError(f"csv_path and jsonl_path: both {csv_path!r}; the two formats need two files")
        self.backend = backend
        self.features = list(features)
        self.episodes_written = 0
        self.repaired = _repair(self.csv_path, self.jsonl_path)  # what an earlier recorder's kill left, cut
        self._info0: dict[str, Any] | None = None
        self._obs0: list[float] = []
        self._rows: list[tuple] = []
        self._cols: dict[str, list] = {}
        self._prev: dict[str, Any] | None = None

    @property
    def recording(self) -> bool:
        """Whether an episode is in progress (begun and not yet written)."""
        return self._prev is not None

    @property
    def in_flight(self) -> int:
        """Steps buffered for the episode in progress (lost if it never ends)."""
        return len(self._rows)

    def begin(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self.discard()
        self._info0 = dict(info)
        self._obs0 = np.asarray(obs, dtype=np.float64).tolist()
        self._prev = info

    def discard(self) -> None:
        self._info0 = None
        self._prev = None
        self._rows = []
        self._cols = {k: [] for k in ("action", "applied_press", "reward", "tick", "late", "missed_ticks", "obs",
                                      *COLUMNS)}

    def add(self, action: Any, obs: np.ndarray, reward: float, info: dict[str, Any]) -> None:
        if self._prev is None:
            raise RuntimeError("EpisodeRecorder.add() before begin()")
        old, new = self._prev, info
        applied = int(bool(new.get("buttonPressed", False)))
        row = (old["bobberBarPos"], old["bobberPosition"], old["bobberBarSpeed"], new["bobberBarPos"],
               new["bobberPosition"], new["bobberBarSpeed"], new["distanceFromCatching"], applied)
        for name, v in zip(CSV_FIELDS, row[:7], strict=True):
            why = feats.out_of_range(name, float(v))
            if why is not None:  # the CSV loader would refuse the whole file for this row
                self.discard()
                raise ValueError(f"recording: {why}; the episode in flight is not recorded (the episodes before it "
                                 "are intact)")
        self._rows.append(row)
        c = self._cols
        c["action"].append(int(action))
        c["applied_press"].append(applied)
        c["reward"].append(float(reward))
        c["tick"].append(int(new.get("tick", 0)))
        c["late"].append(bool(new.get("late", False)))
        c["missed_ticks"].append(int(new.get("missed_ticks", 0)))
        c["obs"].append(np.asarray(obs, dtype=np.float64).tolist())
        for k in COLUMNS:
            v = new.get(k, 0.0)
            c[k].append(v if isinstance(v, bool) else float(v))
        self._prev = new

    def end(self, outcome: str) -> None:
        """Write the buffered episode (outcome: caught, escaped, truncated or closed) and flush to disk."""
        if self._info0 is None:
            return
        last = self._prev or {}
        csv_text = jsonl_text = None
        if self.csv_path is not None:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            for row in self._rows:
                w.writerow([repr(float(x)) if i < 7 else x for i, x in enumerate(row)])
            csv_text = buf.getvalue()
        if self.jsonl_path is not None:
            rec: dict[str, Any] = {"format": "stardew-rl-episode", "version": 1, "episode": self.episodes_written,
                                   "backend": self.backend}
            for k in EPISODE_KEYS:
                v = self._info0.get(k)
                rec[k] = v.item() if isinstance(v, np.generic) else v
            rec.update(outcome=outcome, perfect=bool(last.get("perfect", False)) and outcome == "caught",
                       steps=len(self._rows), **{"return": float(sum(self._cols["reward"]))},
                       late_steps=int(sum(self._cols["late"])), missed_ticks=int(sum(self._cols["missed_ticks"])),
                       features=self.features, obs0=self._obs0, columns=self._cols)
            jsonl_text = json.dumps(rec, separators=(",", ":")) + "\n"
        # both files take the episode or neither does. The JSONL line, written first, says which CSV bytes the
        # episode's rows are; a kill before they all reach the CSV is found and cut by the next recorder (_repair)
        csv_data = None
        if csv_text is not None:
            assert self.csv_path is not None
            csv_start = self.csv_path.stat().st_size if self.csv_path.exists() else 0
            csv_data = (_needs_newline(self.csv_path) + csv_text).encode("utf-8")
            if jsonl_text is not None:
                rec.update(csv_start=csv_start, csv_end=csv_start + len(csv_data))
                jsonl_text = json.dumps(rec, separators=(",", ":")) + "\n"
        written: list[tuple[Path, int]] = []
        try:
            for path, data in ((self.jsonl_path, None if jsonl_text is None else jsonl_text.encode("utf-8")),
                               (self.csv_path, csv_data)):
                if path is not None and data is not None:
                    written.append((path, path.stat().st_size if path.exists() else 0))
                    _append(path, data)
        except OSError as e:
            for path, size in written:  # the failed file too: a write cut short may have left part of a line
                with contextlib.suppress(OSError), open(path, "r+b") as f:
                    f.truncate(size)
            raise OSError(f"{written[-1][0]}: the episode could not be written ({e}); it is in neither file, and "
                          "the episodes before it are intact in both") from e
        self.episodes_written += 1
        self.discard()


def _output_path(name: str, path: str | os.PathLike | None) -> Path | None:
    """A recording file's path, its folder made; a ValueError naming ``name`` when it cannot be one (a directory,
    an empty path, a folder that is a file), found when the recorder is made rather than at an episode's end."""
    if path is None:
        return None
    if not str(path):
        raise ValueError(f"{name}: an empty path")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a directory, not a file to append episodes to")
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise ValueError(f"{name}: {path}: {blocker} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _append(path: Path, data: bytes) -> None:
    """Append ``data`` in one write and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        view = memoryview(data)
        while view:  # one write() for a regular file, unless the disk fills up part way
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _needs_newline(path: Path) -> str:
    """A newline when ``path`` ends in a line without one (a CSV the game's mod wrote): the rows appended after
    it must start on a line of their own; else nothing."""
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return "" if f.read(1) == b"\n" else "\n"
    except OSError:  # no such file, or empty
        return ""


def _last_line(path: Path) -> tuple[int, bytes]:
    """(offset, bytes) of the last line of ``path`` (its newline included, if it has one); (size, b"") if empty."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        end = size
        if end and (f.seek(end - 1), f.read(1))[1] == b"\n":
            end -= 1  # the last line's own newline
        pos, chunk = end, 1 << 16
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            k = f.read(pos - start).rfind(b"\n")
            if k >= 0:
                start += k + 1
                break
            pos = start
        else:
            start = 0
        f.seek(start)
        return start, f.read(size - start)


class RecordingRepaired(UserWarning):
    """A recorder found what a kill left at the end of its files (part of an episode) and cut it."""


def _repair(csv_path: Path | None, jsonl_path: Path | None) -> list[str]:
    """Cut what a kill during an episode's write left at the end of the files, so that both hold the same
    episodes; return what was cut (each also warned as :class:`RecordingRepaired`). ValueError when the CSV is
    shorter than the JSONL says it was after its last episode: not a pair this recorder may append to."""
    done: list[str] = []
    if jsonl_path is None or not jsonl_path.exists() or jsonl_path.stat().st_size == 0:
        return done
    start, line = _last_line(jsonl_path)
    try:
        rec = json.loads(line) if line.endswith(b"\n") else None
    except ValueError:
        rec = None
    if rec is None or not isinstance(rec, dict):
        _truncate(jsonl_path, start)
        done.append(f"{jsonl_path}: cut an incomplete last line of {len(line)} bytes (an episode whose write was "
                    "cut short; it never reached the CSV)")
        if start == 0:
            return _warn(done)
        start, line = _last_line(jsonl_path)
        rec = json.loads(line)
    if csv_path is None or "csv_end" not in rec:
        return _warn(done)  # a JSONL-only recording, or one written before the files kept their sizes
    size = csv_path.stat().st_size if csv_path.exists() else 0
    csv_start, csv_end = int(rec["csv_start"]), int(rec["csv_end"])
    if size < csv_start:
        raise ValueError(f"{csv_path}: {size} bytes, but {jsonl_path}'s last episode says the CSV held {csv_start} "
                         "before it: the two files are not a pair this recorder may append to (name a new pair, "
                         "or the CSV that goes with this JSONL)")
    if size < csv_end:  # the episode's JSONL line went in, its CSV rows did not all follow
        _truncate(csv_path, csv_start)
        _truncate(jsonl_path, start)
        done.append(f"{csv_path}, {jsonl_path}: cut the last episode ({int(rec.get('steps', 0))} steps): only "
                    f"{size - csv_start} of its {csv_end - csv_start} CSV bytes were written")
    return _warn(done)


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())


def _warn(done: list[str]) -> list[str]:
    for text in done:
        warnings.warn(f"recording repaired: {text}", RecordingRepaired, stacklevel=4)
    return done


class RecordingWrapper(gym.Wrapper):
    """Records every transition of the wrapped env (see the module docstring for the formats)."""

    def __init__(self, env: gym.Env, csv_path: str | os.PathLike | None = None,
                 jsonl_path: str | os.PathLike | None = None):
        super().__init__(env)
        base = env.unwrapped
        self.recorder = EpisodeRecorder(csv_path, jsonl_path, backend=getattr(base, "backend", "sim"),
                                        features=tuple(getattr(base, "feature_names", ())))

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        # a reset the env refuses leaves its episode going, and so the recording of it
        obs, info = self.env.reset(**kwargs)
        self.recorder.begin(obs, info)  # drops the episode in flight, abandoned by this reset
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except BaseException:
            self.recorder.discard()  # the episode in flight is lost; completed ones are on disk
            raise
        if not self.recorder.recording:  # a step after the end: the env repeats its last step, already written
            return obs, reward, terminated, truncated, info
        if info.get("closed"):
            # no new state came, only "the minigame went away": a row here was a made-up self-loop with the
            # previous tick's press, which csv_transitions would learn from as a real transition
            self.recorder.end("closed")
            return obs, reward, terminated, truncated, info
        self.recorder.add(action, obs, reward, info)
        if terminated or truncated:
            outcome = "caught" if info.get("caught") else ("escaped" if info.get("escaped") else "truncated")
            self.recorder.end(outcome)
        return obs, reward, terminated, truncated, info
