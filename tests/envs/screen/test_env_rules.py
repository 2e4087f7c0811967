"""ScreenGameEnv's documented rules, each on frames the test controls (replay capture, dry-run input)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.screen.actions import HybridActionSpec
from envs.screen.capture import Region, ReplayCapture
from envs.screen.inputs import DryRunInput, InputController
from envs.screen.preprocess import FramePreprocessor
from envs.screen.rewards import MeanColour, ProbeReward, Term, When
from envs.screen.screen_env import ScreenGameEnv

ACTIONS = {"keys": ["c"], "mouse": {"actions": ["click", "hold"]}}


def flat(value: int) -> np.ndarray:
    """A 48x64 RGB frame of one gray level: its value says which frame it is."""
    return np.full((48, 64, 3), value, np.uint8)


def make_env(frames, **kw) -> ScreenGameEnv:
    opts = dict(action_space=ACTIONS, capture=ReplayCapture(frames), input="dry-run", step_hz=None)
    opts.update(kw)
    return ScreenGameEnv(**opts)


class Recorder:
    """A reward that records the frame values it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[int]]] = []

    def calculate_reward(self, current_frame, previous_frames, action):
        self.calls.append((int(current_frame[0, 0, 0]), [int(f[0, 0, 0]) for f in previous_frames]))
        return 0.0


def test_the_reward_sees_the_frames_before_the_current_one_of_this_episode_only():
    rec = Recorder()
    env = make_env([flat(v) for v in range(10, 20)], reward=rec, stack=2)
    env.reset()
    for _ in range(3):
        env.step(env.action_spec.noop())
    env.reset()
    env.step(env.action_spec.noop())
    # the replay starts over at each reset: frame 10 is the reset frame, then 11, 12, ...
    assert rec.calls == [(11, [10]), (12, [10, 11]), (13, [11, 12]), (11, [10])]
    env.close()


def test_reset_gives_a_stack_of_the_reset_frame_only():
    env = make_env([flat(v) for v in range(10, 20)])
    env.reset()
    env.step(env.action_spec.noop())
    obs, _ = env.reset()
    assert [int(f[0, 0]) for f in obs] == [10, 10, 10, 10]
    obs, *_ = env.step(env.action_spec.noop())
    assert [int(f[0, 0]) for f in obs] == [10, 10, 10, 11]
    env.close()


def test_reset_waits_on_fresh_frames_until_the_end_condition_clears():
    # the game shows its end screen (white) for two more frames, then the new round
    frames = [flat(255), flat(255), flat(40), flat(41)]
    over = ProbeReward(end=[When(MeanColour(None), ">", 0.9)])
    env = make_env(frames, reward=over, reset_timeout_s=5.0)
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs[-1], FramePreprocessor()(flat(40)))
    assert [int(f[0, 0]) for f in obs] == [40] * 4
    env.close()


def test_a_delta_term_starts_each_episode_from_its_reset_frame():
    frames = [flat(0), flat(51), flat(102)]
    reward = ProbeReward(terms=[Term(MeanColour(None), weight=1.0, mode="delta")])
    env = make_env(frames, reward=reward)
    env.reset()
    _, r1, *_ = env.step(env.action_spec.noop())
    _, r2, *_ = env.step(env.action_spec.noop())
    env.reset()
    _, r3, *_ = env.step(env.action_spec.noop())
    assert (r1, r2, r3) == pytest.approx((0.2, 0.2, 0.2))
    env.close()


def test_a_truncating_end_condition_truncates_and_a_terminating_one_terminates():
    bright = MeanColour(None)
    frames = [flat(0), flat(255)]
    for truncate in (True, False):
        reward = ProbeReward(end=[When(bright, ">", 0.9, bonus=1.0, truncate=truncate)])
        env = make_env(frames, reward=reward)
        env.reset()
        _, r, terminated, truncated, _ = env.step(env.action_spec.noop())
        assert (terminated, truncated, r) == (not truncate, truncate, 1.0)
        env.close()


def test_release_all_and_the_stop_switch_release_a_held_mouse_button():
    spec = HybridActionSpec.from_seed_dict(ACTIONS)
    b = DryRunInput()
    ctl = InputController(spec, b)
    ctl.apply(spec.make("hold", pointer=[0, 0]), Region(0, 0, 64, 48))
    ctl.release_all()
    assert b.events[-1] == ("button", "left", False) and not ctl.button_held and not ctl.holding
    env = make_env([flat(0)])
    env.reset()
    env.step(env.action_spec.make("hold", pointer=[0, 0]))
    env.stop()
    assert env._backend.events[-1] == ("button", "left", False) and not env.input.button_held
    env.close()


def test_keys_let_go_together_on_a_key_step_are_released_in_reverse_press_order():
    spec = HybridActionSpec(keys=("ctrl", "shift", "c"), mouse_actions=())
    b = DryRunInput()
    ctl = InputController(spec, b)
    region = Region(0, 0, 64, 48)
    ctl.apply(spec.make("key", keys=["ctrl", "shift", "c"]), region)
    ctl.apply(spec.make("key", keys=["shift"]), region)
    assert b.events[3:] == [("key", "c", False), ("key", "ctrl", False)] and ctl.held_keys == ["shift"]


def test_a_capture_in_another_channel_order_gives_the_same_observation_and_rgb_render():
    rng = np.random.default_rng(0)
    rgb = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in rgb]
    a = make_env(rgb, render_mode="rgb_array")
    b = make_env(bgr, capture=ReplayCapture(bgr, order="bgr"), render_mode="rgb_array")
    for env in (a, b):
        env.reset()
    np.testing.assert_array_equal(a.step(a.action_spec.noop())[0], b.step(b.action_spec.noop())[0])
    np.testing.assert_array_equal(a.render(), b.render())
    np.testing.assert_array_equal(b.render(), rgb[1])
    a.close()
    b.close()


def test_close_puts_back_the_sigint_handler_it_replaced():
    import signal

    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGINT, mine)
    try:
        env = make_env([flat(0)])
        assert signal.getsignal(signal.SIGINT) is not mine
        env.close()
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_step_limit_counts_the_steps_of_each_episode_afresh():
    env = make_env([flat(v) for v in range(10, 20)], max_episode_steps=2)
    for _ in range(2):
        env.reset()
        assert not env.step(env.action_spec.noop())[3]
        assert env.step(env.action_spec.noop())[3]
    env.close()


def test_resume_after_the_stop_switch_sends_input_again():
    env = make_env([flat(0)])
    env.reset()
    env.stop()
    env.resume()
    *_, truncated, info = env.step(env.action_spec.make("key", keys=["c"]))
    assert not truncated and not info["stopped"] and info["held_keys"] == ("c",)
    assert env._backend.events == [("key", "c", True)]
    env.close()
