"""Recording transitions: the seed mod's 8-column CSV and the project's per-episode JSONL.

:class:`RecordingWrapper` wraps any ``StardewFishing-v0`` (socket or simulator backend) and records
every transition, whatever chooses the actions: a trained policy, a scripted one, or a person
playing the live game while the mod runs in observe mode (``"Mode": "observe"``; the press
recorded is then the player's, because it is read from the game).

Both files are appended one whole episode at a time, flushed and fsync'ed when the episode ends
(terminated or truncated), so a crash or a lost connection loses at most the episode in flight.
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
     "steps": 412, "return": 31.2, "late_steps": 0, "missed_ticks": 0,
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
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.paths import file_in_the_way
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
        # both files take the episode or neither does: a CSV row set whose JSONL line failed is cut off again,
        # so that the two files always hold the same episodes
        written: list[tuple[Path, int]] = []
        try:
            for path, text in ((self.csv_path, csv_text), (self.jsonl_path, jsonl_text)):
                if path is not None:
                    written.append((path, path.stat().st_size if path.exists() else 0))
                    _append(path, text)
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


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


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
