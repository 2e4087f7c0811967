"""Platform-v0 (PyPI ``hybrid-platform``) for the hybrid agent: the goal reported, the parameters on one scale.

The Platform domain (Masson, Ranchod and Konidaris, 2016) is the standard benchmark of parameterized actions: a
runner crosses three platforms, jumping two gaps and two enemies that pace the first two platforms. Each step
picks one of three actions and its one continuous parameter; the env then simulates until the action is over
(a run lasts 20 frames of 0.05 s, a hop or leap until the runner lands again).

Importing this module registers ``PlatformHybrid-v0``: Platform-v0's own env (``gym_platform.envs.PlatformEnv``,
imported from the package) in three wrappers, nothing of its dynamics changed:

==========================  ==========================================================================================
wrapper                     what it does
==========================  ==========================================================================================
:class:`StateOnly`          the observation's 9 state features, without the count of simulation frames the last
                            action took (``Discrete(200)``, one-hot 200 inputs once flattened), as the published
                            agents (P-DQN, MP-DQN, HyAR) read it
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

import json
from pathlib import Path
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


class StateOnly(gym.ObservationWrapper):
    """Platform-v0's observation ``(state, frames)`` -> ``state``, the ``Box(0, 1, (9,))`` part."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        sp = env.observation_space
        if not (isinstance(sp, spaces.Tuple) and isinstance(sp.spaces[0], spaces.Box)):
            raise ValueError(f"StateOnly: {sp} is not Platform-v0's Tuple(Box, Discrete) observation")
        self.observation_space = sp.spaces[0]

    def observation(self, observation: Any) -> np.ndarray:
        return np.asarray(observation[0], np.float32)


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
    """Platform-v0's env in :class:`PlatformGoal`, :class:`StateOnly` and :class:`ScaledParameters` (``kwargs``:
    PlatformEnv's)."""
    from gym_platform.envs import PlatformEnv

    return ScaledParameters(StateOnly(PlatformGoal(PlatformEnv(**kwargs))))


def register() -> None:
    """Register ``PlatformHybrid-v0`` (idempotent; importing this module does it)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=make_platform_hybrid, max_episode_steps=MAX_EPISODE_STEPS)


register()


# ---- evaluation on Platform-v0 itself, and the shipped policy ---------------------------------------------------
EVAL_SEED = 900_000  # the hybrid agent's held-out seeds (agents.hybrid.train.EVAL_SEED)
# the published success rates on Platform (HyAR's and CHDP's tables) and MP-DQN's converged return
PUBLISHED = {"H-PPO": 0.663, "PA-TD3": 0.951, "PDQN-TD3": 0.967, "HyAR-TD3": 0.966, "CHDP": 0.997}
PUBLISHED_MPDQN_RETURN = 0.987


def evaluate_platform(policy: Any, episodes: int, seed0: int = EVAL_SEED) -> dict[str, Any]:
    """``policy`` (an :class:`~agents.hybrid.native.EnvPolicy`) on Platform-v0 itself (``gym.make("Platform-v0")``,
    its own spaces), deterministic, one episode per seed from ``seed0``: the success rate (the goal reached) with
    its Wilson 95% interval, the mean return, and every episode's outcome."""
    import gym_platform  # noqa: F401 - registers Platform-v0

    from agents.evaluation.protocol import wilson

    env = gym.make("Platform-v0")
    returns, goals, lengths = [], [], []
    try:
        for s in range(seed0, seed0 + episodes):
            obs, _ = env.reset(seed=s)
            total, n, done = 0.0, 0, False
            while not done:
                action, _ = policy.predict(obs, deterministic=True)
                obs, r, term, trunc, _ = env.step(action)
                total += float(r)
                n += 1
                done = term or trunc
            base = env.unwrapped
            returns.append(total)
            lengths.append(n)
            goals.append(int(base.player.position[0] >= base._right_bound()))
    finally:
        env.close()
    k = int(sum(goals))
    return {"episodes": episodes, "first_seed": seed0, "success_rate": k / episodes, "success_ci95": wilson(k, episodes),
            "mean_return": float(np.mean(returns)), "mean_length": float(np.mean(lengths)), "goals": goals,
            "returns": [round(x, 6) for x in returns]}


def report(runs: list[str], episodes: int, out: str | None) -> dict[str, Any]:
    """Evaluate each run's ``policy`` on ``episodes`` held-out episodes of Platform-v0; with ``out``, copy the best
    run's policy there with ``results.json`` (every run's figures, the published table, the shipped run's first 40
    episodes, which the tests replay)."""
    import shutil

    from agents.hybrid.native import load_policy

    rows = []
    for run in runs:
        res = evaluate_platform(load_policy(Path(run) / "policy"), episodes)
        info = json.loads((Path(run) / "run.json").read_text()) if (Path(run) / "run.json").exists() else {}
        rows.append({"run": run, "seed": info.get("args", {}).get("seed"), "train_wall_s": info.get("wall_s"),
                     **{k: v for k, v in res.items() if k not in ("goals", "returns")}, "_res": res})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "_res"}), flush=True)
    rates = [r["success_rate"] for r in rows]
    summary = {"env": "Platform-v0", "episodes_per_run": episodes, "first_seed": EVAL_SEED,
               "mean_success_rate": float(np.mean(rates)), "min_success_rate": float(np.min(rates)),
               "mean_return": float(np.mean([r["mean_return"] for r in rows])),
               "runs": [{k: v for k, v in r.items() if k != "_res"} for r in rows],
               "published_success_rate": PUBLISHED, "published_mpdqn_return": PUBLISHED_MPDQN_RETURN}
    if out is not None:
        best = max(rows, key=lambda r: (r["success_rate"], r["mean_return"]))
        dest = Path(out)
        dest.mkdir(parents=True, exist_ok=True)
        for suffix in (".pt", ".json"):
            shutil.copyfile(Path(best["run"]) / f"policy{suffix}", dest / f"policy{suffix}")
        summary["shipped"] = {"run": best["run"], "seed": best["seed"], "success_rate": best["success_rate"],
                              "mean_return": best["mean_return"], "goals_first_40": best["_res"]["goals"][:40],
                              "returns_first_40": best["_res"]["returns"][:40]}
        (dest / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("runs", "shipped")}), flush=True)
    return summary


def plot_curves(runs: list[str], path: str) -> None:
    """Each run's ``curve.csv`` (deterministic success rate and mean return on 100 held-out episodes, every
    10,000 env steps) as one PNG, the published success rates as horizontal lines."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_s, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        with open(Path(run) / "curve.csv") as f:
            rows = list(csv.DictReader(f))
        x = [int(r["env_steps"]) for r in rows]
        label = Path(run).name
        ax_s.plot(x, [float(r["success_rate"]) for r in rows], marker="o", label=label)
        ax_r.plot(x, [float(r["mean_return"]) for r in rows], marker="o", label=label)
    for rate in PUBLISHED.values():
        ax_s.axhline(rate, color="grey", lw=0.8, ls="--")
    ax_s.annotate("H-PPO", (0, PUBLISHED["H-PPO"]), fontsize=7, color="grey", va="bottom")
    ax_s.annotate("off-policy methods (PA-TD3 ... CHDP)", (0, 0.945), fontsize=7, color="grey",
                  va="top")
    ax_r.axhline(PUBLISHED_MPDQN_RETURN, color="grey", lw=0.8, ls="--")
    ax_r.annotate("MP-DQN", (0, PUBLISHED_MPDQN_RETURN), fontsize=7, color="grey", va="bottom")
    ax_s.set(xlabel="env steps", ylabel="success rate (goal reached)", ylim=(-0.02, 1.02))
    ax_r.set(xlabel="env steps", ylabel="mean return", ylim=(0, 1.05))
    for ax in (ax_s, ax_r):
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
    fig.suptitle("Hybrid PPO on Platform-v0: 100 held-out episodes every 10,000 steps, deterministic")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """``python -m agents.hybrid.platform --runs RUN [RUN ...] --episodes N [--out DIR]``: see :func:`report`."""
    import argparse

    import torch as th

    th.set_num_threads(1)
    p = argparse.ArgumentParser(prog="python -m agents.hybrid.platform",
                                description="evaluate hybrid runs on Platform-v0's held-out episodes; ship the best")
    p.add_argument("--runs", nargs="+", required=True, help="run folders, each with policy.pt / policy.json")
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--out", default=None, help="copy the best run's policy here, with results.json")
    p.add_argument("--plot", default=None, help="also draw the runs' learning curves (curve.csv) into this PNG")
    args = p.parse_args(argv)
    for run in args.runs:
        if not (Path(run) / "policy.json").is_file():
            p.error(f"--runs: {run}: no policy.json (is it a finished training run?)")
    if args.episodes < 1:
        p.error(f"--episodes: {args.episodes}: need at least 1")
    report(args.runs, args.episodes, args.out)
    if args.plot:
        plot_curves(args.runs, args.plot)


if __name__ == "__main__":
    main()
