"""FishingPixels-v0: the fishing game window's task, offscreen and as fast as the CPU allows.

The environment is :class:`FishingPixelsEnv`; its docstring documents spaces, rewards, episode end and options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.episode_end import EpisodeEnd
from envs.games.fishing import REEL_KEYS, FishingGame
from envs.games.fishing_screen import FISHING_ACTIONS
from envs.optional import import_optional
from envs.options import positive_int_option
from envs.screen.actions import HybridActionSpec, pynput_key_name
from envs.screen.preprocess import FramePreprocessor, FrameStack
from envs.stardew.sim import GameConfig

# the window example's action dict (envs.games.fishing_screen.FISHING_ACTIONS): types none/click/drag/hold/key
DEFAULT_ACTIONS: dict[str, Any] = FISHING_ACTIONS


class FishingPixelsEnv(gym.Env):
    """
    ## Description

    The task the hybrid agent plays through ``ScreenGame-v0`` on the fishing window
    (``python -m envs.games.fishing``), minus the screen. The frames are drawn by the window's own code
    (:meth:`envs.games.fishing.FishingGame.frame`, the reel lamp included) and go through the same
    :class:`~envs.screen.preprocess.FramePreprocessor` and :class:`~envs.screen.preprocess.FrameStack`
    that ScreenGame-v0 uses on the captured window, so a policy trained here sees the arrays it sees there.
    About 700 steps/s for the env alone on one core (random actions).

    ## Action Space

    The same :class:`~envs.screen.actions.HybridActionSpec` ``Dict`` as ScreenGame-v0, built from an
    ``action_space=`` dict (the format ScreenGame-v0 takes); by default the window example's ``FISHING_ACTIONS``
    (types none / click / drag / hold / key, keys ``c`` and ``space``):

    | Key        | Space                        | Meaning                                              |
    |------------|------------------------------|------------------------------------------------------|
    | `type`     | `Discrete(n)`                | index into `action_spec.type_names`                  |
    | `pointer`  | `Box(-1, 1, (2,), float32)`  | x, y in the window region                            |
    | `drag_end` | `Box(-1, 1, (2,), float32)`  | where a drag ends                                    |
    | `keys`     | `MultiBinary(len(keys))`     | keys held during a `key` step                        |

    What the reel button does, as the window (which polls it once per 60 Hz tick) sees it:

    | type                          | reel button during the step                              |
    |-------------------------------|----------------------------------------------------------|
    | `hold`                        | down for every tick of the step                          |
    | `key` with `c` or `space` set | down for every tick of the step                          |
    | `none`, `move`                | up                                                       |
    | `click`, `drag`               | up (pressed and released inside the step: seen released) |

    Some action must be able to reel: ``hold`` among the mouse actions, or a reel key among the keys; a dict
    without either is a ``ValueError``. Each ``step`` checks its action against the space as ScreenGame-v0
    does, with an error naming the key and the value.

    ## Observation Space

    ``Box(0, 255, (4, 84, 84, 3), uint8)``: the last ``frame_stack`` frames, oldest first, resized with
    ``INTER_AREA``. Colour by default: in OpenCV's gray the fish (RGB 250,150,40 -> 167) and the green bar
    (94,220,54 -> 163) are the same grey, so a gray frame hides the fish whenever it is in the bar.
    ``grayscale=True`` gives ``(4, 84, 84)``; capture the window with the same setting.

    ## Rewards

    | event            | reward                                     |
    |------------------|--------------------------------------------|
    | every step       | 100 x the change of the catch meter        |
    | the fish caught  | +10 (the meter counted as full)            |
    | the fish escaped | -10 (the meter counted as empty)           |

    The meter is what the window's catch bar shows; offscreen it is read from the game's state.

    ## Starting State

    A new minigame of the fish stream: ``reset(seed=s)`` reseeds the stream; a first ``reset()`` without a
    seed seeds it from the env's ``np_random``, so unseeded copies play different fish. Every ``reset()``
    begins a new minigame, abandoning an unfinished one.

    ## Episode End

    | signal     | when                                                                          |
    |------------|-------------------------------------------------------------------------------|
    | terminated | the fish is caught or escapes                                                 |
    | truncated  | ``max_steps`` steps, or the game option ``max_ticks`` ticks, without either   |

    A ``step`` after the episode ended warns once and returns the last observation with reward 0.

    ## Arguments

    | argument         | default              | meaning                                                       |
    |------------------|----------------------|---------------------------------------------------------------|
    | `action_space`   | None                 | an ``action_space`` dict; None: ``FISHING_ACTIONS``           |
    | `ticks_per_step` | 2                    | game ticks per step (2: 30 steps/s, the window's rate); >= 1  |
    | `frame_stack`    | 4                    | frames stacked; >= 1                                          |
    | `size`           | (84, 84)             | (height, width) of a frame; each >= 1                         |
    | `interpolation`  | "area"               | area, linear, nearest or cubic                                |
    | `grayscale`      | False                | True: gray frames                                             |
    | `max_steps`      | 2000                 | truncation cap in steps; >= 1                                 |
    | `render_mode`    | None                 | None or "rgb_array" (the last full-size frame)                |
    | `**game_options` |                      | StardewFishing-v0's game options (``fish``, ``level``, ...)   |

    Anything else is a ``ValueError`` naming the option. The game options are fixed when the env is made;
    ``reward``, ``reward_weights`` and ``frame_skip`` are refused (this env scores and paces its steps
    itself), and so are ``reset(options=...)``.

    ## Info

    | key                                         | meaning                                        |
    |---------------------------------------------|------------------------------------------------|
    | ``distanceFromCatching``                    | the catch meter, 0..1                          |
    | ``caught``, ``escaped``, ``perfect``        | outcome flags                                  |
    | ``fish``, ``difficulty``, ``fishing_level`` | what this minigame is                          |
    | ``tick``                                    | game ticks since the minigame opened           |
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, action_space: Mapping[str, Any] | None = None, ticks_per_step: int = 2,
                 frame_stack: int = 4, size: tuple[int, int] = (84, 84), interpolation: str = "area",
                 grayscale: bool = False,
                 max_steps: int = 2000, render_mode: str | None = None, **game_options: Any):
        # None is the default; {} is a dict without actions (refused below), not the default
        self.action_spec = HybridActionSpec.from_seed_dict(DEFAULT_ACTIONS if action_space is None else action_space)
        self.action_space = self.action_spec.space
        # checked like the game options: 0 froze the game (no tick per step) and 1.5 was silently 1
        self.ticks_per_step = positive_int_option("ticks_per_step", ticks_per_step)
        self.max_steps = positive_int_option("max_steps", max_steps)
        frame_stack = positive_int_option("frame_stack", frame_stack)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: {render_mode!r} not one of {self.metadata['render_modes']} or None")
        self.render_mode = render_mode
        self.pre = FramePreprocessor(size=size, grayscale=grayscale, interpolation=interpolation)
        # the pictures are pygame's (frame() below): without it, say so here rather than at the first reset
        import_optional("pygame", "FishingPixels-v0 (it draws the fishing window offscreen)", extra="screen")
        self.stack = FrameStack(frame_stack)
        self.observation_space = spaces.Box(0, 255, (frame_stack, *self.pre.shape), np.uint8)
        # this env scores and paces its steps itself (step below): these game options would change nothing
        for name, instead in (("reward", "its reward is fixed (100 x meter change, +-10 at the end)"),
                              ("reward_weights", "its reward is fixed (100 x meter change, +-10 at the end)"),
                              ("frame_skip", "use ticks_per_step")):
            if name in game_options:
                raise ValueError(f"{name}: FishingPixels-v0 does not use this game option; {instead}")
        config = GameConfig().with_options(game_options, others=(
            "action_space", "ticks_per_step", "frame_stack", "size", "interpolation", "grayscale", "max_steps",
            "render_mode"))
        self.game = FishingGame(config, seed=0, pause_ticks=1)
        self._press_types = {i for i, n in enumerate(self.action_spec.type_names) if n == "hold"}
        self._key_type = self.action_spec.type_names.index("key") if "key" in self.action_spec.type_names else -1
        # a key reels as the window sees it: "c", or space by any of its names ("space", "Space", "spacebar")
        self._reel_key_idx = [i for i, k in enumerate(self.action_spec.keys)
                              if (k if len(k) == 1 else pynput_key_name(k)) in REEL_KEYS]
        if not self._press_types and not self._reel_key_idx:
            raise ValueError(
                f"action_space: no action of {action_space!r} can reel in FishingPixels-v0 (types "
                f"{list(self.action_spec.type_names)}, keys {list(self.action_spec.keys)}): the reel is down only "
                f"during a 'hold' step (list 'hold' in mouse actions) or a 'key' step with a reel key "
                f"({' or '.join(repr(k) for k in REEL_KEYS)}) set; click, drag, move and other keys never reel")
        self._steps = 0
        self._last_frame: np.ndarray | None = None
        self._stream_seeded = False  # the game above plays seed 0's stream until reset seeds it
        self._end = EpisodeEnd()  # what steps after the end of the episode return

    def pressed(self, action: Mapping[str, Any]) -> bool:
        """Whether the reel button is down during a step with this action (as the game window sees it); an action
        outside the action space is an error naming the key and the value (as ScreenGame-v0's)."""
        action = self.action_spec.check_action(action)
        t = action["type"]
        if t in self._press_types:
            return True
        if t == self._key_type:
            k = action["keys"]
            return bool(any(k[i] for i in self._reel_key_idx))
        return False

    def frame(self) -> np.ndarray:
        """The game's picture, RGB (600, 168, 3): ``FishingGame.frame()``, the window's picture bit for bit."""
        return self.game.frame()

    def _obs(self, first: bool = False) -> np.ndarray:
        self._last_frame = self.frame()
        f = self.pre(self._last_frame)
        return self.stack.reset(f) if first else self.stack.push(f)

    def _progress(self) -> float:
        return float(self.game.sim.F[0][_F_PROGRESS])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if options:  # the fish comes from the game's stream, set when the env is made: refuse, not ignore
            raise ValueError(f"reset: FishingPixels-v0 takes no options (got {sorted(options)}); give game "
                             "options such as fish= or level= when the env is made")
        super().reset(seed=seed)
        if seed is not None:
            self.game.reset(seed)
            self._stream_seeded = True
        elif not self._stream_seeded:  # not seed 0's fish in every unseeded env (e.g. a vector env's copies)
            self.game.reset(int(self.np_random.integers(0, 2**62)))
            self._stream_seeded = True
        elif self.game.paused:
            while self.game.paused:  # the next fish of the same stream
                self.game.tick(False)
        elif self._steps > 0:  # truncated (or reset mid-episode): a new fish, not the rest of this one
            self.game.new_minigame()
        self._steps = 0
        self._episodes0 = self.game.episodes
        self._end.clear()
        return self._obs(first=True), self._info()

    def _info(self) -> dict:
        st = self.game.sim.state_dict(0)
        return {k: st[k] for k in ("distanceFromCatching", "caught", "escaped", "perfect", "fish", "difficulty",
                                   "fishing_level", "tick")}

    def step(self, action: Mapping[str, Any]):
        pressed = self.pressed(action)
        if self._end.ended:
            return self._end.step()
        before = self._progress()
        done = False
        for _ in range(self.ticks_per_step):
            self.game.tick(pressed)
            if self.game.episodes != self._episodes0:
                done = True
                break
        self._steps += 1
        info = self._info()
        # the game's own max_ticks cap ends a minigame with the fish neither caught nor escaped: a truncation
        cut = done and self.game.last_outcome == "truncated"
        if done and not cut:
            caught = self.game.last_outcome == "caught"
            after = 1.0 if caught else 0.0
            info.update(caught=caught, escaped=self.game.last_outcome == "escaped")
            reward = 100.0 * (after - before) + (10.0 if caught else -10.0)
        else:
            reward = 100.0 * (self._progress() - before)
        obs = self._obs()
        terminated = done and not cut
        truncated = cut or (not done and self._steps >= self.max_steps)
        self._end.record(obs, terminated, truncated, info)
        return obs, float(reward), terminated, truncated, info

    def render(self):
        return self._last_frame

    def close(self):
        if self.game.renderer is not None:
            self.game.renderer.close()


from envs.stardew import rules as _R  # noqa: E402

_F_PROGRESS = _R.F_PROGRESS
