"""Advice distilled back into the policy: advised episodes recorded as BC demonstrations.

:class:`AdviceRecorder` writes every episode the advised policy plays in the demo format of ``demos/``
(:mod:`agents.hybrid.demos`, ``source`` ``"advisor"``): its frames and the actions taken, the advice where it was
applied. The advisor's JSONL log names each query's demo episode and step (``demo_dir``, ``demo_episode``,
``demo_step``), so :func:`load_advice_demos` returns the episodes as imitation trajectories together with which
steps were advised: a log with its frames is a BC data set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.hybrid.demos import DemoWriter, episode_files, load_trajectories, read_episode


class AdviceRecorder:
    """A :class:`~agents.hybrid.demos.DemoWriter` for advised play; ``context()`` is what each query's log line
    carries to find its step again."""

    def __init__(self, directory: str | Path, header: Mapping[str, Any]):
        self.dir = Path(directory)
        self.writer = DemoWriter(self.dir, dict(header, source="advisor"))
        self.steps = 0
        self.advised: list[int] = []

    def context(self) -> dict[str, Any]:
        return {"demo_dir": str(self.dir), "demo_episode": self.writer.index, "demo_step": self.steps}

    def start(self, obs: np.ndarray) -> None:
        self.steps = 0
        self.advised = []
        self.writer.start(obs)

    def add(self, action: Mapping[str, Any], reward: float, next_obs: np.ndarray, advised: bool = False) -> None:
        if advised:
            self.advised.append(self.steps)
        self.writer.add(action, reward, next_obs)
        self.steps += 1

    def end(self, terminal: bool, **extra: Any) -> Path | None:
        return self.writer.end(terminal, advised_steps=self.advised, **extra)


def load_advice_demos(log_path: str | Path, layout: Any = None) -> tuple[list, list[np.ndarray]]:
    """(trajectories, advised) from an advisor log whose queries were recorded with :class:`AdviceRecorder`:
    imitation ``TrajectoryWithRew`` of every recorded episode (:func:`agents.hybrid.demos.load_trajectories`) and,
    for each, a bool mask of the steps whose action was the advisor's. ValueError naming the log and line when it
    has no recorded queries or names a folder without episodes."""
    dirs: list[str] = []
    with open(log_path) as f:
        for i, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{log_path}: line {i}: not JSON ({e.msg})") from None
            d = entry.get("demo_dir") if isinstance(entry, dict) else None
            if d and d not in dirs:
                dirs.append(d)
    if not dirs:
        raise ValueError(f"{log_path}: no query in it names a demo folder (record with AdviceRecorder)")
    trajs: list = []
    masks: list[np.ndarray] = []
    for d in dirs:
        trajs += load_trajectories(d, layout)
        for path in episode_files(d):
            header, arrays = read_episode(path)
            m = np.zeros(len(arrays["type"]), bool)
            m[[int(s) for s in header.get("advised_steps", []) if 0 <= int(s) < len(m)]] = True
            masks.append(m)
    return trajs, masks
