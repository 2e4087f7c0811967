"""Demonstrations on disk: one compressed ``.npz`` per episode, a JSON header inside, no pickle anywhere.

Format ``stardew-rl/demos`` version 1 (``demos/<set>/episode_00000.npz``), arrays:

============  ======================  ==========================================================================
key           shape, dtype            meaning
============  ======================  ==========================================================================
``header``    (), str                 JSON: format, version, source ("human" | "scripted"), controller, env id and
                                      options, ``action_spec`` (the seed-style dict), ``type_names``, ``keys``,
                                      ``layout`` (HybridLayout JSON), preprocessing, ``ticks_per_step``, seed,
                                      ``terminal``, ``outcome``, ``steps``, ``created`` (UTC)
``frames``    (N+1, 84, 84[, 3]) u8   the newest preprocessed frame of the observation before each step, and of
                                      the one after the final step; observation i is the stack of frames
                                      ``max(0, i-3) .. i``, the first frame repeated while there are fewer than
                                      ``frame_stack`` (exactly :class:`~envs.screen.preprocess.FrameStack`)
``type``      (N,) int16              action type index (``type_names``), ``0`` = none: no-op steps are recorded
``pointer``   (N, 2) float32          pointer in [-1, 1] relative to the region
``drag_end``  (N, 2) float32          drag end in [-1, 1]
``keys``      (N, K) int8             keys held during the step
``rewards``   (N,) float32            env reward of the step
============  ======================  ==========================================================================

Every file is written whole when its episode ends (``np.savez_compressed`` to a temporary name, then renamed), so
an interrupted recording loses at most the episode in progress. ``load_trajectories`` turns a set into imitation's
``Trajectory`` objects (actions in the hybrid Box layout) with ``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.hybrid.layout import HybridLayout

FORMAT = "stardew-rl/demos"
VERSION = 1


class DemoWriter:
    """Collects one episode at a time and writes it when it ends."""

    def __init__(self, directory: str | Path, header: Mapping[str, Any]):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.header = dict(header)
        self.n_keys = len(self.header.get("keys", ())) or 1
        existing = sorted(self.dir.glob("episode_*.npz"))
        self.index = int(existing[-1].stem.split("_")[1]) + 1 if existing else 0
        self._clear()

    def _clear(self) -> None:
        self.obs: list[np.ndarray] = []
        self.acts: list[Mapping[str, Any]] = []
        self.rewards: list[float] = []

    def start(self, obs: np.ndarray) -> None:
        """The first observation (a frame stack); only its newest frame is kept."""
        self._clear()
        self.obs.append(np.asarray(obs, np.uint8)[-1])

    def add(self, action: Mapping[str, Any], reward: float, next_obs: np.ndarray) -> None:
        self.acts.append(action)
        self.rewards.append(float(reward))
        self.obs.append(np.asarray(next_obs, np.uint8)[-1])

    def end(self, terminal: bool, **extra: Any) -> Path | None:
        """Write the episode (if it has a step); returns its path."""
        if not self.acts:
            return None
        n = len(self.acts)
        header = dict(self.header, format=FORMAT, version=VERSION, terminal=bool(terminal), steps=n,
                      created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra)
        arrays = {
            "header": np.array(json.dumps(header)),
            "frames": np.stack(self.obs),
            "type": np.array([int(np.asarray(a["type"]).reshape(())) for a in self.acts], np.int16),
            "pointer": np.stack([np.asarray(a["pointer"], np.float32).reshape(2) for a in self.acts]),
            "drag_end": np.stack([np.asarray(a["drag_end"], np.float32).reshape(2) for a in self.acts]),
            "keys": np.stack([np.asarray(a["keys"], np.int8).reshape(-1) for a in self.acts]),
            "rewards": np.array(self.rewards, np.float32),
        }
        path = self.dir / f"episode_{self.index:05d}.npz"
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        self.index += 1
        self._clear()
        return path


def read_episode(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """-> (header, arrays) of one episode file; refuses other formats and newer versions."""
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
        if header.get("format") != FORMAT or int(header.get("version", 0)) > VERSION:
            raise ValueError(f"{path}: not a {FORMAT} v<={VERSION} file: {header.get('format')} "
                             f"v{header.get('version')}")
        arrays = {k: z[k] for k in z.files if k != "header"}
    return header, arrays


def stack_frames(frames: np.ndarray, depth: int) -> np.ndarray:
    """(N+1, *frame) newest frames -> (N+1, depth, *frame) observations, FrameStack's semantics."""
    idx = np.arange(len(frames))[:, None] + np.arange(-depth + 1, 1)[None, :]
    return frames[np.clip(idx, 0, None)]


def episode_files(directory: str | Path) -> list[Path]:
    return sorted(p for p in Path(directory).rglob("episode_*.npz") if ".tmp" not in p.name)


def load_trajectories(directory: str | Path, layout: HybridLayout | None = None) -> list:
    """All episodes under ``directory`` as imitation ``TrajectoryWithRew`` (actions in the hybrid Box layout)."""
    from imitation.data.types import TrajectoryWithRew

    trajs = []
    for path in episode_files(directory):
        header, a = read_episode(path)
        lay = layout or HybridLayout.from_json(header["layout"])
        acts = np.stack([lay.to_box({"type": int(t), "pointer": p, "drag_end": d, "keys": k})
                         for t, p, d, k in zip(a["type"], a["pointer"], a["drag_end"], a["keys"], strict=True)])
        obs = stack_frames(a["frames"], int(header.get("frame_stack", 4)))
        trajs.append(TrajectoryWithRew(obs=obs, acts=acts, infos=None, terminal=bool(header["terminal"]),
                                       rews=a["rewards"].astype(np.float32)))
    return trajs


def summarize(directory: str | Path) -> dict[str, Any]:
    """Episodes, steps, catch rate and sources of a demo set."""
    eps, steps, caught, sources = 0, 0, 0, set()
    for path in episode_files(directory):
        h, _ = read_episode(path)
        eps += 1
        steps += int(h["steps"])
        caught += int(h.get("outcome") == "caught")
        sources.add(h.get("source"))
    return {"episodes": eps, "steps": steps, "catch_rate": caught / eps if eps else float("nan"),
            "sources": sorted(s for s in sources if s)}
