"""Evaluating hybrid policies: catch rates on the pixel game (offscreen) and on FishingSim batches (state env).

For the project's evaluation protocol (``make evaluate``): :func:`state_act_fn` turns a saved state-based PPO policy
into ``act(obs (N, K) float32) -> (N,) int64`` (0 release, 1 hold), and :func:`evaluate_state` plays it on a
:class:`~envs.stardew.sim.FishingSim` batch, one episode per seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from agents.evaluation.protocol import wilson
from agents.hybrid.layout import HybridLayout


def policy_act_fn(policy: Any, deterministic: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """A batch act function over Box-layout actions: obs (N, ...) -> actions (N, D) float32."""

    def act(obs: np.ndarray) -> np.ndarray:
        with th.no_grad():
            a, _ = policy.predict(obs, deterministic=deterministic)
        return np.asarray(a, np.float32)

    return act


def evaluate_pixels(act: Callable[[np.ndarray], np.ndarray], seeds: Sequence[int], layout: HybridLayout | None = None,
                    batch: int = 16, **env_kwargs: Any) -> dict[str, Any]:
    """Catch rate of ``act`` (Box-layout actions) on FishingPixels-v0, one episode per seed, ``batch`` at once;
    ``caught_per_seed`` is each seed's outcome (1 caught), in the order of ``seeds``."""
    from envs.games.fishing_pixels import FishingPixelsEnv

    seeds = list(seeds)
    caught, steps = [], []
    for start in range(0, len(seeds), batch):
        chunk = seeds[start:start + batch]
        envs = [FishingPixelsEnv(**env_kwargs) for _ in chunk]
        lay = layout or HybridLayout.from_space(envs[0].action_space, envs[0].action_spec.type_names,
                                                envs[0].action_spec.params_used)
        obs = [e.reset(seed=int(s))[0] for e, s in zip(envs, chunk, strict=True)]
        live = list(range(len(chunk)))
        res = [None] * len(chunk)
        n = [0] * len(chunk)
        while live:
            acts = act(np.stack([obs[i] for i in live]))
            still = []
            for a, i in zip(acts, live, strict=True):
                o, _, term, trunc, info = envs[i].step(lay.to_dict(a))
                obs[i] = o
                n[i] += 1
                if term or trunc:
                    res[i] = bool(info["caught"])
                else:
                    still.append(i)
            live = still
        for e in envs:
            e.close()
        caught += res
        steps += n
    k = int(sum(caught))
    return {"episodes": len(caught), "caught": k, "catch_rate": k / len(caught), "ci95": wilson(k, len(caught)),
            "mean_steps": float(np.mean(steps)), "env_steps": int(sum(steps)),
            "caught_per_seed": [int(c) for c in caught]}


def state_act_fn(path: str | Path, deterministic: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """Load a state-based hybrid PPO policy (``save_policy`` files) -> act(obs (N, K)) -> (N,) int64 in {0, 1}."""
    from agents.hybrid.policy import load_policy

    policy = load_policy(path)
    box_act = policy_act_fn(policy, deterministic)

    def act(obs: np.ndarray) -> np.ndarray:
        a = box_act(np.asarray(obs, np.float32))
        return np.clip(np.rint(a[:, 0]), 0, policy.layout.n_types - 1).astype(np.int64)

    return act


def evaluate_state(act: Callable[[np.ndarray], np.ndarray], seeds: Sequence[int], max_ticks: int = 20_000,
                   **game_options: Any) -> dict[str, Any]:
    """Catch rate of a state policy on a FishingSim batch (one episode per seed, every tick a decision)."""
    from envs.stardew import rules as R
    from envs.stardew.sim import O_STATUS, FishingSim, GameConfig

    seeds = np.asarray(list(seeds))
    sim = FishingSim(len(seeds), GameConfig(max_ticks=max_ticks, **game_options))
    sim.reset(seeds=seeds)
    status = np.zeros(len(seeds), np.int64)
    done = np.zeros(len(seeds), bool)
    ticks = 0
    while not done.all() and ticks < max_ticks + 10:
        sim.step(act(sim.obs), autoreset=True)
        ticks += 1
        ended = (sim.terminated | sim.truncated) & ~done
        status[ended] = sim.outcome[ended, O_STATUS]
        done |= ended
    k = int((status == R.CAUGHT).sum())
    return {"episodes": len(seeds), "caught": k, "catch_rate": k / len(seeds), "ci95": wilson(k, len(seeds)),
            "truncated": int((status == R.TRUNCATED).sum()),
            "caught_per_seed": (status == R.CAUGHT).astype(int).tolist()}
