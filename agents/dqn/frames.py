"""Frame stacking for N games (numpy only: used by training, evaluation and the ONNX policy)."""

from __future__ import annotations

import numpy as np


class FrameStack:
    """The last ``k`` observations of N games side by side, newest first: (N, k*K).

    ``push(obs, new_episode)`` appends this tick's observations; a game starting a new episode has
    its history filled with its first observation.
    """

    def __init__(self, k: int):
        self.k = k
        self.hist: np.ndarray | None = None

    def reset(self) -> None:
        self.hist = None

    def push(self, obs: np.ndarray, new_episode: np.ndarray | None = None) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if self.k == 1:
            return obs.copy()
        if self.hist is None or self.hist.shape[0] != obs.shape[0]:
            self.hist = np.repeat(obs[:, None, :], self.k, axis=1)
        else:
            self.hist = np.concatenate([obs[:, None, :], self.hist[:, :-1]], axis=1)
            if new_episode is not None and new_episode.any():
                self.hist[new_episode] = obs[new_episode][:, None, :]
        return self.hist.reshape(obs.shape[0], -1).copy()

    def peek(self, obs: np.ndarray) -> np.ndarray:
        """What ``push(obs)`` would return, without changing the history (for final observations)."""
        obs = np.asarray(obs, dtype=np.float32)
        if self.k == 1:
            return obs.copy()
        h = np.concatenate([obs[:, None, :], self.hist[:, :-1]], axis=1)
        return h.reshape(obs.shape[0], -1)
