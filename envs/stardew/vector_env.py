"""StardewFishingVectorEnv: N fishing minigames as one Gymnasium vector env, stepped by one kernel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from envs.options import positive_int_option
from envs.registration import GYMNASIUM_1
from envs.stardew import features as feats
from envs.stardew.sim import (
    O_FISH,
    O_LEVEL,
    O_PERFECT,
    O_STATUS,
    O_TICKS,
    FishingSim,
    GameConfig,
    check_seed,
)

# Gymnasium 1 rewrote VectorEnv: no constructor arguments, an AutoresetMode enum, and same-step autoreset infos
# named final_obs / final_info, the latter a dict of arrays. The agents stack pins 0.29 (SB3 2.2); other RL code
# that reuses the envs is on 1.x, so this class speaks whichever is installed.
if GYMNASIUM_1:
    from gymnasium.vector import AutoresetMode

    _SAME_STEP: Any = AutoresetMode.SAME_STEP
else:
    _SAME_STEP = "same-step"


class StardewFishingVectorEnv(VectorEnv):
    """
    ``num_envs`` copies of StardewFishing-v0 (same spaces, rewards and options) stepped together.

    | property          | value                                                                   |
    |-------------------|-------------------------------------------------------------------------|
    | action space      | ``MultiDiscrete([2] * num_envs)``                                       |
    | observation space | ``Box(low, high, (num_envs, K), float32)``                              |
    | seeding | ``reset(seed=s)`` seeds game ``i`` with ``s + i`` (a list seeds each); game ``i`` then plays exactly the episodes ``StardewFishing-v0`` plays after ``reset(seed=s + i)`` followed by plain ``reset()`` calls; a ``reset()`` without a seed lets every game go on with its own stream |
    | autoreset | in the same step: a game whose episode ends returns the first observation of its next episode. Gymnasium 0.29: the last one is in ``infos["final_observation"][i]`` and its outcome in ``infos["final_info"][i]`` (masks ``_final_observation``/``_final_info``). Gymnasium 1.x (``AutoresetMode.SAME_STEP``): ``infos["final_obs"][i]``, and ``infos["final_info"]["caught"][i]``, ... (masks ``_final_obs``, ``_final_info``, ``final_info["_caught"]``, ...) |
    | outcome keys | ``caught``, ``perfect`` (bool), ``tick``, ``fishing_level`` (int), ``fish`` (name) |
    | ``num_threads`` | threads the games are stepped on; the default (None) uses numba's thread count (the machine's cores) while it measures them to be faster than one thread (:class:`envs.stardew.sim.ThreadChoice`); each game plays the same on any number of threads |

    Training code that wants no Python per game reads the arrays of :attr:`sim` directly
    (``sim.final_obs``, ``sim.outcome``) after ``step``.
    """

    metadata = {"render_modes": [], "autoreset_mode": _SAME_STEP}

    def __init__(self, num_envs: int, features: str | Sequence[str] | None = None, render_mode: str | None = None,
                 num_threads: int | None = None, **game_options: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: the batched simulator draws nothing; for frames use "
                             "StardewFishing-v0 itself, or gym.make_vec(..., vectorization_mode='sync', "
                             f"render_mode={render_mode!r}) on Gymnasium 1.x")
        # a misspelt keyword: StardewFishing-v0's ValueError naming it, not GameConfig's TypeError
        config = GameConfig().with_options(game_options, others=("features", "num_threads"))
        num_envs = positive_int_option("num_envs", num_envs)
        self.sim = FishingSim(num_envs, config, features, num_threads)
        low, high = feats.bounds(self.sim.feature_names)
        single_obs = spaces.Box(low, high, dtype=np.float32)
        if GYMNASIUM_1:
            self.num_envs = num_envs
            self.single_action_space = spaces.Discrete(2)
            self.action_space = batch_space(self.single_action_space, num_envs)
        else:
            super().__init__(num_envs, single_obs, spaces.Discrete(2))
        self.single_observation_space = single_obs
        self.observation_space = batch_space(single_obs, num_envs)
        self.feature_names = self.sim.feature_names
        self._fish_names: tuple | None = None  # (the fish pool, its names as an array indexed by outcome row)

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        if seed is None:
            seeds = None  # each game goes on with its own stream (from OS entropy until first seeded)
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        elif isinstance(seed, (list, tuple, np.ndarray)):
            seeds = seed.tolist() if isinstance(seed, np.ndarray) else list(seed)
        else:
            raise ValueError(f"reset: seed must be an integer, a list of one per game, or None; got {seed!r}")
        for i, s in enumerate(seeds or ()):
            # the same rule as the scalar env's reset: 0..2**64 - 1, each seed its own stream
            check_seed(s, f"reset: game {i}'s seed")
        if seeds is not None and len(seeds) != self.num_envs:
            raise ValueError(f"reset: {len(seeds)} seeds for {self.num_envs} games")
        if options:  # after the seeds are checked: a rejected reset changes nothing, as in StardewFishing-v0
            self.sim.configure(self.sim.config.with_options(options))
        obs = self.sim.reset(seeds=seeds).copy()
        return obs, {}

    def step(self, actions):
        sim = self.sim
        sim.step(actions, autoreset=True)  # one kernel call: ticks, observations and autoresets of every game
        done = sim.terminated | sim.truncated
        infos: dict[str, Any] = {}
        if done.any():
            ended = np.flatnonzero(done)
            infos = self._final_infos(done, ended) if GYMNASIUM_1 else self._final_infos_0_29(done, ended)
        return sim.obs.copy(), sim.reward.copy(), sim.terminated.copy(), sim.truncated.copy(), infos

    def _outcomes(self, ended: np.ndarray) -> dict[str, np.ndarray]:
        """The ended games' episodes under StardewFishing-v0's info keys: per key, an array with one value per game
        in ``ended`` (numpy bools and int64s; the fish's names as an object array)."""
        o = self.sim.outcome[ended]
        pool = self.sim.pool_fish  # a new list whenever reset(options=...) changes the fish
        if self._fish_names is None or self._fish_names[0] is not pool:
            self._fish_names = (pool, np.array([f.name for f in pool], dtype=object))
        return {
            "caught": o[:, O_STATUS] == 1,
            "perfect": o[:, O_PERFECT] != 0,
            "tick": o[:, O_TICKS],
            "fish": self._fish_names[1][o[:, O_FISH]],
            "fishing_level": o[:, O_LEVEL],
        }

    def _final_obs(self, ended: np.ndarray) -> np.ndarray:
        final_obs = np.empty(self.num_envs, dtype=object)  # None everywhere (numpy fills object arrays with None)
        rows = self.sim.final_obs[ended]  # copied out of the simulator's buffer, one row per ended game
        for j, i in enumerate(ended.tolist()):
            final_obs[i] = rows[j]
        return final_obs

    def _final_infos(self, done: np.ndarray, ended: np.ndarray) -> dict[str, Any]:
        # the layout of Gymnasium 1's VectorEnv._add_info (what its SyncVectorEnv gives), built per key at once:
        # through _add_info, game by game, a 4,096-game step was 13% slower
        final_info: dict[str, Any] = {}
        for key, values in self._outcomes(ended).items():
            column = np.empty(self.num_envs, dtype=object) if key == "fish" else np.zeros(
                self.num_envs, dtype=values.dtype)
            column[ended] = values
            final_info[key], final_info["_" + key] = column, done.copy()
        return {"final_obs": self._final_obs(ended), "_final_obs": done.copy(), "final_info": final_info,
                "_final_info": done.copy()}

    def _final_infos_0_29(self, done: np.ndarray, ended: np.ndarray) -> dict[str, Any]:
        # Gymnasium 0.29's layout is one dict per ended game: Python values, as its SyncVectorEnv passes on
        final_info = np.empty(self.num_envs, dtype=object)
        columns = [(key, values.tolist()) for key, values in self._outcomes(ended).items()]
        for j, i in enumerate(ended.tolist()):
            final_info[i] = {key: values[j] for key, values in columns}
        return {"final_observation": self._final_obs(ended), "_final_observation": done.copy(),
                "final_info": final_info, "_final_info": done.copy()}

    def close_extras(self, **kwargs):
        pass
