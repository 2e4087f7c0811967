"""Bad input to ScreenGame-v0 and FishingPixels-v0: a clear error naming the option, field or action key, at
construction where it can be known then, and nothing sent for an action that is not in the action space (the env
drives a real mouse and keyboard: an action or option that silently meant something else is a safety problem).

No display: dry-run input and ReplayCapture of 160x120 frames.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the envs on Gymnasium 1.x)
from envs.screen.actions import HybridActionSpec
from envs.screen.capture import Region, ReplayCapture
from envs.screen.inputs import DryRunInput, InputController
from envs.screen.preprocess import FramePreprocessor, FrameStack
from envs.screen.rewards import BarFill, MeanColour, TemplateMatch, Term, When
from envs.screen.screen_env import ScreenGameEnv

W, H = 160, 120
ACTIONS = {"keys": ["c", "space"], "mouse": {"min_pos": [0, 0], "max_pos": [W, H], "actions": ["click", "drag"]}}
NAN = float("nan")


def frames(n: int = 4) -> list[np.ndarray]:
    return [np.full((H, W, 3), 10 * (i + 1), np.uint8) for i in range(n)]


def make_env(**kw) -> ScreenGameEnv:
    opts = dict(action_space=ACTIONS, capture=ReplayCapture(frames()), input="dry-run", step_hz=None)
    opts.update(kw)
    return ScreenGameEnv(**opts)


def events(env: ScreenGameEnv) -> list[tuple]:
    return env.unwrapped._backend.events


# -- 1. the pointer's range: mouse.min_pos / max_pos --------------------------------------------------------------
@pytest.mark.parametrize("field", ["min_pos", "max_pos"])
@pytest.mark.parametrize("value", [5, ["a", 0], [NAN, 0], [0, float("inf")], [1, 2, 3], "ab", [True, 1]])
def test_a_pointer_bound_that_is_not_two_finite_numbers_is_refused_naming_the_field(field, value):
    mouse = {"min_pos": [0, 0], "max_pos": [W, H], field: value}
    with pytest.raises(ValueError, match=rf"action_space\['mouse'\]\['{field}'\]: need \[x, y\], two finite numbers"):
        make_env(action_space={"mouse": mouse})
    with pytest.raises(ValueError, match=rf"^{field}: need \[x, y\]"):
        HybridActionSpec(**{field: value})


@pytest.mark.parametrize(("mn", "mx", "axis"), [([100, 0], [50, H], "x"), ([0, 60], [W, 60], "y"),
                                                ([10, 10], [5, 5], "x and y")])
def test_a_min_pos_not_below_max_pos_is_refused_rather_than_flipping_the_axis(mn, mx, axis):
    with pytest.raises(ValueError, match=rf"action_space\['mouse'\]\['min_pos'\] and action_space\['mouse'\]"
                                         rf"\['max_pos'\]: .* is not below .* in {axis}: need min_pos < max_pos"):
        make_env(action_space={"mouse": {"min_pos": mn, "max_pos": mx}})


@pytest.mark.parametrize("field", ["min_pos", "max_pos"])
def test_a_negative_pointer_bound_is_refused_it_would_leave_the_region(field):
    mouse = {"min_pos": [0, 0], "max_pos": [W, H], field: [-20, 0]}
    with pytest.raises(ValueError, match=rf"\['{field}'\]: \[-20(\.0)?, 0(\.0)?\] is left of or above the region"):
        make_env(action_space={"mouse": mouse})


def test_a_max_pos_beyond_the_region_is_refused_at_reset_naming_the_field_and_the_region_size():
    env = make_env(action_space={"keys": ["c"], "mouse": {"max_pos": [640, 480]}})
    with pytest.raises(ValueError, match=r"action_space\['mouse'\]\['max_pos'\]: \[640\.0, 480\.0\] is beyond the "
                                         r"captured region's size 160x120 \(width x height\)"):
        env.reset()
    assert events(env) == []
    env.close()
    env = make_env(action_space={"mouse": {"min_pos": [W - 1, 0]}})  # the default max_pos is the last pixel
    with pytest.raises(ValueError, match=r"\['min_pos'\]: \[159\.0, 0\.0\] is not below"):
        env.reset()
    env.close()


@pytest.mark.parametrize("max_pos", [[W, H], [W, 100], [159.6, 119.6], [120.4, 80.5], None])
@pytest.mark.parametrize("min_pos", [None, [0.4, 0.6], [30, 20]])
def test_every_pointer_lands_inside_min_pos_max_pos_and_the_region(min_pos, max_pos):
    spec = HybridActionSpec(keys=(), mouse_actions=("click",), min_pos=min_pos, max_pos=max_pos)
    lo = np.array(min_pos or (0, 0), float)
    hi = np.minimum(np.array(max_pos or (W, H), float), (W - 1, H - 1))
    for x in np.linspace(-1, 1, 41):
        for y in (-1.0, -0.31, 0.0, 0.5, 1.0):
            px, py = spec.to_pixels([x, y], (W, H))
            assert 0 <= px <= W - 1 and 0 <= py <= H - 1
            assert lo[0] <= px <= hi[0] and lo[1] <= py <= hi[1]
    # a region that shrank below max_pos (a followed window made smaller): still inside it
    assert HybridActionSpec(max_pos=(W, H)).to_pixels([1, 1], (100, 50)) == (99, 49)
    # x equal to the width is the last pixel although y is not the height (it was x = 160, off the window)
    assert HybridActionSpec(max_pos=(W, 100)).to_pixels([1, 1], (W, H)) == (W - 1, 100)


# -- 2. the action-space dict's entries -------------------------------------------------------------------------
@pytest.mark.parametrize(("space", "message"), [
    ({"keys": None}, r"action_space\['keys'\]: need a list of key names, got None"),
    ({"keys": 5}, r"action_space\['keys'\]: need a list of key names, got 5"),
    ({"keys": {"c", "space"}}, r"action_space\['keys'\]: need a list of key names"),
    ({"mouse": {"actions": None}}, r"action_space\['mouse'\]\['actions'\]: need a list of mouse actions"),
    ({"mouse": {"actions": 3}}, r"action_space\['mouse'\]\['actions'\]: need a list of mouse actions"),
    ({"keys": ["c"], "mouse": []}, r"action_space\['mouse'\]: need a dict .*\(or leave it out for no mouse\), got \[\]"),
    ({"keys": ["c"], "mouse": None}, r"action_space\['mouse'\]: need a dict"),
])
def test_action_space_entries_of_the_wrong_type_are_refused_naming_the_entry(space, message):
    with pytest.raises(ValueError, match=message):
        make_env(action_space=space)


def test_hybrid_action_spec_refuses_keys_or_mouse_actions_that_are_not_lists():
    with pytest.raises(ValueError, match=r"^keys: need a list of key names, got None"):
        HybridActionSpec(keys=None)
    with pytest.raises(ValueError, match=r"^mouse actions: need a list"):
        HybridActionSpec(mouse_actions=None)


# -- 3. actions outside the Dict action space -------------------------------------------------------------------
def action(**kw):
    a = {"type": 1, "pointer": np.zeros(2, np.float32), "drag_end": np.zeros(2, np.float32),
         "keys": np.zeros(2, np.int8)}
    a.update(kw)
    return a


BAD_ACTIONS = [
    (action(type=99), ValueError, r"action\['type'\]: 99 is not in Discrete\(4\)"),
    (action(type=-1), ValueError, r"action\['type'\]: -1 is not in Discrete\(4\)"),
    (action(type=4), ValueError, r"action\['type'\]: 4 is not in Discrete\(4\)"),
    (action(type=1.7), ValueError, r"action\['type'\]: 1\.7 is not in Discrete\(4\): need an integer 0\.\.3"),
    (action(type=1.0), ValueError, r"action\['type'\]: 1\.0 is not in Discrete"),
    (action(type=None), ValueError, r"action\['type'\]: None is not in Discrete"),
    (action(type=True), ValueError, r"action\['type'\]: True is not in Discrete"),
    (action(type="1"), ValueError, r"action\['type'\]: '1' is not in Discrete"),
    (action(type=np.array([1])), ValueError, r"action\['type'\]: array\(\[1\]\) is not in Discrete"),
    ({k: v for k, v in action().items() if k != "type"}, ValueError, r"action: missing \['type'\]"),
    ({"type": 1}, ValueError, r"action: missing \['pointer'\]"),  # a click reads the pointer
    ({"type": 2, "pointer": [0, 0]}, ValueError, r"action: missing \['drag_end'\]"),
    (action(pointr=[0, 0]), ValueError, r"action: unknown \['pointr'\]"),
    (3, TypeError, r"action: need a dict with keys 'type', 'pointer', 'drag_end', 'keys'"),
    (None, TypeError, r"action: need a dict"),
    (action(type=3, keys=[1, 0, 1]), ValueError, r"action\['keys'\]: need 2 values of 0 or 1 \(one per key of "
                                                 r"\['c', 'space'\]\), got \[1, 0, 1\]"),
    (action(type=3, keys=[1]), ValueError, r"action\['keys'\]: need 2 values"),
    (action(type=3, keys=[2, 0]), ValueError, r"action\['keys'\]: \[2, 0\] is not in MultiBinary\(2\): every value "
                                              r"must be 0 or 1"),
    (action(type=3, keys=[0.5, 0]), ValueError, r"action\['keys'\]: .* is not in MultiBinary"),
    (action(type=3, keys=["1", "0"]), ValueError, r"action\['keys'\]: need 2 values"),
    (action(pointer=[NAN, 0]), ValueError, r"action\['pointer'\]: \[nan, 0\] is not finite"),
    (action(pointer=[0, 0, 0]), ValueError, r"action\['pointer'\]: need 2 numbers \(x, y\) in \[-1, 1\]"),
    (action(pointer=[[0, 0]]), ValueError, r"action\['pointer'\]: need 2 numbers"),
    (action(pointer=["a", "b"]), ValueError, r"action\['pointer'\]: need 2 numbers"),
    (action(pointer=[1.5, 0]), ValueError, r"action\['pointer'\]: \[1\.5, 0\] is outside Box\(-1, 1, \(2,\)\)"),
    (action(type=2, drag_end=[0, -1.01]), ValueError, r"action\['drag_end'\]: \[0, -1\.01\] is outside Box"),
    (action(type=2, drag_end=[0, float("inf")]), ValueError, r"action\['drag_end'\]: .* is not finite"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_ACTIONS)
def test_an_action_outside_the_space_is_refused_naming_the_key_and_nothing_is_pressed(bad, error, message):
    env = make_env()
    env.reset()
    spec = env.action_spec
    env.step(spec.make("key", keys=["c"]))
    with pytest.raises(error, match=message):
        env.step(bad)
    # nothing was sent for it; what was held was released (an exception in step releases everything)
    assert events(env) == [("key", "c", True), ("key", "c", False)]
    env.close()


@pytest.mark.parametrize(("bad", "error", "message"), BAD_ACTIONS[:6] + BAD_ACTIONS[14:17])
def test_the_input_controller_refuses_an_action_outside_the_space_before_sending_anything(bad, error, message):
    spec = HybridActionSpec.from_seed_dict(ACTIONS)
    b = DryRunInput()
    ctl = InputController(spec, b)
    with pytest.raises(error, match=message):
        ctl.apply(bad, Region(0, 0, W, H))
    assert b.events == []


def test_actions_in_the_space_are_accepted_in_their_usual_forms():
    env = make_env()
    env.reset()
    for t in (np.int64(1), np.array(1), np.uint8(1), 1):
        *_, info = env.step(action(type=t, pointer=[1, -1]))
        assert info["action_type"] == "click"
    # float32 rounding just beyond the bound is clipped, not refused; lists and bools are fine for keys
    env.step(action(type=1, pointer=np.array([1.0000001, -1.0000001], np.float32)))
    env.step(action(type=3, keys=[True, False]))
    env.step(env.action_space.sample())
    assert events(env)[:3] == [("move", W - 1, 0), ("button", "left", True), ("button", "left", False)]
    assert events(env)[12:15] == [("move", W - 1, 0), ("button", "left", True), ("button", "left", False)]
    assert ("key", "c", True) in events(env)
    env.close()


def test_a_wrong_action_through_gym_make_is_refused_as_well():
    env = gym.make("ScreenGame-v0", action_space=ACTIONS, capture=ReplayCapture(frames()), input="dry-run",
                   step_hz=None)
    env.reset()
    with pytest.raises(ValueError, match=r"action\['type'\]: -1"):
        env.step(action(type=-1))
    assert events(env) == []
    env.close()


# -- 4. what the reward object returns ---------------------------------------------------------------------------
class Returns:
    def __init__(self, reward=0.0, terminated=False, truncated=False):
        self.r, self.te, self.tr = reward, terminated, truncated

    def calculate_reward(self, current_frame, previous_frames, action):
        return self.r

    def is_terminated(self, current_frame, previous_frames):
        return self.te

    def is_truncated(self, current_frame, previous_frames):
        return self.tr


@pytest.mark.parametrize(("value", "error", "message"), [
    (None, TypeError, r"returned None \(NoneType\): need a finite real number"),
    (np.array([1.0]), TypeError, r"returned array\(\[1\.\]\) \(ndarray\)"),
    ("1.5", TypeError, r"returned '1\.5' \(str\)"),
    (True, TypeError, r"returned True \(bool\): need a finite real number .*not a bool"),
    (NAN, ValueError, r"returned nan: need a finite number"),
    (float("-inf"), ValueError, r"returned -inf: need a finite number"),
])
def test_a_reward_that_is_not_a_finite_real_number_is_an_error_naming_calculate_reward(value, error, message):
    env = make_env(reward=Returns(reward=value))
    env.reset()
    with pytest.raises(error, match=r"reward\.calculate_reward \(Returns\) " + message):
        env.step(env.action_spec.make("key", keys=["c"]))
    assert events(env) == [("key", "c", True), ("key", "c", False)]
    env.close()


@pytest.mark.parametrize("value", [1, 2.5, np.float32(1.5), np.int64(-3), np.float64(0.25)])
def test_rewards_of_python_or_numpy_numbers_are_accepted_as_floats(value):
    env = make_env(reward=Returns(reward=value))
    env.reset()
    _, r, *_ = env.step(env.action_spec.noop())
    assert type(r) is float and r == pytest.approx(float(value))
    env.close()


@pytest.mark.parametrize("method", ["is_terminated", "is_truncated"])
@pytest.mark.parametrize("value", ["False", 0, 1, None, np.array([False])])
def test_an_end_check_that_does_not_return_a_bool_is_an_error_naming_the_method(method, value):
    env = make_env(reward=Returns(**{method[3:]: False}))
    env.reset()
    setattr(env.reward_fn, "te" if method == "is_terminated" else "tr", value)
    with pytest.raises(TypeError, match=rf"reward\.{method} \(Returns\) returned .*: need True or False"):
        env.step(env.action_spec.noop())
    with pytest.raises(TypeError, match=rf"reward\.{method} \(Returns\) returned"):
        env.reset()  # reset checks the end condition too
    env.close()


def test_numpy_bools_from_an_end_check_are_accepted():
    env = make_env(reward=Returns(terminated=np.bool_(False), truncated=np.bool_(False)))
    env.reset()
    env.reward_fn.te = np.bool_(True)
    _, _, terminated, truncated, _ = env.step(env.action_spec.noop())
    assert terminated is True and truncated is False
    env.close()


# -- 5. numbers: step_hz, reset_timeout_s, window_wait_s ----------------------------------------------------------
@pytest.mark.parametrize(("option", "value", "message"), [
    ("step_hz", "fast", r"step_hz: a finite number > 0 \(steps per second\) or None, got 'fast'"),
    ("step_hz", NAN, r"step_hz: a finite number > 0 .* got nan"),
    ("step_hz", float("inf"), r"step_hz: a finite number > 0 .* got inf"),
    ("step_hz", 0, r"step_hz: a finite number > 0"),
    ("step_hz", -5.0, r"step_hz: a finite number > 0"),
    ("step_hz", True, r"step_hz: a finite number > 0 .* got True"),
    ("reset_timeout_s", "x", r"reset_timeout_s: a finite number >= 0, got 'x'"),
    ("reset_timeout_s", NAN, r"reset_timeout_s: a finite number >= 0, got nan"),
    ("reset_timeout_s", -1, r"reset_timeout_s: a finite number >= 0, got -1"),
    ("window_wait_s", "5", r"window_wait_s: a finite number >= 0, got '5'"),
    ("window_class", 5, r"window_class: need a string or None, got 5"),
    ("window_title", ["Game"], r"window_title: need a string or None, got \['Game'\]"),
])
def test_a_time_or_window_option_of_the_wrong_type_or_range_is_refused_naming_it(option, value, message):
    with pytest.raises(ValueError, match=message):
        make_env(**{option: value})


def test_time_options_accept_ints_and_numpy_numbers():
    env = make_env(step_hz=np.float32(20), reset_timeout_s=0, window_wait_s=np.int64(2))
    assert env.period == pytest.approx(0.05) and env.reset_timeout_s == 0.0
    env.close()


# -- 6. sizes and flags: stack, frame_size, grayscale, drag_steps; FishingPixels' frame_stack, size, grayscale ---
@pytest.mark.parametrize(("option", "value", "message"), [
    ("stack", 0, r"stack: an integer >= 1, got 0"),
    ("stack", 2.5, r"stack: an integer >= 1, got 2\.5"),
    ("stack", True, r"stack: an integer >= 1, got True"),
    ("stack", "4", r"stack: an integer >= 1, got '4'"),
    ("frame_size", 84, r"frame_size: need \(height, width\), two integers >= 1, got 84"),
    ("frame_size", ("a", 84), r"frame_size: need \(height, width\), two integers >= 1, got \('a', 84\)"),
    ("frame_size", (84.7, 84), r"frame_size: .* got \(84\.7, 84\)"),
    ("frame_size", (0, 84), r"frame_size: .* got \(0, 84\)"),
    ("frame_size", (84, 84, 3), r"frame_size: .* got \(84, 84, 3\)"),
    ("grayscale", "no", r"grayscale: True or False \(or 1 or 0\), got 'no'"),
    ("grayscale", 2, r"grayscale: True or False \(or 1 or 0\), got 2"),
    ("grayscale", None, r"grayscale: True or False \(or 1 or 0\), got None"),
    ("drag_steps", 0, r"drag_steps: an integer >= 1, got 0"),
    ("drag_steps", -3, r"drag_steps: an integer >= 1, got -3"),
    ("drag_steps", 2.5, r"drag_steps: an integer >= 1, got 2\.5"),
])
def test_a_size_or_flag_option_of_the_wrong_type_or_range_is_refused_naming_it(option, value, message):
    with pytest.raises(ValueError, match=message):
        make_env(**{option: value})
    with pytest.raises(ValueError, match=message):
        gym.make("ScreenGame-v0", action_space=ACTIONS, capture=ReplayCapture(frames()), input="dry-run",
                 **{option: value})


def test_size_and_flag_options_accept_numpy_values():
    env = make_env(stack=np.int64(2), frame_size=(np.int64(40), 30), grayscale=np.bool_(False),
                   drag_steps=np.int32(3))
    assert env.observation_space.shape == (2, 40, 30, 3) and env.input.drag_steps == 3
    env.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"size": 84}, r"^size: need \(height, width\), two integers >= 1, got 84"),
    ({"size": (84.7, 84)}, r"^size: .* got \(84\.7, 84\)"),
    ({"grayscale": "no"}, r"^grayscale: True or False \(or 1 or 0\), got 'no'"),
    ({"gray_weights": (NAN, 1, 1)}, r"^gray_weights: need three finite non-negative"),
    ({"gray_weights": (0, 0, 0)}, r"^gray_weights: .* not all 0"),
])
def test_frame_preprocessor_refuses_bad_options_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FramePreprocessor(**kwargs)


@pytest.mark.parametrize("depth", [0, 2.5, True, "4"])
def test_frame_stack_refuses_a_depth_that_is_not_a_positive_integer_naming_it(depth):
    with pytest.raises(ValueError, match=rf"^depth: an integer >= 1, got {depth!r}"):
        FrameStack(depth)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("frame_stack", 0, r"frame_stack: an integer >= 1, got 0"),
    ("frame_stack", 2.5, r"frame_stack: an integer >= 1, got 2\.5"),
    ("frame_stack", True, r"frame_stack: an integer >= 1, got True"),
    ("frame_stack", "4", r"frame_stack: an integer >= 1, got '4'"),
    ("size", 84, r"size: need \(height, width\), two integers >= 1, got 84"),
    ("size", ("a", 84), r"size: .* got \('a', 84\)"),
    ("size", (84.7, 84), r"size: .* got \(84\.7, 84\)"),
    ("grayscale", "no", r"grayscale: True or False \(or 1 or 0\), got 'no'"),
    ("render_mode", "bogus", r"render_mode: 'bogus' not one of \['rgb_array'\] or None"),
])
def test_fishing_pixels_refuses_a_bad_frame_option_naming_it(option, value, message):
    from envs.games.fishing_pixels import FishingPixelsEnv

    with pytest.raises(ValueError, match=message):
        FishingPixelsEnv(**{option: value})


# -- 7. objects given for input, capture, reset_hook, preprocessor ----------------------------------------------
def test_an_input_object_without_the_backend_methods_is_refused_naming_input_even_with_the_stop_hotkey():
    # with the default stop_hotkey the construction went on to the hotkey and its cleanup then failed with
    # "AttributeError: 'int' object has no attribute 'close'", hiding what was wrong
    with pytest.raises(TypeError, match=r"input: 5 is not an input backend .*: it has no move\(\), button\(\), "
                                        r"key\(\), close\(\) method"):
        ScreenGameEnv(action_space=ACTIONS, capture=ReplayCapture(frames()), input=5, step_hz=None)

    class NoClose:
        def move(self, x, y): ...
        def button(self, name, down): ...
        def key(self, name, down): ...

    with pytest.raises(TypeError, match=r"input: .*NoClose.* has no close\(\) method"):
        make_env(input=NoClose())


@pytest.mark.parametrize("capture", [5, object(), [np.zeros((4, 4, 3), np.uint8)]])
def test_a_capture_that_is_not_mss_or_a_capture_object_is_refused_at_construction(capture):
    with pytest.raises((TypeError, ValueError), match=r"capture: "):
        make_env(capture=capture)


def test_a_capture_with_an_unknown_channel_order_is_refused_naming_it():
    cap = ReplayCapture(frames())
    cap.order = "gray"
    with pytest.raises(ValueError, match=r"capture\.order: 'gray' not one of \('rgb', 'bgr', 'bgra', 'rgba'\)"):
        make_env(capture=cap)
    with pytest.raises(ValueError, match=r"ReplayCapture\.order: 'bgrx' not one of"):
        ReplayCapture(frames(), order="bgrx")


@pytest.mark.parametrize("hook", [5, "restart"])
def test_a_reset_hook_that_is_not_callable_is_refused_at_construction(hook):
    with pytest.raises(TypeError, match=rf"reset_hook: {hook!r} is not callable"):
        make_env(reset_hook=hook)


def test_a_preprocessor_that_is_not_one_is_refused_naming_it():
    with pytest.raises(TypeError, match=r"preprocessor: \(84, 84\) is not a FramePreprocessor"):
        make_env(preprocessor=(84, 84))


def test_a_failing_cleanup_does_not_hide_why_construction_failed():
    class BadClose(ReplayCapture):
        def close(self):
            raise RuntimeError("close failed")

    with pytest.raises(ValueError, match=r"input: 'keyboard' not 'pynput', 'dry-run'"):
        make_env(capture=BadClose(frames()), input="keyboard")


# -- 8. probes ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "message"), [
    (lambda: BarFill((0, 0, 10, 10), empty=(0, 0, 0), tol="x"), r"BarFill\.tol: need a finite number >= 0, got 'x'"),
    (lambda: BarFill((0, 0, 10, 10), empty=(0, 0, 0), tol=NAN), r"BarFill\.tol: .* got nan"),
    (lambda: BarFill((0, 0, 10, 10), empty=(0, 0, 0), tol=-1), r"BarFill\.tol: need a finite number >= 0, got -1"),
    (lambda: BarFill((0, 0, 10, 10), empty=(0, 0, 0), tol=True), r"BarFill\.tol: .* got True"),
    (lambda: BarFill((0, 0, 10, 10), fill=None, empty=(0, 0, 0)), r"BarFill\.fill: need a list of"),
    (lambda: MeanColour(None, target=(300, -5, 0)), r"MeanColour\.target: \(300, -5, 0\): r, g and b must each be "
                                                    r"0\.\.255"),
    (lambda: MeanColour(None, target=(10.7, 0, 0)), r"MeanColour\.target: need an \(r, g, b\) colour of three "
                                                    r"integers 0\.\.255, got \(10\.7, 0, 0\)"),
    (lambda: BarFill((0, 0, 10, 10), empty=(0.5, 0, 0)), r"BarFill\.empty: need an \(r, g, b\) colour"),
    (lambda: MeanColour((0.5, 0, 10, 10)), r"MeanColour\.rect: need \(x, y, width, height\) integers, got "
                                           r"\(0\.5, 0, 10, 10\)"),
    (lambda: BarFill((0, 0, 10.9, 10), empty=(0, 0, 0)), r"BarFill\.rect: need \(x, y, width, height\) integers"),
    (lambda: MeanColour((True, 0, 10, 10)), r"MeanColour\.rect: need \(x, y, width, height\) integers"),
    (lambda: Term(MeanColour(None), weight="2"), r"Term\.weight: need a finite number, got '2'"),
    (lambda: When(MeanColour(None), ">", "0.5"), r"When\.threshold: need a finite number, got '0\.5'"),
    (lambda: When(MeanColour(None), ">", 0.5, bonus=True), r"When\.bonus: need a finite number, got True"),
])
def test_a_probe_setting_of_the_wrong_type_or_range_is_refused_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_probe_settings_accept_numpy_integers_and_colours_read_from_a_frame():
    img = np.zeros((20, 20, 3), np.uint8)
    img[:, :] = (1, 2, 3)
    m = MeanColour((np.int64(0), 0, 10, 10), target=img[0, 0])
    assert m.target == (1, 2, 3) and m.value(img) == pytest.approx(1.0)
    assert BarFill((0, 0, 10, 10), empty=(0, 0, 0), tol=np.float32(0)).value(img) == 1.0


@pytest.mark.parametrize(("template", "message"), [
    (np.zeros((0, 0, 3), np.uint8), r"need an \(height, width, 3\) RGB or \(height, width, 4\) RGBA image with "
                                    r"height and width >= 1, .* got an array of shape \(0, 0, 3\)"),
    (np.zeros((10, 10), np.uint8), r"got an array of shape \(10, 10\)"),
    (np.zeros((10, 10, 2), np.uint8), r"got an array of shape \(10, 10, 2\)"),
    (np.ones((10, 10, 3), np.float64), r"need uint8 pixel values 0\.\.255, got dtype float64"),
    (np.full((10, 10, 3), 300), r"need uint8 pixel values 0\.\.255, got dtype int64"),
    (5, r"got 5"),
])
def test_a_template_that_is_not_an_rgb_image_is_refused_naming_the_field(template, message):
    with pytest.raises(ValueError, match=r"TemplateMatch\.template: .*" + message):
        TemplateMatch(template)


def test_a_template_path_that_is_missing_a_directory_or_not_an_image_is_refused_saying_which(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"TemplateMatch\.template: '.*nope\.png': no such file"):
        TemplateMatch(str(tmp_path / "nope.png"))
    with pytest.raises(ValueError, match=r"TemplateMatch\.template: '.*' is a directory, not an image file"):
        TemplateMatch(str(tmp_path))
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(ValueError, match=r"TemplateMatch\.template: '.*notes\.png': OpenCV cannot read it"):
        TemplateMatch(bad)  # a Path works as well as a str


def test_an_integer_template_array_in_range_is_accepted():
    img = np.zeros((40, 40, 3), np.uint8)
    img[10:20, 10:20] = 200
    tm = TemplateMatch(img[5:25, 5:25].astype(np.int64))
    assert tm.value(img) == pytest.approx(1.0, abs=1e-4)


# -- 9. FishingPixels-v0 -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pixels():
    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv()
    yield env
    env.close()


@pytest.mark.parametrize(("bad", "error", "message"), [
    ({"type": 99}, ValueError, r"action: missing \['pointer', 'drag_end', 'keys'\]"),
    (action(type=99, keys=[0, 0]), ValueError, r"action\['type'\]: 99 is not in Discrete\(5\)"),
    (action(type=-1, keys=[0, 0]), ValueError, r"action\['type'\]: -1 is not in Discrete\(5\)"),
    (action(type=3.9, keys=[0, 0]), ValueError, r"action\['type'\]: 3\.9 is not in Discrete\(5\)"),
    (action(type=4, keys=[0, 0, 1]), ValueError, r"action\['keys'\]: need 2 values of 0 or 1 \(one per key of "
                                                 r"\['c', 'space'\]\), got \[0, 0, 1\]"),
    (action(type=4, keys=[2, 0]), ValueError, r"action\['keys'\]: \[2, 0\] is not in MultiBinary\(2\)"),
    ({k: v for k, v in action().items() if k != "type"}, ValueError, r"action: missing \['type'\]"),
    (2, TypeError, r"action: need a dict"),
])
def test_fishing_pixels_refuses_an_action_outside_the_space_naming_the_key(pixels, bad, error, message):
    pixels.reset(seed=0)
    tick = pixels.game.sim.state_dict(0)["tick"]
    with pytest.raises(error, match=message):
        pixels.step(bad)
    assert pixels.game.sim.state_dict(0)["tick"] == tick  # the game did not move on


def test_fishing_pixels_presses_for_exactly_the_reeling_actions(pixels):
    spec = pixels.action_spec
    assert spec.type_names == ("none", "click", "drag", "hold", "key")
    assert pixels.pressed(spec.make("hold")) and pixels.pressed(spec.make("key", keys=["space"]))
    assert not pixels.pressed(spec.make("click")) and not pixels.pressed(spec.make("key"))
    assert pixels.pressed(action(type=np.int64(3), keys=[0, 0]))


@pytest.mark.parametrize("space", [{"keys": ["x"]}, {}, {"mouse": {"actions": ["click", "drag"]}},
                                   {"keys": ["w", "a"], "mouse": {"actions": ["move"]}}])
def test_fishing_pixels_refuses_an_action_space_in_which_no_action_can_reel(space):
    from envs.games.fishing_pixels import FishingPixelsEnv

    with pytest.raises(ValueError, match=r"action_space: no action of .* can reel in FishingPixels-v0 .*'hold' .* "
                                         r"reel key \('c' or 'space'\)"):
        FishingPixelsEnv(action_space=space)


@pytest.mark.parametrize("space", [{"keys": ["Space"]}, {"keys": ["spacebar"]}, {"mouse": {"actions": ["hold"]}}])
def test_fishing_pixels_accepts_an_action_space_that_can_reel_space_by_any_of_its_names(space):
    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv(action_space=space)
    t = env.action_spec.type_names[-1]
    assert env.pressed(env.action_spec.make(t, keys=[1] if t == "key" else ()))
    env.close()


@pytest.mark.parametrize("space", [["keys"], "keys", 5])
def test_fishing_pixels_names_action_space_when_it_is_not_a_dict(space):
    with pytest.raises(ValueError, match=r"action_space: need a dict with 'keys' and/or 'mouse'"):
        gym.make("FishingPixels-v0", action_space=space)
