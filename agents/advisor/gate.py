"""When to ask: a policy's uncertainty, and a threshold calibrated to a target query rate.

Uncertainty measures, each a number that grows with the policy's doubt (a margin enters negated):

=====================  ==========================================================================================
measure                what it reads
=====================  ==========================================================================================
``type_entropy``       the hybrid policy's action-type distribution: its entropy in nats (0 = sure)
``q_head_margin``      the hybrid policy's Q head: ``-(Q(s, best type) - Q(s, second type))``, each type with the
                       policy's parameters
``q_margin``           a DQN's Q-values (``q_values(obs)``): ``-(Q_best - Q_second)``
``pixel_margin``       the scripted pixel controller: ``-|fish row - bar centre row| / (bar height / 2)`` read from
                       the frame (its rule flips where the fish crosses the bar's centre)
=====================  ==========================================================================================

:class:`Gate` asks when the measure is at or above its threshold. :meth:`Gate.calibrate` sets the threshold from
measures seen in a short run so that about ``target_rate`` of the steps ask (the ``1 - target_rate`` quantile).
Advice moves the game into other states than the calibration run saw (an advised fishing policy keeps the fish near
the bar's centre, where its margin is small), so the threshold alone may ask far more often; ``max_rate`` caps the
queries at that fraction of the steps seen so far (plus ``burst``), whatever the measure says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class Gate:
    """Ask when ``uncertainty >= threshold`` (None: never; ``-inf``: always), at most ``max_rate`` of the steps
    (None: no cap) with ``burst`` queries of slack."""

    def __init__(self, threshold: float | None = None, target_rate: float | None = None,
                 max_rate: float | None = None, burst: int = 3):
        self.threshold = threshold
        self.target_rate = target_rate
        if max_rate is not None and not 0.0 < max_rate <= 1.0:
            raise ValueError(f"max_rate: need 0 < rate <= 1 or None, got {max_rate}")
        self.max_rate = max_rate
        self.burst = int(burst)
        self.steps = 0
        self.asked = 0
        self.capped = 0

    def should_ask(self, uncertainty: float) -> bool:
        """One step's decision (every call counts as a step for the cap)."""
        self.steps += 1
        if self.threshold is None or not float(uncertainty) >= self.threshold:
            return False
        if self.max_rate is not None and self.asked >= self.max_rate * self.steps + self.burst:
            self.capped += 1
            return False
        self.asked += 1
        return True

    def calibrate(self, values: Sequence[float], target_rate: float) -> float:
        """Set the threshold so that a fraction ``target_rate`` (0..1] of ``values`` would ask; returns it."""
        v = np.asarray(values, np.float64)
        if v.size == 0:
            raise ValueError("calibrate: no uncertainty values (run the policy for some steps first)")
        if not 0.0 < target_rate <= 1.0:
            raise ValueError(f"target_rate: need 0 < rate <= 1, got {target_rate}")
        self.target_rate = float(target_rate)
        self.threshold = float(np.quantile(v, 1.0 - target_rate, method="higher"))
        return self.threshold

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "target_rate": self.target_rate, "max_rate": self.max_rate,
                "burst": self.burst, "steps": self.steps, "asked": self.asked, "capped": self.capped}


def type_entropy(policy: Any, obs: np.ndarray) -> float:
    """Entropy (nats) of a HybridActorCriticPolicy's action-type distribution at one observation."""
    import torch as th

    with th.no_grad():
        t, _ = policy.obs_to_tensor(np.asarray(obs)[None] if np.asarray(obs).shape == policy.observation_space.shape
                                    else np.asarray(obs))
        dist = policy.get_distribution(t)
        return float(dist.type_dist.entropy()[0])


def q_head_margin(policy: Any, obs: np.ndarray) -> float:
    """``-(Q_best - Q_second)`` of a HybridActorCriticPolicy's Q head over the action types at one observation."""
    import torch as th

    with th.no_grad():
        o = np.asarray(obs)
        t, _ = policy.obs_to_tensor(o[None] if o.shape == policy.observation_space.shape else o)
        dist = policy.get_distribution(t)
        mode = dist.mode()  # (1, D): the policy's parameters, tried with every type
        n = policy.layout.n_types
        acts = mode.repeat(n, 1)
        acts[:, 0] = th.arange(n, dtype=acts.dtype)
        q = policy.q_values(t.repeat(n, *([1] * (t.dim() - 1))), acts).numpy()
    q = np.sort(q)[::-1]
    return float(-(q[0] - q[1])) if len(q) > 1 else 0.0


def q_margin(q_values: np.ndarray) -> float:
    """``-(Q_best - Q_second)`` of one state's Q-values."""
    q = np.sort(np.asarray(q_values, np.float64).reshape(-1))[::-1]
    return float(-(q[0] - q[1])) if len(q) > 1 else 0.0


def pixel_margin(frame: np.ndarray) -> float:
    """The scripted controller's doubt: ``-|fish - bar centre| / (bar height / 2)`` from an RGB frame of the
    fishing game (0 when the fish is at the bar's centre; ``-inf`` when neither is seen)."""
    from envs.games.fishing_screen import read_fish_and_bar

    r = read_fish_and_bar(frame)
    if r is None:
        return float("-inf")
    bar_h = bar_height(frame)
    return -abs(r[0] - r[1]) / max(1.0, bar_h / 2.0)


def bar_height(frame: np.ndarray) -> float:
    """The green bar's height in pixels, read from an RGB frame of the fishing game (0 if not seen)."""
    from envs.stardew.render import BAR, TRACK_X

    edge = frame[:, TRACK_X + 4:TRACK_X + 8, :3].astype(np.int16)
    rows = np.nonzero((np.abs(edge - BAR) <= 12).all(axis=2).any(axis=1))[0]
    return float(rows.max() - rows.min() + 5) if rows.size else 0.0
