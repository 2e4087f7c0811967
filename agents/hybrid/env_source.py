"""Which env the hybrid agent's commands run on: any registered Gymnasium env, the way RL Baselines3 Zoo names one.

    python -m agents.hybrid.train ppo --env MyGame-v0 --gym-packages my_games --env-kwargs level:3 fast:True

* ``--env ID``: a Gymnasium id (``gym.make(ID)``), or one of the short names of the project's own envs:
  ``pixels`` (FishingPixels-v0) and ``state`` (StardewFishing-v0, its two actions named release and hold).
* ``--gym-packages MODULE [...]``: modules imported first, so that their ``gym.register`` calls run (the user's
  envs live in the user's code; nothing of this project changes). Gymnasium's own ``module:Id`` form works too.
* ``--env-kwargs key:value [...]``: keyword arguments of ``gym.make``; each value is a Python literal
  (``3``, ``0.5``, ``True``, ``'text'``, ``[1, 2]``, ``{'a': 1}``), read with :func:`ast.literal_eval`, and a
  bare word that is not one is taken as a string (``window_class:xbill``).

RL Baselines3 Zoo's option names were chosen so that a user of that widely used tool finds them where they expect.

What the agent makes of the env's spaces (:meth:`EnvSource.make`):

==============================================  ===========================================================
env space                                       the agent sees
==============================================  ===========================================================
observation: uint8 image ``(H, W)`` or          a stack of the last ``frame_stack`` images (default 4),
``(H, W, C)`` with C in 1, 3, 4                 ``(S, H, W[, C])``: the CNN -> LSTM policy
observation: uint8 stack ``(S, H, W[, C])``     as it is (ScreenGame-v0, FishingPixels-v0): CNN -> LSTM
observation: any other Box, Dict, Tuple,        flattened to a float vector: the MLP policy
Discrete
action: Discrete, Box, ScreenGame's Dict,       the flat Box of :class:`~agents.hybrid.layout.HybridLayout`
parameterized Tuple(Discrete, Tuple(Box, ...))  (the env receives actions of its own space)
==============================================  ===========================================================
"""

from __future__ import annotations

import ast
import importlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.hybrid.layout import HybridBoxWrapper, HybridLayout

ALIASES = {"pixels": "FishingPixels-v0", "state": "StardewFishing-v0"}
# info keys an env may report an episode's success under, read at the episode's last step (SB3's is_success first)
SUCCESS_KEYS = ("is_success", "success", "caught")


class EnvArgError(ValueError):
    """A bad ``--env`` / ``--gym-packages`` / ``--env-kwargs``; ``option`` names which."""

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(message)


def parse_env_kwargs(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["level:3", "name:'x'"]`` -> ``{"level": 3, "name": "x"}`` (see the module doc); a pair without ``:``
    or with an empty key is an :class:`EnvArgError` naming it."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, text = pair.partition(":")
        if not sep or not key.strip() or not key.strip().isidentifier():
            raise EnvArgError("--env-kwargs", f"{pair!r}: need key:value, the key a Python name (e.g. level:3)")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word: a string, as a shell user means it
        out[key.strip()] = value
    return out


def import_gym_packages(modules: Iterable[str] | None) -> None:
    """Import each module (it registers its envs with Gymnasium); one that cannot be imported is an
    :class:`EnvArgError` naming it and why."""
    for name in modules or ():
        try:
            importlib.import_module(name)
        except Exception as e:  # ImportError, or the module's own error while it registers its envs
            raise EnvArgError("--gym-packages", f"{name}: cannot be imported: {type(e).__name__}: {e}") from None


def is_single_image(space: gym.Space) -> bool:
    """A uint8 ``(H, W)`` or ``(H, W, C)`` (C 1, 3 or 4) image that is not already a frame stack."""
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8:
        return False
    shape = space.shape
    return len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4) and shape[0] > 16)


class StackImages(gym.ObservationWrapper):
    """The last ``depth`` images of a single-image env, oldest first, as one uint8 array ``(depth, H, W[, C])``;
    a reset fills the stack with its first image (as :class:`~envs.screen.preprocess.FrameStack` does)."""

    def __init__(self, env: gym.Env, depth: int = 4):
        super().__init__(env)
        self.depth = int(depth)
        sp = env.observation_space
        shape = sp.shape if not (len(sp.shape) == 3 and sp.shape[2] == 1) else sp.shape[:2]
        self._squeeze = shape != sp.shape
        self.observation_space = spaces.Box(0, 255, (self.depth, *shape), np.uint8)
        self._frames: deque[np.ndarray] = deque(maxlen=self.depth)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._frames.clear()
        frame = self._frame(obs)
        for _ in range(self.depth):
            self._frames.append(frame)
        return np.stack(self._frames), info

    def _frame(self, obs: np.ndarray) -> np.ndarray:
        a = np.asarray(obs, np.uint8)
        return a[..., 0] if self._squeeze else a

    def observation(self, observation: np.ndarray) -> np.ndarray:
        self._frames.append(self._frame(observation))
        return np.stack(self._frames)


class FloatVector(gym.ObservationWrapper):
    """A flat observation as float32 (what the MLP policy reads)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        sp = env.observation_space
        self.observation_space = spaces.Box(np.asarray(sp.low, np.float32), np.asarray(sp.high, np.float32),
                                            sp.shape, np.float32)

    def observation(self, observation: Any) -> np.ndarray:
        return np.asarray(observation, np.float32)


def adapt_observations(env: gym.Env, frame_stack: int = 4) -> gym.Env:
    """The observation wrappers the agent puts around ``env`` (see the module doc)."""
    sp = env.observation_space
    if is_single_image(sp):
        return StackImages(env, frame_stack)
    if isinstance(sp, spaces.Box) and sp.dtype == np.uint8 and len(sp.shape) in (3, 4):
        return env  # a frame stack already
    if isinstance(sp, spaces.Box) and len(sp.shape) == 1 and np.issubdtype(sp.dtype, np.floating):
        return env
    if isinstance(sp, (spaces.Box, spaces.Dict, spaces.Tuple, spaces.Discrete, spaces.MultiBinary,
                       spaces.MultiDiscrete)):
        return FloatVector(gym.wrappers.FlattenObservation(env))
    raise EnvArgError("--env", f"observation space {sp} is not one the agent reads (an image, a frame stack, or "
                               "something Gymnasium can flatten)")


@dataclass
class EnvSource:
    """An env the agent can make again and again: a Gymnasium id with its ``gym.make`` keyword arguments and the
    modules that register it, or (from Python) a ``factory`` that returns a new env (called with ``kwargs``).

    :meth:`make` returns the env as the agent sees it (observations adapted, the action as a flat Box); the
    policy file keeps :meth:`to_json`, so ``eval`` and ``play`` find the env a policy was trained on.
    """

    env_id: str = "pixels"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    gym_packages: Sequence[str] = ()
    frame_stack: int = 4
    factory: Callable[[], gym.Env] | None = None
    _probe: tuple[HybridLayout, gym.Space] | None = field(default=None, repr=False)

    @property
    def alias(self) -> str | None:
        """``"pixels"`` / ``"state"`` for the project's fishing envs (their own evaluations apply), else None."""
        if self.factory is not None or self.kwargs:
            return None
        if self.env_id in ALIASES:
            return self.env_id
        return {v: k for k, v in ALIASES.items()}.get(self.env_id)

    @property
    def name(self) -> str:
        return self.alias or self.env_id

    def make_raw(self) -> gym.Env:
        """The env itself (before the agent's wrappers); an unknown id or bad keyword arguments are an
        :class:`EnvArgError` naming the option."""
        if self.factory is not None:
            return self.factory(**dict(self.kwargs))
        alias = self.alias
        if alias == "pixels":
            from envs.games.fishing_pixels import FishingPixelsEnv
            return FishingPixelsEnv()
        if alias == "state":
            from envs.stardew.fishing_env import StardewFishingEnv
            return StardewFishingEnv()
        import_gym_packages(self.gym_packages)
        import envs  # noqa: F401 - registers the project's envs on Gymnasium 1.x too
        try:
            return gym.make(self.env_id, **dict(self.kwargs))
        except gym.error.Error as e:
            raise EnvArgError("--env", f"{self.env_id}: {e} (is the module that registers it given with "
                                       "--gym-packages?)") from None
        except TypeError as e:
            raise EnvArgError("--env-kwargs", f"{self.env_id}: {e}") from None

    def layout_for(self, env: gym.Env) -> HybridLayout:
        if self.alias == "state":
            return HybridLayout.from_space(spaces.Discrete(2), ["release", "hold"])
        try:
            return HybridBoxWrapper(env).layout
        except ValueError as e:
            raise EnvArgError("--env", f"{self.env_id}: {e}") from None

    def make(self, seed: int | None = None) -> HybridBoxWrapper:
        """A new env as the agent sees it, reset once on ``seed`` when one is given."""
        raw = self.make_raw()
        env = adapt_observations(raw, self.frame_stack)
        wrapped = HybridBoxWrapper(env, self.layout_for(raw))
        if seed is not None:
            wrapped.reset(seed=seed)
        return wrapped

    def probe(self) -> tuple[HybridLayout, gym.Space]:
        """(layout, observation space) as the agent sees them, from one env made and closed."""
        if self._probe is None:
            env = self.make()
            self._probe = (env.layout, env.observation_space)
            env.close()
        return self._probe

    def to_json(self) -> dict[str, Any]:
        """What a policy file keeps of its env (None for kwargs that are not JSON, e.g. from Python)."""
        return {"id": self.env_id if self.factory is None else None, "name": self.name,
                "kwargs": _jsonable(dict(self.kwargs)) if self.factory is None else None,
                "gym_packages": list(self.gym_packages), "frame_stack": self.frame_stack}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EnvSource:
        if not d.get("id"):
            raise EnvArgError("--env", "the policy was trained on an env made in Python: name it with --env")
        return cls(env_id=d["id"], kwargs=dict(d.get("kwargs") or {}), gym_packages=tuple(d.get("gym_packages", ())),
                   frame_stack=int(d.get("frame_stack", 4)))


def _jsonable(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    import json

    try:
        json.dumps(kwargs)
    except (TypeError, ValueError):
        return None
    return kwargs


def add_env_args(parser: Any, default: str | None = "pixels", help_extra: str = "") -> None:
    """The three env options (``--env``, ``--gym-packages``, ``--env-kwargs``) and ``--frame-stack`` on an
    argparse parser; :func:`source_from_args` reads them."""
    parser.add_argument("--env", default=default,
                        help="a Gymnasium env id, or pixels (FishingPixels-v0) / state (StardewFishing-v0)"
                             + help_extra)
    parser.add_argument("--gym-packages", nargs="+", default=[], metavar="MODULE",
                        help="modules to import first: they register the env (gym.register)")
    parser.add_argument("--env-kwargs", nargs="+", default=[], metavar="KEY:VALUE",
                        help="keyword arguments of gym.make, each value a Python literal (level:3 name:'x')")
    parser.add_argument("--frame-stack", type=int, default=4,
                        help="images stacked for an env whose observation is a single image (default 4)")


def source_from_args(args: Any) -> EnvSource:
    """The :class:`EnvSource` the parsed options name (an :class:`EnvArgError` names a bad one)."""
    if getattr(args, "env_source", None) is not None:
        return args.env_source
    if args.frame_stack < 1:
        raise EnvArgError("--frame-stack", f"{args.frame_stack}: need an integer >= 1")
    return EnvSource(env_id=args.env, kwargs=parse_env_kwargs(args.env_kwargs),
                     gym_packages=tuple(args.gym_packages), frame_stack=args.frame_stack)


def episode_success(info: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(key, value) of the first of :data:`SUCCESS_KEYS` in an episode's last ``info``, or None."""
    for key in SUCCESS_KEYS:
        if key in info:
            return key, bool(info[key])
    return None


def evaluate_env(act: Callable[[np.ndarray], np.ndarray], source: EnvSource, seeds: Sequence[int],
                 max_steps: int | None = None) -> dict[str, Any]:
    """``act`` (obs batch -> Box-layout action batch) on one episode per seed: the mean and spread of the return,
    the mean episode length, and a success rate only where the env reports one in ``info`` (see
    :data:`SUCCESS_KEYS`). ``max_steps`` ends an episode that runs longer (counted as truncated)."""
    from agents.evaluation.protocol import wilson

    env = source.make()
    returns, lengths, successes = [], [], []
    key = None
    truncated = 0
    try:
        for s in seeds:
            obs, info = env.reset(seed=int(s))
            total, n = 0.0, 0
            while True:
                a = act(np.asarray(obs)[None])[0]
                obs, r, term, trunc, info = env.step(a)
                total += float(r)
                n += 1
                if max_steps is not None and n >= max_steps and not (term or trunc):
                    trunc = True
                if term or trunc:
                    break
            truncated += int(bool(trunc) and not term)
            returns.append(total)
            lengths.append(n)
            found = episode_success(info)
            if found is not None:
                key = found[0]
                successes.append(int(found[1]))
    finally:
        env.close()
    out: dict[str, Any] = {"env": source.name, "episodes": len(returns),
                           "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
                           "mean_length": float(np.mean(lengths)), "truncated": truncated,
                           "returns": [round(r, 6) for r in returns], "lengths": lengths}
    if key is not None and len(successes) == len(returns):
        k = int(sum(successes))
        out.update(success_key=key, success_rate=k / len(successes), success_ci95=wilson(k, len(successes)))
    return out
