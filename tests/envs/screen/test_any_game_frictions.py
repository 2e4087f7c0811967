"""The smaller frictions of wrapping a new game: key-only actions, a per-step reward term, the action spec of a
``gym.make`` env without warnings."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from envs.screen.capture import ReplayCapture
from envs.screen.rewards import MeanColour, ProbeReward, Term
from envs.screen.screen_env import ScreenGameEnv, action_spec_of

FRAMES = [np.full((48, 64, 3), v, np.uint8) for v in (10, 60, 110)]


def key_only_env(**kw) -> ScreenGameEnv:
    return ScreenGameEnv({"keys": ["left", "right"]}, capture=ReplayCapture(FRAMES), input="dry-run",
                         step_hz=None, **kw)


def test_a_key_only_game_sends_type_and_keys_without_pointer_fields() -> None:
    env = key_only_env()
    env.reset()
    env.step({"type": 1, "keys": [0, 1]})
    env.step({"type": 0})  # none: nothing to give
    assert env._backend.events == [("key", "right", True), ("key", "right", False)]
    with pytest.raises(ValueError, match=r"action: missing \['keys'\]"):
        env.step({"type": 1})  # a key step must say which keys
    env.close()


def test_a_probe_reward_adds_its_per_step_term_on_every_step() -> None:
    probe = MeanColour((0, 0, 4, 4), target=(255, 255, 255))
    env = key_only_env(reward=ProbeReward(terms=[Term(probe, weight=2.0, mode="value")], per_step=-0.25), render_mode="rgb_array")
    env.reset()
    for _ in range(2):
        r = env.step({"type": 0})[1]
        assert r == pytest.approx(2.0 * probe.value(env.render()) - 0.25)
    env.close()
    env = key_only_env(reward=ProbeReward(per_step=0.1))  # a constant alone: a reward for staying alive
    env.reset()
    assert [env.step({"type": 0})[1] for _ in range(3)] == pytest.approx([0.1] * 3)
    env.close()
    with pytest.raises(ValueError, match="ProbeReward.per_step: need a finite number"):
        ProbeReward(per_step="-0.1")


def test_action_spec_of_a_gym_made_screen_game_is_read_without_a_warning() -> None:
    import envs  # noqa: F401

    env = gym.make("ScreenGame-v0", action_space={"keys": ["x"]}, capture=ReplayCapture(FRAMES), input="dry-run",
                   step_hz=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert env.action_spec is env.unwrapped.action_spec  # gym.make's outermost wrapper has it
        assert action_spec_of(gym.wrappers.RecordEpisodeStatistics(env)) is env.unwrapped.action_spec
    assert action_spec_of(gym.make("CartPole-v1")) is None
    env.close()
