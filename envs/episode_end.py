"""What a step after the end of an episode returns, shared by the envs that play one minigame per episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class EpisodeEnd:
    """The last step of an ended episode, replayed by steps that come before the next ``reset()``.

    As CartPole does: the game is over, so nothing moves and nothing more is earned. The first such step
    warns; each returns the last observation, reward 0, the same flags and a copy of the last info.
    """

    def __init__(self) -> None:
        self.last: tuple[np.ndarray, bool, bool, dict] | None = None
        self._warned = False

    @property
    def ended(self) -> bool:
        return self.last is not None

    def record(self, obs: np.ndarray, terminated: bool, truncated: bool, info: dict) -> None:
        """Remember the step's outcome if it ended the episode."""
        if terminated or truncated:
            self.last = (obs, terminated, truncated, info)

    def clear(self) -> None:
        """A new episode began."""
        self.last = None

    def step(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The result of a step taken after the end."""
        if not self._warned:
            gym.logger.warn("step() called after the episode ended (terminated or truncated); call reset() first. "
                            "Further steps return the last observation and reward 0.")
            self._warned = True
        obs, terminated, truncated, info = self.last
        return obs.copy(), 0.0, terminated, truncated, dict(info)
