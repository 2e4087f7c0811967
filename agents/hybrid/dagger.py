"""DAgger for the pixel policy: imitation's ``SimpleDAggerTrainer`` with the state teacher as its expert.

The learner is the project's hybrid pixel policy (:class:`~agents.hybrid.policy.HybridActorCriticPolicy`, trained
by imitation's ``BC`` as ``python -m agents.hybrid.train bc`` trains it). Each round, imitation's
``InteractiveTrajectoryCollector`` steps a vector of FishingPixels-v0 envs with the teacher's action (probability
``beta``, from the round's beta schedule) or the learner's, and every visited state is labelled with the teacher's
action; BC then trains on all the labelled states of every round so far.

How the expert sees the game: :class:`~agents.hybrid.teacher.TeacherPolicy` holds the very env objects of the
vector the collector steps (``DummyVecEnv.envs``) and reads each one's game state there, so the label of row i is
the teacher's decision in env i at the state its frame shows; the pixel observation carries no state and the
learner never sees it.

Two things differ from imitation's own storage, both because the observations are frame stacks (4 x 84 x 84 x 3
bytes each): each finished episode is written in the project's demo format (:mod:`agents.hybrid.demos`: one
compressed ``.npz``, the newest frame of each step, ``"source": "teacher"``), not as a HuggingFace dataset (which
reads 84 KB observations back as int64 nested lists, ~6 s an episode), and BC reads them through
:class:`FrameStackDataset`, which rebuilds each stack from the stored frames when a batch is drawn (a quarter of
the memory of stacked observations). The rounds' episodes are kept under ``<scratch_dir>/demos/round-NNN/env-I/``
and load with :func:`~agents.hybrid.demos.load_trajectories` like any demo set.

BC's batches are runs of ``chunk`` consecutive labelled steps (:class:`ChunkBatchSampler`), so the CNN computes
each frame of a batch once, not once per stack holding it (:func:`~agents.hybrid.policy.shared_frames`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from imitation.algorithms.dagger import (
    InteractiveTrajectoryCollector,
    NeedsDemosException,
    SimpleDAggerTrainer,
)
from torch.utils.data import DataLoader, Dataset, Sampler

from agents.hybrid.demos import DemoWriter, episode_files, read_episode
from agents.hybrid.layout import HybridLayout


class FrameStackDataset(Dataset):
    """Labelled frame-stack observations kept as frames: item i is ``{"obs": (depth, *frame), "acts": (D,)}``.

    ``add(frames, acts)`` appends an episode: ``frames`` (N+1, *frame) the newest frame of each observation (the
    demo format's), ``acts`` (N, D) the labels of the first N observations."""

    def __init__(self, depth: int):
        self.depth = depth
        self._frames: list[np.ndarray] = []
        self._index: list[np.ndarray] = []
        self._acts: list[np.ndarray] = []
        self._n_frames = 0
        self.frames = np.zeros((0,), np.uint8)
        self.index = np.zeros((0, depth), np.int64)
        self.acts = np.zeros((0, 0), np.float32)

    def add(self, frames: np.ndarray, acts: np.ndarray) -> None:
        """Append one episode: ``frames`` (N+1, *frame), ``acts`` (N, D); a length mismatch is a ValueError."""
        if len(frames) != len(acts) + 1:
            raise ValueError(f"FrameStackDataset.add: {len(frames)} frames for {len(acts)} actions (need one more "
                             "frame than actions)")
        idx = np.arange(len(acts))[:, None] + np.arange(-self.depth + 1, 1)[None, :]
        self._index.append(np.clip(idx, 0, None) + self._n_frames)
        self._frames.append(np.asarray(frames, np.uint8))
        self._acts.append(np.asarray(acts, np.float32))
        self._n_frames += len(frames)

    def freeze(self) -> None:
        """Join the episodes added so far into single arrays (called before a round's training)."""
        if self._frames:
            self.frames = np.concatenate(self._frames)
            self.index = np.concatenate(self._index)
            self.acts = np.concatenate(self._acts)
            self._frames, self._index, self._acts = [self.frames], [self.index], [self.acts]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {"obs": self.frames[self.index[i]], "acts": self.acts[i]}


class ChunkBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size`` dataset indices made of runs of ``chunk`` consecutive indices, the runs in a new
    random order each pass (``generator``); the last incomplete batch of a pass is dropped. Consecutive items of a
    :class:`FrameStackDataset` are consecutive steps of an episode: their stacks share all frames but one."""

    def __init__(self, n: int, batch_size: int, chunk: int, generator: th.Generator):
        if n < batch_size:
            raise ValueError(f"ChunkBatchSampler: {n} items, fewer than one batch of {batch_size}")
        if chunk < 1:
            raise ValueError(f"ChunkBatchSampler: chunk must be >= 1, got {chunk}")
        self.n, self.batch_size, self.chunk, self.generator = n, batch_size, chunk, generator

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self):
        starts = th.arange(0, self.n, self.chunk)[th.randperm((self.n + self.chunk - 1) // self.chunk,
                                                               generator=self.generator)]
        order = (starts[:, None] + th.arange(self.chunk)[None, :]).reshape(-1)
        order = order[order < self.n]
        for b in range(len(self)):
            yield order[b * self.batch_size:(b + 1) * self.batch_size].tolist()


def chunk_loader(data: Dataset, batch_size: int, chunk: int, generator: th.Generator) -> DataLoader:
    """A DataLoader of :class:`ChunkBatchSampler` batches; ``chunk=1`` is imitation's usual loader,
    ``DataLoader(data, batch_size, shuffle=True, drop_last=True, generator=generator)``, batch for batch."""
    if chunk == 1:
        return DataLoader(data, batch_size, shuffle=True, drop_last=True, generator=generator)
    return DataLoader(data, batch_sampler=ChunkBatchSampler(len(data), batch_size, chunk, generator),
                      generator=generator)


class FrameDemoCollector(InteractiveTrajectoryCollector):
    """imitation's DAgger collector (the teacher's action with probability ``beta``, else the learner's; every
    step labelled with the teacher's), writing each finished episode of env i with a
    :class:`~agents.hybrid.demos.DemoWriter` under ``save_dir/env-i``. ``header`` is the demo header (``layout``,
    ``frame_stack``, ``source``...); ``layout`` turns the Box labels into the env's Dict actions."""

    def __init__(self, *args: Any, header: Mapping[str, Any], layout: HybridLayout, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.layout = layout
        self.writers = [DemoWriter(Path(self.save_dir) / f"env-{i}", header) for i in range(self.num_envs)]
        self.steps = 0  # env steps taken (each env's step counts one)

    def reset(self) -> np.ndarray:
        """Reset the vector; each env's writer starts an episode at its first observation."""
        obs = self.venv.reset()
        for w, ob in zip(self.writers, obs, strict=True):
            w.start(ob)
        self._last_obs = obs
        self._is_reset = True
        self._last_user_actions = None
        return obs

    def step_wait(self) -> Any:
        """Step the vector; each env's step is recorded with the teacher's label, and a finished episode is written
        (its outcome from the env's ``info``: caught / escaped / truncated)."""
        next_obs, rews, dones, infos = self.venv.step_wait()
        assert self._last_user_actions is not None
        self.steps += self.num_envs
        self._last_obs = next_obs
        for i, w in enumerate(self.writers):
            info = infos[i]
            final = info["terminal_observation"] if dones[i] else next_obs[i]
            w.add(self.layout.to_dict(self._last_user_actions[i]), float(rews[i]), final)
            if dones[i]:
                truncated = bool(info.get("TimeLimit.truncated", False))
                outcome = ("caught" if info.get("caught") else "escaped" if info.get("escaped") else "truncated")
                w.end(terminal=not truncated, outcome=outcome)
                w.start(next_obs[i])
        return next_obs, rews, dones, infos


class FrameDAggerTrainer(SimpleDAggerTrainer):
    """imitation's ``SimpleDAggerTrainer`` whose rounds are stored in the project's demo format.

    Extra keyword arguments: ``header`` (the demo header of the rounds' episodes), ``layout`` (the learner's Box
    layout), ``depth`` (the frame stack), ``initial`` (a list of ``(frames, acts)`` episodes, e.g. the shipped
    teacher demonstrations, trained on from round 0), ``chunk`` (BC's batches: runs of this many consecutive
    steps, :class:`ChunkBatchSampler`; 1 draws single steps). Everything else is imitation's: the beta schedule, the
    collector's mixing of the teacher's and the learner's actions, ``extend_and_update`` (BC on all rounds)."""

    def __init__(self, *, header: Mapping[str, Any], layout: HybridLayout, depth: int,
                 initial: Sequence[tuple[np.ndarray, np.ndarray]] = (), chunk: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.chunk = chunk
        self.header = dict(header)
        self.layout = layout
        self.data = FrameStackDataset(depth)
        for frames, acts in initial:
            self.data.add(frames, acts)
        self.initial_steps = sum(len(i) for i in self.data._index)

    def create_trajectory_collector(self) -> FrameDemoCollector:
        beta = self.beta_schedule(self.round_num)
        header = dict(self.header, dagger_round=self.round_num, beta=round(float(beta), 4))
        return FrameDemoCollector(venv=self.venv, get_robot_acts=lambda obs: self.bc_trainer.policy.predict(obs)[0],
                                  beta=beta, save_dir=self._demo_dir_path_for_round(), rng=self.rng,
                                  header=header, layout=self.layout)

    def _get_demo_paths(self, round_dir: Path) -> list[Path]:
        return episode_files(round_dir) if Path(round_dir).is_dir() else []

    def _try_load_demos(self) -> None:
        demo_dir = self._demo_dir_path_for_round()
        if not self._get_demo_paths(demo_dir):
            raise NeedsDemosException(f"No demos found for round {self.round_num} in dir '{demo_dir}'")
        if self._last_loaded_round < self.round_num:
            for r in range(self._last_loaded_round + 1, self.round_num + 1):
                for path in self._get_demo_paths(self._demo_dir_path_for_round(r)):
                    _, a = read_episode(path)
                    if "actions" in a:
                        acts = a["actions"].astype(np.float32)
                    else:
                        acts = np.stack([self.layout.to_box({"type": int(t), "pointer": p, "drag_end": d, "keys": k})
                                         for t, p, d, k in zip(a["type"], a["pointer"], a["drag_end"], a["keys"],
                                                               strict=True)])
                    self.data.add(a["frames"], acts)
            self.data.freeze()
            if len(self.data) < self.batch_size:
                raise ValueError(f"DAgger: {len(self.data)} labelled steps, fewer than one batch of "
                                 f"{self.batch_size}")
            generator = th.Generator().manual_seed(int(self.rng.integers(2**31)))
            self.bc_trainer.set_demonstrations(chunk_loader(self.data, self.batch_size, self.chunk, generator))
            self._last_loaded_round = self.round_num


def episodes_of(directory: str | Path, layout: HybridLayout) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(frames, Box actions)`` of every episode of a demo set (checked by
    :func:`~agents.hybrid.demos.load_trajectories`): DAgger's initial data."""
    from agents.hybrid.demos import load_trajectories

    out = []
    for t in load_trajectories(directory, layout):
        out.append((np.asarray(t.obs[:, -1]), np.asarray(t.acts, np.float32)))
    return out


__all__ = ["ChunkBatchSampler", "FrameDAggerTrainer", "chunk_loader", "FrameDemoCollector", "FrameStackDataset", "episodes_of"]
