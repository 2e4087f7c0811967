"""Platform-v0 (PyPI ``hybrid-platform``) for the hybrid agent: the goal reported, the parameters on one scale.

The Platform domain (Masson, Ranchod and Konidaris, 2016) is the standard benchmark of parameterized actions: a
runner crosses three platforms, jumping two gaps and two enemies that pace the first two platforms. Each step
picks one of three actions and its one continuous parameter; the env then simulates until the action is over
(a run lasts 20 frames of 0.05 s, a hop or leap until the runner lands again).

Importing this module registers ``PlatformHybrid-v0``: Platform-v0's own env (``gym_platform.envs.PlatformEnv``,
imported from the package) in two wrappers, nothing of its dynamics changed:

==========================  ==========================================================================================
wrapper                     what it does
==========================  ==========================================================================================
:class:`PlatformGoal`       ``info["is_success"]`` on the last step: True when the runner reached the right end of the
                            third platform (the success rate of the published tables); the reward is the env's own
:class:`ScaledParameters`   each action's parameter in ``[-1, 1]`` instead of its own range (run ``[0, 30]``,
                            hop ``[0, 720]``, leap ``[0, 430]``), mapped linearly back before the env sees it
==========================  ==========================================================================================

Why the scaling: the hybrid policy's parameters are Gaussians whose means start near 0 with a standard deviation of
``exp(log_std_init)``; in the env's own units (hundreds) a leap would start at 0 with a spread of 1 and never
explore. On ``[-1, 1]`` the same initial distribution covers the whole range, as SB3 recommends for any Box action.
A policy trained on ``PlatformHybrid-v0`` acts in Platform-v0's own space through
:func:`agents.hybrid.native.load_policy` (it undoes the scaling).

==========================  ==========================================================================================
Platform-v0                 (gym_platform 0.1.0, read from its source)
==========================  ==========================================================================================
observation                 ``Tuple(Box(0, 1, (9,)), Discrete(200))``: runner x and speed, the nearer enemy's x and
                            speed, the current platform's width, the next one's, the gap, the platform's x, its height
                            (scaled), and the number of simulation frames the last action took
action                      ``Tuple(Discrete(3), Tuple(Box(0, 30), Box(0, 720), Box(0, 430)))``: run (power),
                            hop (distance), leap (distance); only the chosen action's parameter is read
reward                      the distance moved this step over the course's length (1,035); summed over an episode:
                            the fraction of the course crossed, exactly 1.0 when the goal is reached
termination                 the goal reached, an enemy touched, or a fall into a gap; truncation at 200 steps
speed                       about 200 steps/s on one loaded core of a 2-core machine (a Python loop of simulation
                            frames per step)
==========================  ==========================================================================================
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "PlatformHybrid-v0"
# the runner's goal: Platform-v0 ends an episode there with the rest of the course as its last reward
MAX_EPISODE_STEPS = 200  # Platform-v0's own limit


class PlatformGoal(gym.Wrapper):
    """Adds ``info["is_success"]`` to every step: whether the runner stands at (or past) the course's right end.

    Platform-v0 reports nothing in ``info``; its success is the episode's return of 1.0, which a float sum reaches
    only up to rounding, so the position is read from the env itself (``player.position``, ``_right_bound()``)."""

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        base = self.env.unwrapped
        info = dict(info, is_success=bool(base.player.position[0] >= base._right_bound()))
        return obs, reward, terminated, truncated, info


class ScaledParameters(gym.ActionWrapper):
    """A parameterized action ``Tuple(Discrete(n), Tuple(Box, ...))`` with every Box on ``[-1, 1]``.

    An action's parameters are clipped to ``[-1, 1]`` and mapped linearly onto the env's own bounds;
    :meth:`action` is that map, :meth:`reverse_action` its inverse."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        sp = env.action_space
        ok = (isinstance(sp, spaces.Tuple) and len(sp.spaces) == 2 and isinstance(sp.spaces[0], spaces.Discrete)
              and isinstance(sp.spaces[1], spaces.Tuple)
              and all(isinstance(b, spaces.Box) and b.is_bounded() for b in sp.spaces[1].spaces))
        if not ok:
            raise ValueError(f"ScaledParameters: {sp} is not a parameterized action space "
                             "Tuple(Discrete(n), Tuple(Box, ...)) with bounded Boxes")
        self._boxes = tuple(sp.spaces[1].spaces)
        self.action_space = spaces.Tuple((sp.spaces[0], spaces.Tuple(tuple(
            spaces.Box(-1.0, 1.0, b.shape, np.float32) for b in self._boxes))))

    def action(self, action: Any) -> tuple[int, tuple[np.ndarray, ...]]:
        t, params = action
        out = []
        for b, p in zip(self._boxes, params, strict=True):
            u = np.clip(np.asarray(p, np.float64).reshape(b.shape), -1.0, 1.0)
            out.append((b.low + (u + 1.0) * 0.5 * (b.high - b.low)).astype(b.dtype))
        return int(t), tuple(out)

    def reverse_action(self, action: Any) -> tuple[int, tuple[np.ndarray, ...]]:
        t, params = action
        out = []
        for b, p in zip(self._boxes, params, strict=True):
            x = np.asarray(p, np.float64).reshape(b.shape)
            out.append((2.0 * (x - b.low) / (b.high - b.low) - 1.0).astype(np.float32))
        return int(t), tuple(out)


def make_platform_hybrid(**kwargs: Any) -> gym.Env:
    """Platform-v0's env in :class:`PlatformGoal` and :class:`ScaledParameters` (``kwargs``: PlatformEnv's)."""
    from gym_platform.envs import PlatformEnv

    return ScaledParameters(PlatformGoal(PlatformEnv(**kwargs)))


def register() -> None:
    """Register ``PlatformHybrid-v0`` (idempotent; importing this module does it)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=make_platform_hybrid, max_episode_steps=MAX_EPISODE_STEPS)


register()
