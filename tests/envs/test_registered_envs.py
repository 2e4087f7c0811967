"""Every env the package registers passes Gymnasium's own checker, and Stable-Baselines3's where SB3 is installed
(it is not in the envs-only venvs), built the way a user builds it: ``gym.make(env_id, ...)``."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

from envs.games.fishing import FishingGame
from envs.registration import ENVS, GYMNASIUM_1
from envs.screen.capture import ReplayCapture
from envs.stardew import rules as R


def screen_kwargs() -> dict:
    """ScreenGame-v0 without a display: frames of the fishing window replayed, input that sends nothing."""
    from envs.games.fishing_screen import FISHING_ACTIONS, fishing_reward

    game = FishingGame(seed=7)
    frames = []
    for t in range(40):
        game.tick(t % 3 == 0)
        frames.append(game.frame())
    return dict(action_space=FISHING_ACTIONS, capture=ReplayCapture(frames), input="dry-run", step_hz=None,
                reward=fishing_reward())


# envs that exist only as a live game window: their spaces and steps are checked on the real game, under Xvfb
LIVE_WINDOW_ONLY = {
    "XJumpScreen-v0": "tests/agents/hybrid/test_xjump_game.py plays the real xjump window",
}

# how each registered env is made for the check; a new env id needs a line here (the first test says so)
KWARGS = {
    "StardewFishing-v0": dict,
    "FishingPixels-v0": dict,
    "ScreenGame-v0": screen_kwargs,
}

# what the screen env's step clock measured: wall time, never the same twice, so Gymnasium 1.x's determinism
# check (two steps from one seed, infos compared) must not see it
CLOCK_INFO = ("step_time_s", "overrun_s", "late_start_s", "overruns", "frame_time")


class WithoutClockInfo(gym.Wrapper):
    def step(self, action):
        *out, info = self.env.step(action)
        return *out, {k: v for k, v in info.items() if k not in CLOCK_INFO}


def test_every_registered_env_has_a_check_here():
    assert set(KWARGS) | set(LIVE_WINDOW_ONLY) == set(ENVS) and not set(KWARGS) & set(LIVE_WINDOW_ONLY)


@pytest.mark.parametrize("env_id", sorted(KWARGS))
def test_gymnasium_check_env_passes(env_id):
    env = gym.make(env_id, **KWARGS[env_id]())
    try:
        inner = env.unwrapped
        gym_check_env(WithoutClockInfo(inner) if GYMNASIUM_1 else inner, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", sorted(KWARGS))
def test_stable_baselines3_check_env_passes(env_id):
    sb3_check_env = pytest.importorskip("stable_baselines3.common.env_checker").check_env
    env = gym.make(env_id, **KWARGS[env_id]())
    try:
        with warnings.catch_warnings():
            # SB3's checker warns that its own algorithms take no Dict action (ScreenGame-v0's): the project's
            # hybrid policy is what trains on it
            warnings.filterwarnings("ignore", message=".*action space.*", category=UserWarning)
            sb3_check_env(env)
    finally:
        env.close()


@pytest.mark.parametrize("value", [True, False, 1, 0, np.bool_(True), np.int64(0)])
def test_a_flag_takes_true_or_false_or_1_or_0_in_every_env(value):
    sim = gym.make("StardewFishing-v0", training_rod=value).unwrapped
    pixels = gym.make("FishingPixels-v0", grayscale=value).unwrapped
    cfg_i, _, _ = sim.config.compile()
    assert cfg_i[R.C_BEGINNER_ROD] == int(bool(value))  # what the game plays with
    assert len(pixels.observation_space.shape) == (3 if value else 4)  # (stack, h, w) in grey, (..., 3) in colour
    sim.close()
    pixels.close()


@pytest.mark.parametrize("value", ["no", 2, None, 0.5])
def test_anything_else_is_refused_by_the_same_rule_in_every_env(value):
    for env_id, option in (("StardewFishing-v0", "training_rod"), ("FishingPixels-v0", "grayscale")):
        with pytest.raises(ValueError, match=rf"^{option}: True or False \(or 1 or 0\), got "):
            gym.make(env_id, **{option: value})
