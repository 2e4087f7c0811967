"""A policy with an advisor: the same ``predict(obs, deterministic=...)`` as SB3's, advice where it was unsure.

:class:`AdvisedPolicy` wraps any object with SB3's ``predict(observation, state=None, episode_start=None,
deterministic=False) -> (action, state)``. Each call it takes the policy's action, measures the policy's
uncertainty, and when the :class:`~agents.advisor.gate.Gate` says so asks the :class:`~agents.advisor.advisor.Advisor`
with the env's current frame(s); advice replaces the action, anything else leaves the policy's. Actions are turned
into the env's action space for the advisor (``to_env``) and back (``from_env``): for the hybrid policy that is its
Box layout (:func:`advise_hybrid`), for a DQN or the scripted controller the env's action itself.

The frames come from ``frame_source`` (for the project's envs, the env's own RGB picture: ``env.render()``, the
window capture of ScreenGame-v0, FishingPixels-v0's game picture, StardewFishing-v0's rendered frame), one per call,
the last ``context_frames`` kept.

:class:`ScriptedPixelPolicy` is the fishing game's scripted controller (hold C while the fish is above the bar's
centre, read from the frame) behind the same ``predict``, with its own uncertainty (:func:`~agents.advisor.gate.
pixel_margin`): the one pixel controller that ships without training.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from agents.advisor.advisor import Advice, Advisor
from agents.advisor.gate import Gate, pixel_margin, q_head_margin, q_margin, type_entropy


def _identity(a: Any) -> Any:
    return a


class AdvisedPolicy:
    """``policy`` plus ``advisor`` (see the module doc); one env at a time.

    Args:
        policy: an object with SB3's ``predict``.
        advisor: the advisor, or None (the policy alone, its uncertainty still measured).
        gate: when to ask.
        uncertainty: ``obs -> float``, higher = less sure (see :mod:`agents.advisor.gate`).
        frame_source: ``() -> (H, W, 3) uint8``, the env's current picture.
        to_env: the policy's action -> the env's.
        from_env: the env's action -> the policy's.
        measure: the uncertainty's name, for the prompt and the log.
        wait_s: None to wait for each reply (offline); a number for a live window (see ``Advisor.ask``).
    """

    def __init__(self, policy: Any, advisor: Advisor | None, gate: Gate, uncertainty: Callable[[np.ndarray], float],
                 frame_source: Callable[[], np.ndarray], to_env: Callable[[Any], Any] = _identity,
                 from_env: Callable[[Any], Any] = _identity, measure: str = "", wait_s: float | None = None):
        self.policy, self.advisor, self.gate = policy, advisor, gate
        self.uncertainty, self.frame_source = uncertainty, frame_source
        self.to_env, self.from_env = to_env, from_env
        self.measure, self.wait_s = measure, wait_s
        depth = advisor.settings.context_frames if advisor is not None else 1
        self.frames: deque[np.ndarray] = deque(maxlen=depth)
        self.context: dict[str, Any] = {}
        self.steps = 0
        self.asked = 0
        self.applied = 0
        self.advice_time_s = 0.0
        self.last_advice: Advice | None = None
        self.uncertainties: list[float] | None = None  # set to a list to keep every step's measure (calibration)

    def new_episode(self) -> None:
        """Call at every reset: the frame history and the episode budget start again."""
        self.frames.clear()
        if self.advisor is not None:
            self.advisor.new_episode()

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[Any, Any]:
        """SB3's ``predict`` for one env (an observation with or without a batch dimension of 1)."""
        action, state = self.policy.predict(observation, state, episode_start, deterministic)
        self.steps += 1
        self.last_advice = None
        self.frames.append(self.frame_source())
        obs = np.asarray(observation)
        batched = isinstance(action, np.ndarray) and action.ndim >= 1 and _is_batched(self.policy, obs)
        single = action[0] if batched else action
        u = float(self.uncertainty(obs))
        if self.uncertainties is not None:
            self.uncertainties.append(u)
        if self.advisor is None or not self.gate.should_ask(u):
            return action, state
        self.asked += 1
        t0 = time.monotonic()
        advice = self.advisor.ask(list(self.frames), self.to_env(single), u, self.measure, wait_s=self.wait_s,
                                  context=self.context)
        self.advice_time_s += time.monotonic() - t0
        self.last_advice = advice
        if advice.action is None:
            return action, state
        try:
            new = self.from_env(advice.action)
        except Exception:  # noqa: BLE001 - advice the policy cannot express is no advice
            return action, state
        self.applied += 1
        if batched:
            new = np.asarray(new, dtype=np.asarray(action).dtype)[None]
        return new, state


def _is_batched(policy: Any, obs: np.ndarray) -> bool:
    space = getattr(policy, "observation_space", None)
    shape = getattr(space, "shape", None)
    return shape is not None and obs.shape == (1, *shape)


class ScriptedPixelPolicy:
    """The fishing game's scripted pixel controller (``envs.games.fishing_screen.scripted_action``) with SB3's
    ``predict``; it reads the env's full frame (``frame_source``), not the 84x84 observation."""

    def __init__(self, action_spec: Any, frame_source: Callable[[], np.ndarray]):
        self.spec = action_spec
        self.frame_source = frame_source

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[dict, Any]:
        from envs.games.fishing_screen import scripted_action

        return scripted_action(self.spec, self.frame_source()), state

    def uncertainty(self, observation: Any = None) -> float:
        """:func:`~agents.advisor.gate.pixel_margin` of the current frame."""
        return pixel_margin(self.frame_source())


def advise_scripted(env: Any, advisor: Advisor | None, gate: Gate, wait_s: float | None = None) -> AdvisedPolicy:
    """The scripted pixel controller on a FishingPixels-v0 / fishing ScreenGame-v0 env, with its pixel margin."""
    base = env.unwrapped
    policy = ScriptedPixelPolicy(base.action_spec, base.render)
    return AdvisedPolicy(policy, advisor, gate, policy.uncertainty, base.render, measure="pixel_margin",
                         wait_s=wait_s)


def advise_hybrid(policy: Any, env: Any, advisor: Advisor | None, gate: Gate, measure: str = "type_entropy",
                  wait_s: float | None = None) -> AdvisedPolicy:
    """A HybridActorCriticPolicy on an env with a Dict action space (its Box layout <-> the env's Dict);
    ``measure`` ``"type_entropy"`` or ``"q_head_margin"``."""
    fns = {"type_entropy": type_entropy, "q_head_margin": q_head_margin}
    if measure not in fns:
        raise ValueError(f"measure: {measure!r} not one of {sorted(fns)}")
    lay = policy.layout
    return AdvisedPolicy(policy, advisor, gate, lambda o: fns[measure](policy, o), env.unwrapped.render,
                         to_env=lay.to_dict, from_env=lay.to_box, measure=measure, wait_s=wait_s)


def names_for(env: Any) -> dict[str, list[str]]:
    """Labels of an env's action space for the tool schema: a hybrid Dict's type and key names."""
    spec = getattr(env.unwrapped, "action_spec", None)
    if spec is None:
        return {}
    return {"type": list(spec.type_names), "keys": list(spec.keys)}


class QPolicy:
    """A Q-network (a DQN, e.g. :class:`agents.dqn.onnx_io.OnnxPolicy`'s ``q_values``) with SB3's ``predict``:
    ``q_values(obs (N, ...)) -> (N, n_actions)``, greedy actions; :meth:`uncertainty` is the Q-value margin."""

    def __init__(self, q_values: Callable[[np.ndarray], np.ndarray], observation_space: Any = None):
        self.q_fn = q_values
        self.observation_space = observation_space

    def _q(self, observation: Any) -> np.ndarray:
        o = np.asarray(observation)
        shape = getattr(self.observation_space, "shape", None)
        single = shape is not None and o.shape == tuple(shape)
        q = np.asarray(self.q_fn(o[None] if single else o))
        return q

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[Any, Any]:
        o = np.asarray(observation)
        q = self._q(o)
        a = q.argmax(axis=-1)
        shape = getattr(self.observation_space, "shape", None)
        return (int(a[0]) if shape is not None and o.shape == tuple(shape) else a), state

    def uncertainty(self, observation: Any) -> float:
        """:func:`~agents.advisor.gate.q_margin` of the first (only) observation."""
        return q_margin(self._q(observation)[0])


def advise_dqn(q_values: Callable[[np.ndarray], np.ndarray], env: Any, advisor: Advisor | None, gate: Gate,
               wait_s: float | None = None) -> AdvisedPolicy:
    """A DQN on an env with a ``Discrete`` action space (StardewFishing-v0 with ``render_mode="rgb_array"``: the
    advisor sees its rendered frame), gated by the Q-value margin."""
    policy = QPolicy(q_values, env.observation_space)
    return AdvisedPolicy(policy, advisor, gate, policy.uncertainty, env.unwrapped.render, measure="q_margin",
                         wait_s=wait_s)
