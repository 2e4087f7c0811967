"""StardewFishing-v0: the fishing minigame of Stardew Valley as a Gymnasium env."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from envs.episode_end import EpisodeEnd
from envs.stardew import features as feats
from envs.stardew import rules as R
from envs.stardew.sim import MAX_SEED, FishingSim, GameConfig, check_seed, number_dict_option


class StardewFishingEnv(gym.Env):
    """
    ## Description

    The fishing minigame of Stardew Valley (``BobberBar``). A fish moves erratically up and down a
    vertical track; the player holds the use-tool button to push the green bar up and releases it to
    let the bar fall. While the fish is inside the bar the catch meter fills (+0.002 per tick),
    otherwise it drains (-0.003). The fish is caught when the meter is full and escapes when it is
    empty. By default the env runs an embedded simulator that follows the game's own rules tick for
    tick (float32 arithmetic, .NET's random generator, versions 1.5.4 and 1.6); with
    ``backend="socket"`` the same env drives the live game through the SMAPI bridge.

    ## Action Space

    ``Discrete(2)``, applied for ``frame_skip`` game ticks (1 by default; the game runs 60 ticks/s):

    | Num | Action                        |
    |-----|-------------------------------|
    | 0   | release the button            |
    | 1   | hold the button (bar goes up) |

    ## Observation Space

    ``Box(low, high, (K,), float32)``: the named features chosen by ``features=``, only what a player
    can see (see :mod:`envs.stardew.features`). The default, scaled to about [-1, 1]:

    | Num | Feature    | Meaning                                                        |
    |-----|------------|----------------------------------------------------------------|
    | 0   | bar_center | centre of the green bar, (bobberBarPos + H/2) / 284 - 1        |
    | 1   | bar_speed  | bobberBarSpeed / 16                                            |
    | 2   | bar_height | H / 284 - 1 (H = 96 + 8 x fishing level, + tackle)             |
    | 3   | fish_pos   | bobberPosition / 284 - 1                                       |
    | 4   | fish_vel   | the fish's movement over the last tick / 16                    |
    | 5   | fish_rel   | fish minus the centre of the bar's catch window, / 284         |
    | 6   | progress   | 2 x distanceFromCatching - 1                                   |
    | 7   | in_bar     | +1 while the fish is in the bar, else -1                       |

    With treasure on, ``treasure_visible``, ``treasure_pos`` and ``treasure_progress`` follow.
    ``features="seed"`` gives exactly the seed mod's raw ``[bobberBarPos, bobberPosition,
    bobberBarSpeed]``; any list of feature names is accepted.

    ## Rewards

    | reward=            | per step                                                                   |
    |--------------------|----------------------------------------------------------------------------|
    | ``"shaped"`` (def.) | 100 x change of progress; +10 on catch, +5 more if perfect; -10 on escape |
    | ``"seed"``         | the raw distanceFromCatching after each tick, summed over the step's ticks |
    | ``"sparse"``       | +1 on catch, -1 on escape, else 0                                          |

    The shaped weights are set with ``reward_weights={"progress", "catch", "escape", "perfect"}``.

    ## Starting State

    The BobberBar as the game constructs it: fish at 508 heading to (100 - difficulty)% of the track,
    bar resting at the bottom, progress 0.3 (0.1 for a player who never caught a fish). The 20
    fade-in ticks, in which the game reads no input, are run by ``reset()`` unless
    ``skip_fade_in=False``.

    ## Episode End

    | signal     | when                                                            |
    |------------|-----------------------------------------------------------------|
    | terminated | the fish is caught (progress reaches 1) or escapes (reaches 0)  |
    | truncated | ``max_ticks`` game ticks (20,000 by default) without either (checked after each step: up to ``frame_skip - 1`` ticks past) |

    ## Options (``gym.make`` keyword arguments; the game options also per episode via ``reset(options=...)``)

    | option          | default     | meaning                                                                |
    |-----------------|-------------|------------------------------------------------------------------------|
    | fish | None | None: uniform over the 60-fish table; a name or id; a list; or ``{"difficulty": 95, "behavior": "dart"}`` |
    | level           | (0, 10)     | fishing level, or an inclusive range drawn uniformly per episode       |
    | tackle          | ()          | names or ids: cork, trap, lead, barbed, treasure_hunter (691-695)      |
    | treasure        | False       | a treasure chest in every minigame (True) or with a probability        |
    | version         | "1.5"       | game rules "1.5" (1.5.4) or "1.6"                                      |
    | training_rod    | False       | the Training Rod (taller bar below level 5, slower drain)              |
    | caught_before   | True        | False: a first-ever fish (starts at 0.1, never drains)                 |
    | deluxe_bait     | False       | 1.6 Deluxe Bait (+12 px bar); needs ``version="1.6"``                  |
    | frame_skip      | 1           | game ticks per step (action repeat)                                    |
    | max_ticks | 20000 | truncation cap in game ticks (the 20 fade-in ticks included, so above 20 when ``skip_fade_in``) |
    | features | None | "default" ("treasure" with treasure on), a preset ("default", "treasure", "seed") or a list of names; fixed when the env is made |
    | reward          | "shaped"    | "shaped", "seed" or "sparse"                                           |
    | backend         | "sim"       | "sim" (embedded simulator) or "socket" (live game bridge)              |
    | host, port | 127.0.0.1, 8765 | the game's bridge address (socket backend only; port 1..65535) |
    | socket_timeouts | None | {"timeout", "reset_timeout", "connect_timeout"} in seconds (socket backend only) |
    | render_mode     | None        | "human" (a pygame window at 60 fps) or "rgb_array"                     |

    A bad option raises ``ValueError`` naming it; a rejected ``reset(options=...)`` changes nothing, and
    accepted ones stay in force for later episodes. An action other than 0 or 1 raises ``ValueError``.
    The simulator env can be copied (``copy.deepcopy``, ``pickle``) and goes on from the same tick.
    A ``step`` after the episode ended warns once and returns the last observation with reward 0.

    ## Info

    The game's raw values under its own names:

    | key                                                                          | meaning                                                         |
    |------------------------------------------------------------------------------|-----------------------------------------------------------------|
    | ``bobberBarPos``, ``bobberBarSpeed``, ``bobberBarHeight``                    | the bar: top position (px), speed (px/tick), height (px)        |
    | ``bobberPosition``, ``bobberSpeed``                                          | the fish: position (px), internal speed (px/tick)               |
    | ``distanceFromCatching``                                                     | catch progress, 0..1                                            |
    | ``bobberInBar``, ``buttonPressed``                                           | the fish was in the bar on the last tick; the press applied     |
    | ``perfect``, ``caught``, ``escaped``                                         | outcome flags                                                   |
    | ``treasure``, ``treasurePosition``, ``treasureCatchLevel``, ``treasureCaught`` | the treasure chest                                            |
    | ``fish``, ``fish_id``, ``difficulty``, ``motion_type``, ``fishing_level``    | what this minigame is                                           |
    | ``tick``                                                                     | game ticks since the minigame opened (fade-in included)         |

    The socket backend adds ``late``, ``missed_ticks``, ``applied_press``, ``game_tick`` and ``closed``
    (see :class:`envs.stardew.bridge.client.RemoteGame`).
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 60}

    def __init__(
        self,
        render_mode: str | None = None,
        features: str | Sequence[str] | None = None,
        backend: str = "sim",
        host: str | None = None,
        port: int | None = None,
        socket_timeouts: dict[str, float] | None = None,
        **game_options: Any,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: {render_mode!r} not one of {self.metadata['render_modes']}")
        if backend not in ("sim", "socket"):
            raise ValueError(f"backend: {backend!r} not one of ['sim', 'socket']")
        if backend == "sim":
            # a bridge address given to the simulator means backend='socket' was forgotten: playing the
            # simulator instead of the game would be a silent change of meaning
            given = [k for k, v in (("host", host), ("port", port), ("socket_timeouts", socket_timeouts)) if v is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: only for backend='socket' (the live game's bridge); this env "
                                 "runs the embedded simulator (backend='sim')")
        else:
            host, port = _check_address(host, port)
        self.render_mode = render_mode
        # through with_options, so that a misspelt keyword is the ValueError naming it that reset(options=...)
        # gives, not GameConfig's TypeError
        self.config = GameConfig().with_options(
            game_options, others=("render_mode", "features", "backend", "host", "port", "socket_timeouts"))
        self.backend = backend
        self._sim = FishingSim(1, self.config, features)
        self.feature_names = self._sim.feature_names
        low, high = feats.bounds(self.feature_names)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self._renderer = None
        self._remote = None
        self._end = EpisodeEnd()  # what steps after the end of the episode return
        if backend == "socket":
            from envs.stardew.bridge.client import RemoteGame  # local import: sim users never load it

            # keys: timeout (per tick), reset_timeout (waiting for a minigame), connect_timeout; seconds
            self._remote = RemoteGame(host=host, port=port, sim=self._sim, **_check_timeouts(socket_timeouts))

    def __getstate__(self) -> dict:
        # copy.deepcopy / pickle: the simulator copies itself; a live connection cannot be copied
        if self._remote is not None:
            raise TypeError("StardewFishing-v0 with backend='socket' holds a live connection and cannot be copied "
                            "or pickled; copy an env on the simulator (backend='sim') instead")
        return {**self.__dict__, "_renderer": None}

    @property
    def sim(self) -> FishingSim:
        """The one-game simulator behind the env (its state mirrors the live game with the socket backend)."""
        return self._sim

    @property
    def remote(self):
        """The socket backend's :class:`~envs.stardew.bridge.client.RemoteGame` (None on the simulator)."""
        return self._remote

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        # everything is checked before anything changes: a rejected reset leaves the env as it was, the end of an
        # episode included (a step after it still returns the ended episode's last step)
        if seed is not None:
            if isinstance(seed, numbers.Integral) and seed > MAX_SEED:
                check_seed(seed)  # a larger seed would replay a smaller one's games
            seeding.np_random(seed)  # Gymnasium's own check (a negative or non-integer seed), before any change
        if options:
            # per-reset game options, e.g. options={"fish": "Legend", "level": 10}
            if self._remote is not None and "version" in options and options["version"] != self.config.version:
                # the game's rules are the game's (checked at hello): a reset cannot change them, and an env that
                # believed it had failed its next handshake
                raise ValueError(f"version: the game at {self._remote.host}:{self._remote.port} plays "
                                 f"{self.config.version} rules; a reset cannot change them, got "
                                 f"{options['version']!r} (for other rules, serve them: python -m "
                                 "envs.stardew.serve --version ...)")
            config = self.config.with_options(options)
            self._sim.configure(config)  # compiles the options first and raises before it changes the games
            self.config = config
        super().reset(seed=seed)
        self._end.clear()
        if self._remote is not None:
            obs, info = self._remote.reset(seed=seed, options=options)
        else:
            if seed is not None:
                self._sim.reset(seeds=[seed])
            elif self._sim.I[0, R.I_EPISODE] == 0:
                self._sim.reset(seeds=[int(self.np_random.integers(0, 2**63))])
            else:
                self._sim.reset()
            obs, info = self._sim.obs[0].copy(), self._sim.state_dict(0)
        if self.render_mode == "human":
            self.render()
        return obs, info

    def step(self, action):
        if type(action) is not int or action not in (0, 1):  # a plain 0 or 1 needs no more checking
            action = _as_action(action)
        if self._end.ended:
            return self._end.step()
        if self._remote is not None:
            obs, reward, terminated, truncated, info = self._remote.step(action)
        else:
            sim = self._sim
            sim.play_one(action)
            obs = sim.obs[0].copy()
            reward = float(sim.reward[0])
            terminated = bool(sim.terminated[0])
            truncated = bool(sim.truncated[0])
            info = sim.state_dict(0)
        self._end.record(obs, terminated, truncated, info)
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, truncated, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'human'.")
            return None
        if self._renderer is None:
            from envs.stardew.render import MinigameRenderer

            self._renderer = MinigameRenderer(window=self.render_mode == "human", fps=self.metadata["render_fps"])
        return self._renderer.draw(self._sim, 0)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._remote is not None:
            self._remote.close()


def _as_action(action: object) -> int:
    """0 or 1 from a scalar action (int, numpy integer, 0-d array); anything else is the ValueError naming it,
    on both backends alike: an array of actions (even one, [1]) is refused, not read as its first element."""
    if type(action) is not int and getattr(action, "ndim", 0) != 0:
        raise ValueError(f"step: action must be 0 (release) or 1 (hold), got {action!r}")
    try:
        if action == 0 or action == 1:
            return int(action)
    except (TypeError, ValueError):
        pass
    raise ValueError(f"step: action must be 0 (release) or 1 (hold), got {action!r}")


SOCKET_TIMEOUTS = ("timeout", "reset_timeout", "connect_timeout")


def _check_address(host: object, port: object) -> tuple[str, int]:
    """The socket backend's ``host`` and ``port`` (defaults: the mod's), or a ValueError naming the bad one: a port
    past 65535 would reach another port (the OS keeps its low 16 bits)."""
    from envs.stardew.bridge.protocol import DEFAULT_HOST, DEFAULT_PORT

    host = DEFAULT_HOST if host is None else host
    port = DEFAULT_PORT if port is None else port
    if not isinstance(host, str) or not host:
        raise ValueError(f"host: a host name or address such as '127.0.0.1', got {host!r}")
    if isinstance(port, bool) or not isinstance(port, numbers.Integral) or not 0 < port <= 65535:
        raise ValueError(f"port: an integer 1..65535, got {port!r}")
    return host, int(port)


def _check_timeouts(socket_timeouts: object) -> dict[str, float]:
    """``socket_timeouts`` checked as the other options are: a ValueError naming the bad key or value, here rather
    than RemoteGame's TypeError or a socket error at the first connect."""
    if socket_timeouts is None:
        return {}
    return number_dict_option("socket_timeouts", socket_timeouts, SOCKET_TIMEOUTS, "a number of seconds > 0",
                              positive=True)
