"""The hybrid agent as Python functions, for users who script rather than type commands.

The seed's README promised two calls::

    from agents.hybrid.api import record_gameplay, train_rl_model

    action_space = {"keys": ["w", "a", "s", "d", "space"],
                    "mouse": {"min_pos": [0, 0], "max_pos": [640, 480], "actions": ["click", "drag"]}}
    game = {"window_title": "My Game"}                       # where the game is: ScreenGame-v0's options

    files = record_gameplay(game, action_space, out="recordings", episodes=5)   # you play; Ctrl+Shift+F12 stops

    class MyRewardFunction:
        def calculate_reward(self, current_frame, previous_frames, action):
            return float(current_frame[10:20, 10:60, 1].mean() > 200)   # e.g. a green bar lit

    policy = train_rl_model(agent=game, demo_dir="recordings", action_space=action_space,
                            reward_function=MyRewardFunction(), out="runs/mygame")
    print(evaluate(policy, agent=game, action_space=action_space, reward_function=MyRewardFunction()))

Each function is a thin layer over the commands' own code (:func:`agents.hybrid.train.run` with the options
``python -m agents.hybrid.train`` takes, :func:`agents.hybrid.record.record`): the same files come out (``policy.pt``
/ ``policy.json``, ``curve.csv``, ``run.json``), and bad input raises the commands' ``InputError`` naming the
option. ``agent`` says which game:

==========================  ====================================================================================
``agent``                   the env
==========================  ====================================================================================
a dict                      ``ScreenGame-v0`` with these options (``window_class``, ``window_title``, ``region``,
                            ``crop``, ``step_hz``...) plus ``action_space`` and ``reward=reward_function``
a string                    a registered Gymnasium id (``gym.make(agent, **env_kwargs)``); ``gym_packages``
                            imports the modules that register it
a callable                  ``agent(**overrides)`` returns a new env
an ``EnvSource``            as it is
==========================  ====================================================================================

``reward_function`` is the seed's object with ``calculate_reward(current_frame, previous_frames, action)`` (and
optionally ``is_terminated(current_frame, previous_frames)``): ScreenGame-v0 takes it as its ``reward``; any other
env is wrapped in :class:`SeedReward`, which replaces the env's reward with it (frames: ``env.render()`` where the
env renders RGB arrays, else the observation).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.hybrid.env_source import EnvSource

__all__ = ["SeedReward", "as_env_source", "behaviour_clone", "evaluate", "record_gameplay", "train_ppo",
           "train_rl_model"]


class SeedReward(gym.Wrapper):
    """Replaces an env's reward with ``reward_function.calculate_reward(current_frame, previous_frames, action)``
    (the seed's signature), and ends the episode when its optional ``is_terminated`` says so."""

    def __init__(self, env: gym.Env, reward_function: Any, history: int = 4):
        super().__init__(env)
        if not callable(getattr(reward_function, "calculate_reward", None)):
            raise TypeError(f"reward_function: {reward_function!r} has no calculate_reward(current_frame, "
                            "previous_frames, action) method")
        self.reward_function = reward_function
        self._frames: deque[np.ndarray] = deque(maxlen=history)

    def _frame(self, obs: Any) -> np.ndarray:
        if getattr(self.env, "render_mode", None) == "rgb_array":
            frame = self.env.render()
            if frame is not None:
                return np.asarray(frame)
        return np.asarray(obs)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._frames.clear()
        if hasattr(self.reward_function, "reset"):
            self.reward_function.reset()
        self._frames.append(self._frame(obs))
        return obs, info

    def step(self, action: Any):
        obs, _, terminated, truncated, info = self.env.step(action)
        frame = self._frame(obs)
        previous = list(self._frames)
        reward = float(self.reward_function.calculate_reward(frame, previous, action))
        end = getattr(self.reward_function, "is_terminated", None)
        if end is not None and bool(end(frame, previous)):
            terminated = True
        self._frames.append(frame)
        return obs, reward, terminated, truncated, info


def as_env_source(agent: Any, action_space: Mapping | None = None, reward_function: Any = None,
                  env_kwargs: Mapping[str, Any] | None = None, gym_packages: Sequence[str] = (),
                  frame_stack: int = 4) -> EnvSource:
    """The :class:`~agents.hybrid.env_source.EnvSource` an ``agent`` argument names (see the module doc)."""
    if isinstance(agent, EnvSource):
        return agent
    kwargs = dict(env_kwargs or {})
    if isinstance(agent, Mapping):
        options = {**dict(agent), **kwargs}
        if action_space is not None:
            options["action_space"] = action_space
        if "action_space" not in options:
            raise ValueError("action_space: a ScreenGame-v0 game needs one (the seed's dict of keys and mouse)")
        if reward_function is not None:
            options["reward"] = reward_function

        def make_screen(**overrides: Any) -> gym.Env:
            import envs  # noqa: F401 - registers ScreenGame-v0 on Gymnasium 1.x too
            return gym.make("ScreenGame-v0", **{**options, **overrides})

        return EnvSource("ScreenGame-v0", {}, (), frame_stack, make_screen)
    if isinstance(agent, str):
        if reward_function is None:
            return EnvSource(agent, kwargs, tuple(gym_packages), frame_stack)
        plain = EnvSource(agent, kwargs, tuple(gym_packages), frame_stack)

        def make_rewarded(**overrides: Any) -> gym.Env:
            return SeedReward(EnvSource(agent, {**kwargs, **overrides}, tuple(gym_packages)).make_raw(),
                              reward_function)

        return EnvSource(plain.env_id, {}, (), frame_stack, make_rewarded)
    if callable(agent):
        factory: Callable[..., gym.Env] = agent
        if reward_function is not None:
            def factory(**overrides: Any) -> gym.Env:
                return SeedReward(agent(**overrides), reward_function)
        return EnvSource(getattr(agent, "__name__", "python-env"), {}, (), frame_stack, factory)
    raise TypeError(f"agent: {agent!r} is not a dict of ScreenGame-v0 options, a Gymnasium id, a callable that "
                    "makes an env, or an EnvSource")


def _args(cmd: str, options: Mapping[str, Any]) -> list[str]:
    argv = [cmd]
    for key, value in options.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:  # every switch of the commands is off by default
                argv.append(flag)
        else:
            argv += [flag, str(value)]
    return argv


def _run(cmd: str, source: EnvSource, options: Mapping[str, Any]) -> None:
    from agents.hybrid.train import build_parser, run

    parser, _ = build_parser()
    args = parser.parse_args(_args(cmd, options))
    args.env_source = source
    run(args)


def record_gameplay(agent: Any, action_space: Mapping | None = None, out: str | Path = "recordings",
                    episodes: int = 10, max_seconds: float = 600.0, reward_function: Any = None,
                    stop_hotkey: str | None = None, **env_kwargs: Any) -> list[str]:
    """Record a person playing ``agent`` (a ScreenGame-v0 game, see the module doc) into ``out``: one demo file
    per episode (the format of :mod:`agents.hybrid.demos`), the person's keys and pointer mapped onto
    ``action_space``. The env sends no input while recording. Stops after ``episodes`` episodes,
    ``max_seconds``, Ctrl+C or the stop chord (``stop_hotkey``, default ``<ctrl>+<shift>+<f12>``). Returns the
    files written."""
    from agents.hybrid.record import record
    from envs.screen.inputs import DEFAULT_STOP_HOTKEY

    source = as_env_source(agent, action_space, reward_function, env_kwargs)
    return record(str(out), episodes, max_seconds, env_source=source,
                  stop_hotkey=stop_hotkey or DEFAULT_STOP_HOTKEY)


def behaviour_clone(agent: Any, demo_dir: str | Path, out: str | Path = "runs/bc", action_space: Mapping | None = None,
                    reward_function: Any = None, epochs: int = 12, **options: Any) -> Any:
    """``python -m agents.hybrid.train bc`` on ``agent``: BC on the demonstrations in ``demo_dir``; ``options``
    are that command's (``balance="balanced"``, ``lr``, ``batch_size``, ``eval_every``, ``eval_episodes``...).
    Returns the trained policy (also saved as ``out/policy``)."""
    from agents.hybrid.policy import load_policy

    source = as_env_source(agent, action_space, reward_function)
    _run("bc", source, {"demos": demo_dir, "out": out, "epochs": epochs, **options})
    return load_policy(Path(out) / "policy")


def train_ppo(agent: Any, out: str | Path = "runs/ppo", action_space: Mapping | None = None,
              reward_function: Any = None, steps: int = 20_000, init: str | Path | None = None, n_envs: int = 1,
              **options: Any) -> Any:
    """``python -m agents.hybrid.train ppo`` on ``agent`` (from ``init``'s weights, e.g. BC's policy, when given);
    ``options`` are that command's. One env by default (``n_envs``): a game window is one game. Returns the
    trained policy (also saved as ``out/policy``)."""
    from agents.hybrid.policy import load_policy

    source = as_env_source(agent, action_space, reward_function)
    _run("ppo", source, {"out": out, "steps": steps, "init": init, "n_envs": n_envs, **options})
    return load_policy(Path(out) / "policy")


def train_rl_model(agent: Any, demo_dir: str | Path | None = None, action_space: Mapping | None = None,
                   reward_function: Any = None, out: str | Path = "runs/model", bc_epochs: int = 12,
                   ppo_steps: int = 20_000, bc_options: Mapping[str, Any] | None = None,
                   ppo_options: Mapping[str, Any] | None = None) -> Any:
    """The seed's ``train_rl_model``: BC on ``demo_dir`` (when given) into ``out/bc``, then PPO from BC's weights
    with ``reward_function`` into ``out/ppo`` (``ppo_steps`` of 0 stops after BC). Returns the final policy."""
    out = Path(out)
    policy = None
    init = None
    if demo_dir is not None:
        policy = behaviour_clone(agent, demo_dir, out / "bc", action_space, reward_function, bc_epochs,
                                 **dict(bc_options or {}))
        init = out / "bc" / "policy"
    if ppo_steps > 0:
        ppo = {"critic_warmup": 2 if init is not None else 0, **dict(ppo_options or {})}
        policy = train_ppo(agent, out / "ppo", action_space, reward_function, ppo_steps, init, **ppo)
    if policy is None:
        raise ValueError("train_rl_model: nothing to train (no demo_dir and ppo_steps=0)")
    return policy


def evaluate(policy: Any, agent: Any = None, action_space: Mapping | None = None, reward_function: Any = None,
             episodes: int = 10, deterministic: bool = True) -> dict[str, Any]:
    """``python -m agents.hybrid.train eval``: ``policy`` (a policy or the path of a saved one) on ``agent``
    (default: the env its file names), one episode per held-out seed: the mean return and episode length, and a
    success rate where the env reports one in ``info``."""
    from agents.hybrid.policy import load_policy
    from agents.hybrid.train import _eval, policy_source

    if isinstance(policy, (str, Path)):
        policy = load_policy(policy)
    source = policy_source(policy) if agent is None else as_env_source(agent, action_space, reward_function)
    return _eval(source, policy, episodes, deterministic=deterministic)
