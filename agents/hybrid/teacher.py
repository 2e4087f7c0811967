"""The teacher of the pixel policy: the shipped state DQN, acting in FishingPixels-v0 from the game's true state.

FishingPixels-v0 shows frames; the game behind them is the env's own :class:`~envs.games.fishing.FishingGame`,
whose :class:`~envs.stardew.sim.FishingSim` holds the true state. :class:`StateTeacher` reads that state from
the env instance it is given (``env.unwrapped.game.sim``, the same object the env steps, so the state is always
the one the current frame shows), computes the DQN's features with :func:`envs.stardew.features.write_obs`, runs
the exported network (``exported/autofisher_dqn_rich.onnx``) through onnxruntime and answers the env's own hybrid
action: ``hold`` when the network holds the button, ``none`` when it releases it. Nothing is added to the
observation or to ``info``: the pixel policy never sees the state, only the teacher's labels.

The network was trained to decide every game tick (60 Hz) on the features of the last 4 ticks. The pixel env
decides every 2 ticks (30 steps/s); the teacher stacks the features of its last 4 decisions instead (ticks t,
t-2, t-4, t-6), which costs it 1.4 points of catch rate (measured on the simulator over the 1,000 held-out seeds
from 900,000: 93.4% deciding every tick, 92.0% every second tick), so the network is used as it is.

:class:`TeacherPolicy` is the same teacher as an SB3 ``BasePolicy`` over a vector of envs, as imitation's DAgger
takes its expert (:mod:`agents.hybrid.dagger`): ``predict(obs)`` answers, for the i-th row of ``obs``, the
teacher's action in the i-th env of the vector (the observation itself is not read).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.policies import BasePolicy

from agents.hybrid.layout import HybridLayout

DEFAULT_TEACHER = "exported/autofisher_dqn_rich.onnx"


def _game_sim(env: gym.Env, where: str = "env") -> Any:
    """The FishingSim behind a FishingPixels-v0 env (through any wrappers); a TypeError naming ``where`` for
    an env that has none."""
    game = getattr(getattr(env, "unwrapped", env), "game", None)
    sim = getattr(game, "sim", None)
    if sim is None or not hasattr(sim, "F"):
        raise TypeError(f"{where}: {type(getattr(env, 'unwrapped', env)).__name__} has no fishing game "
                        "(env.unwrapped.game.sim); the teacher acts in FishingPixels-v0 or the fishing window's game")
    return sim


def _tick(sim: Any) -> int:
    from envs.stardew import rules as R

    return int(sim.I[0, R.I_TICK])


class StateTeacher:
    """The state DQN deciding hold / release for one or more fishing games from their true state.

    ``model`` is an ONNX Q-network exported by :mod:`agents.dqn.export` with its ``feature_names`` and
    ``frame_stack`` metadata (default: the shipped best policy); ``engine`` is ``"onnxruntime"`` (default) or
    ``"numpy"`` (the same float64 MLP without onnxruntime). A missing or broken file is an
    :class:`~agents.dqn.onnx_io.OnnxFileError` naming it.
    """

    def __init__(self, model: str | Path = DEFAULT_TEACHER, engine: str = "onnxruntime"):
        from agents.dqn.onnx_io import OnnxPolicy
        from envs.stardew import features as feats

        self.path = Path(model)
        self.net = OnnxPolicy(self.path, engine=engine)
        self.features = self.net.features
        self.codes = feats.codes(self.features)
        self.depth = self.net.frames.k
        self._write = feats.write_obs
        self.hist: list[np.ndarray | None] = []
        self.last_tick: list[int] = []

    def reset(self, n: int = 1) -> None:
        """Forget every game's history (the next call starts each one anew)."""
        self.hist = [None] * n
        self.last_tick = [-1] * n

    def _row(self, sim: Any) -> np.ndarray:
        out = np.zeros(len(self.codes), np.float32)
        self._write(sim.F, sim.I, 0, self.codes, out)
        return out

    def hold(self, sims: Sequence[Any], new_episode: Sequence[bool] | None = None) -> np.ndarray:
        """(n,) bool: whether the teacher holds the button in each game now. A game's history starts anew where
        ``new_episode`` says so, on the first call, and wherever its tick counter went back (a new minigame)."""
        n = len(sims)
        if len(self.hist) != n:
            self.reset(n)
        x = np.zeros((n, len(self.codes) * self.depth), np.float32)
        for i, sim in enumerate(sims):
            row = self._row(sim)
            tick = _tick(sim)
            fresh = self.hist[i] is None or tick < self.last_tick[i] or bool(new_episode is not None
                                                                             and new_episode[i])
            # newest first, as the network was trained; an episode's first observation fills the history
            self.hist[i] = (np.tile(row, (self.depth, 1)) if fresh
                            else np.concatenate([row[None], self.hist[i][:-1]]))
            self.last_tick[i] = tick
            x[i] = self.hist[i].reshape(-1)
        return self.net.q_values(x).argmax(axis=1) == 1


def hold_and_release(layout: HybridLayout) -> tuple[np.ndarray, np.ndarray]:
    """The Box-layout actions ``hold`` and ``none`` of a layout (the fishing game's action dict has both)."""
    names = list(layout.type_names)
    missing = [t for t in ("hold", "none") if t not in names]
    if missing:
        raise ValueError(f"layout: the teacher answers 'hold' or 'none', and these action types {names} lack "
                         f"{missing}")
    hold = np.zeros(layout.dim, np.float32)
    hold[0] = names.index("hold")
    none = np.zeros(layout.dim, np.float32)
    none[0] = names.index("none")
    return hold, none


def teacher_action(teacher: StateTeacher, env: gym.Env, new_episode: bool = False) -> dict[str, Any]:
    """The teacher's action in one FishingPixels-v0 env, as the env's own Dict action (``hold`` or ``none``)."""
    spec = env.unwrapped.action_spec
    held = bool(teacher.hold([_game_sim(env)], [new_episode])[0])
    action = {k: np.zeros(s.shape, s.dtype) for k, s in spec.space.spaces.items()}
    action["type"] = spec.type_names.index("hold" if held else "none")
    return action


def evaluate_teacher(seeds: Sequence[int], model: str | Path = DEFAULT_TEACHER, **env_kwargs: Any
                     ) -> dict[str, Any]:
    """The teacher's catch rate on FishingPixels-v0 (30 decisions/s by default), one episode per seed; the same
    keys as :func:`agents.hybrid.evaluate.evaluate_pixels`."""
    from agents.evaluation.protocol import wilson
    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv(**env_kwargs)
    teacher = StateTeacher(model)
    caught, steps = [], []
    for s in seeds:
        env.reset(seed=int(s))
        n, new = 0, True
        while True:
            _, _, term, trunc, info = env.step(teacher_action(teacher, env, new_episode=new))
            n, new = n + 1, False
            if term or trunc:
                break
        caught.append(int(info["caught"]))
        steps.append(n)
    env.close()
    k = int(sum(caught))
    return {"episodes": len(caught), "caught": k, "catch_rate": k / len(caught), "ci95": wilson(k, len(caught)),
            "mean_steps": float(np.mean(steps)), "env_steps": int(sum(steps)), "caught_per_seed": caught}


class TeacherPolicy(BasePolicy):
    """The teacher as an SB3 policy over a vector of FishingPixels-v0 envs (imitation's DAgger expert).

    ``envs`` are the vector's envs, in order (SB3's ``DummyVecEnv.envs``, wrappers allowed), ``layout`` the Box
    layout of their action (:class:`~agents.hybrid.layout.HybridBoxWrapper`'s). ``predict(obs)`` returns one
    Box-layout action a row: row i is what the teacher does in ``envs[i]`` now, read from that env's game; the
    pixel observation only fixes how many rows there are, and must have one row per env.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, envs: Sequence[gym.Env],
                 layout: HybridLayout, model: str | Path = DEFAULT_TEACHER, engine: str = "onnxruntime"):
        super().__init__(observation_space, action_space)
        self.envs = list(envs)
        self.sims = [_game_sim(e, f"envs[{i}]") for i, e in enumerate(self.envs)]
        self.teacher = StateTeacher(model, engine=engine)
        self.hold_box, self.none_box = hold_and_release(layout)

    def _predict(self, observation: Any, deterministic: bool = False) -> Any:  # SB3's abstract method
        import torch as th

        return th.as_tensor(self.predict(observation.cpu().numpy())[0])

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """(one Box-layout action per env, None): the teacher's hold / none in each env of the vector now;
        ``episode_start`` (where given) marks envs whose episode just began. The teacher is deterministic."""
        obs = np.asarray(observation)
        if obs.shape[0] != len(self.sims):
            raise ValueError(f"TeacherPolicy.predict: {obs.shape[0]} observations for {len(self.sims)} envs; the "
                             "teacher answers one row per env of its vector, in order")
        held = self.teacher.hold(self.sims, episode_start)
        return np.where(held[:, None], self.hold_box[None], self.none_box[None]).astype(np.float32), None
