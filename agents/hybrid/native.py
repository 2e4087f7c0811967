"""A saved hybrid policy that takes its env's own observations and returns actions of the env's own action space.

The policy file (:func:`agents.hybrid.policy.save_policy`) holds the network as the agent trained it: flat float
observations and the flat Box action of :class:`~agents.hybrid.layout.HybridLayout`. A user of the policy has the
env instead: Platform-v0 gives ``(state, steps)`` tuples and takes ``(type, (run, hop, leap))``. :func:`load_policy`
(also ``agents.hybrid.load_policy``) returns an :class:`EnvPolicy` whose ``predict`` has SB3's signature and speaks
the env's language::

    from agents.hybrid import load_policy
    import gymnasium as gym, gym_platform

    policy = load_policy("exported/hybrid_platform/policy")
    env = gym.make("Platform-v0")
    obs, _ = env.reset(seed=1)
    action, _ = policy.predict(obs, deterministic=True)   # (type, (array([run]), array([hop]), array([leap])))
    env.step(action)

The translation is read off the env the policy was trained on (its file names it): the agent's env is made once,
lazily, and its wrappers are walked, every observation wrapper from the inside out, every action wrapper from the
outside in, down to the base env (``env.unwrapped``), whose spaces are the "own" ones. For PlatformHybrid-v0
(:mod:`agents.hybrid.platform`) that keeps the observation's state and maps the parameters from ``[-1, 1]`` back onto
Platform-v0's own ranges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

from agents.hybrid.policy import HybridActorCriticPolicy
from agents.hybrid.policy import load_policy as load_network


class EnvPolicy:
    """A :class:`~agents.hybrid.policy.HybridActorCriticPolicy` between its env's own observations and actions.

    ``observation_space`` / ``action_space`` are the base env's; ``network`` is the SB3 policy (its ``predict``
    takes the agent's flat observations and returns Box-layout actions). Any other attribute is the network's.
    ``env_factory`` (optional) makes the agent's env (as :meth:`~agents.hybrid.env_source.EnvSource.make` does);
    without it the env the policy file names is made, on the first call that needs it.
    """

    def __init__(self, network: HybridActorCriticPolicy, env_factory: Any = None):
        self.network = network
        self._env_factory = env_factory
        self._env: gym.Env | None = None
        self._chain: list[gym.Wrapper] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "network":
            raise AttributeError(name)
        return getattr(self.network, name)

    # ---- the env the policy was trained on ---------------------------------------------------------------
    def _agent_env(self) -> gym.Env:
        if self._env is None:
            if self._env_factory is not None:
                env = self._env_factory()
            else:
                from agents.hybrid.train import policy_source

                env = policy_source(self.network).make()
            chain, e = [], env
            while isinstance(e, gym.Wrapper):
                chain.append(e)
                e = e.env
            self._env, self._chain = env, chain
        return self._env

    @property
    def observation_space(self) -> gym.Space:
        """The base env's observation space (what :meth:`predict` takes)."""
        return self._agent_env().unwrapped.observation_space

    @property
    def action_space(self) -> gym.Space:
        """The base env's action space (what :meth:`predict` returns)."""
        return self._agent_env().unwrapped.action_space

    def close(self) -> None:
        """Close the env made for the translation (if one was)."""
        if self._env is not None:
            self._env.close()
            self._env, self._chain = None, []

    # ---- translation -------------------------------------------------------------------------------------
    def _is_agent_obs(self, obs: Any) -> bool | None:
        """True: one agent observation; False: a batch of them; None: not the agent's (an env's own)."""
        shape = self.network.observation_space.shape
        if not isinstance(obs, np.ndarray) or obs.dtype == object:
            return None
        if obs.shape == shape:
            return True
        if obs.shape[1:] == shape:
            return False
        return None

    def agent_observation(self, obs: Any, episode_start: bool = False) -> np.ndarray:
        """One observation of the base env -> the network's input (observation wrappers, inside out)."""
        from agents.hybrid.env_source import StackImages

        self._agent_env()
        for w in reversed(self._chain):
            if isinstance(w, StackImages) and (episode_start or len(w._frames) == 0):
                frame = w._frame(obs)
                w._frames.clear()
                for _ in range(w.depth):
                    w._frames.append(frame)
                obs = np.stack(w._frames)
            elif isinstance(w, gym.ObservationWrapper):
                obs = w.observation(obs)
        return np.asarray(obs, dtype=self.network.observation_space.dtype)

    def env_action(self, box: np.ndarray) -> Any:
        """One Box-layout action -> an action of the base env (action wrappers, outside in)."""
        self._agent_env()
        action: Any = np.asarray(box, np.float32)
        for w in self._chain:
            if isinstance(w, gym.ActionWrapper):
                action = w.action(action)
        return action

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[Any, Any]:
        """SB3's ``predict`` in the env's own spaces: one observation -> ``(action, None)``; a list of them (or a
        batch array of the network's shape) -> ``(list of actions, None)``."""
        kind = self._is_agent_obs(observation)
        if kind is None:
            many = isinstance(observation, list)
            items = observation if many else [observation]
            starts = np.broadcast_to(np.asarray(False if episode_start is None else episode_start), (len(items),))
            batch = np.stack([self.agent_observation(o, bool(s)) for o, s in zip(items, starts, strict=True)])
        else:
            many = not kind
            batch = observation if many else observation[None]
        with th.no_grad():
            boxes, _ = self.network.predict(batch, deterministic=deterministic)
        actions = [self.env_action(b) for b in np.asarray(boxes).reshape(len(batch), -1)]
        return (actions if many else actions[0]), None


def load_policy(path: str | Path, device: str = "cpu") -> EnvPolicy:
    """Load a saved hybrid policy (``<path>.json`` + ``<path>.pt``) as an :class:`EnvPolicy`: its ``predict``
    takes the env's own observations and returns actions of the env's own action space. Bad files raise
    :class:`~agents.hybrid.policy.PolicyFileError` naming the file."""
    return EnvPolicy(load_network(path, device=device))
