"""ScreenGameEnv's logic without a display: file-replay capture and dry-run input."""

from __future__ import annotations

import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.games.fishing import FishingGame
from envs.games.fishing_screen import FISHING_ACTIONS, fishing_reward, meter_probe, read_fish_and_bar
from envs.registration import GYMNASIUM_1
from envs.screen.capture import ReplayCapture
from envs.screen.inputs import DryRunInput, check_hotkey_not_in_keys
from envs.screen.rewards import BarFill, MeanColour, ProbeReward, TemplateMatch, Term, When
from envs.screen.screen_env import ResetTimeout, ScreenGameEnv, StopRequested
from envs.stardew.render import BAR, FISH, TRACK_Y


@pytest.fixture(scope="module")
def frames():
    g = FishingGame(seed=7)
    out = []
    for t in range(40):
        g.tick(t % 3 == 0)
        out.append(g.frame())
    return out


def make_env(frames, **kw):
    opts = dict(action_space=FISHING_ACTIONS, capture=ReplayCapture(frames), input="dry-run", step_hz=None)
    opts.update(kw)
    return ScreenGameEnv(**opts)


# what the step clock measured: wall time, never the same twice
CLOCK_INFO = ("step_time_s", "overrun_s", "late_start_s", "overruns", "frame_time")


class WithoutClockInfo(gym.Wrapper):
    def step(self, action):
        *out, info = self.env.step(action)
        return *out, {k: v for k, v in info.items() if k not in CLOCK_INFO}


def test_check_env_passes_with_replay_capture_and_dry_run_input(frames):
    env = make_env(frames, reward=fishing_reward())
    # Gymnasium 1.x's checker steps twice from the same seed and compares the infos, clock readings included;
    # everything else in them must match
    check_env(WithoutClockInfo(env) if GYMNASIUM_1 else env, skip_render_check=True)
    env.close()


def test_gym_make_builds_screengame_v0(frames, tmp_path):
    path = tmp_path / "frames.npz"
    np.savez(path, frames=np.stack(frames))
    env = gym.make("ScreenGame-v0", action_space=FISHING_ACTIONS, capture=ReplayCapture(str(path)),
                   input="dry-run", step_hz=None)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    env.close()


def test_gym_make_max_episode_steps_truncates_and_releases_held_input(frames):
    env = gym.make("ScreenGame-v0", action_space=FISHING_ACTIONS, capture=ReplayCapture(frames),
                   input="dry-run", step_hz=None, max_episode_steps=3)
    env.reset(seed=0)
    spec = env.unwrapped.action_spec
    for _ in range(2):
        *_, trunc, info = env.step(spec.make("key", keys=["c"]))
        assert not trunc and info["held_keys"] == ("c",)
    *_, trunc, info = env.step(spec.make("key", keys=["c"]))
    assert trunc and info["held_keys"] == ()
    assert env.unwrapped._backend.events == [("key", "c", True), ("key", "c", False)]  # released, not at reset
    env.close()


def test_a_step_limit_in_the_env_spec_truncates_and_releases_held_input(frames):
    import dataclasses

    env = make_env(frames)
    env.spec = dataclasses.replace(gym.spec("ScreenGame-v0"), max_episode_steps=2)
    env.reset()
    assert not env.step(env.action_spec.make("key", keys=["c"]))[3]
    assert env.step(env.action_spec.make("key", keys=["c"]))[3]
    assert env._backend.events == [("key", "c", True), ("key", "c", False)]
    env.close()


def test_actions_reach_the_input_backend_in_region_coordinates(frames):
    env = make_env(frames)
    env.reset()
    spec = env.unwrapped.action_spec
    env.step(spec.make("click", pointer=[1, -1]))
    env.step(spec.make("key", keys=["c"]))
    env.step(spec.make("key", keys=["c"]))
    ev = env.unwrapped._backend.events
    assert ev[:3] == [("move", 167, 0), ("button", "left", True), ("button", "left", False)]
    assert ev[3:] == [("key", "c", True)]
    env.close()
    assert ev[-1] == ("key", "c", False)


def test_reset_releases_what_is_held(frames):
    env = make_env(frames)
    env.reset()
    spec = env.action_spec
    env.step(spec.make("key", keys=["c", "space"]))
    env.reset()
    assert env._backend.events[-2:] == [("key", "space", False), ("key", "c", False)]
    env.close()


def test_an_exception_inside_step_releases_held_input(frames):
    class Boom:
        n = 0

        def calculate_reward(self, current_frame, previous_frames, action):
            self.n += 1
            if self.n == 2:
                raise RuntimeError("boom")
            return 0.0

    env = make_env(frames, reward=Boom())
    env.reset()
    env.step(env.action_spec.make("key", keys=["c"]))
    with pytest.raises(RuntimeError, match="boom"):
        env.step(env.action_spec.make("key", keys=["c"]))
    assert env._backend.events == [("key", "c", True), ("key", "c", False)]
    env.close()


def test_stop_releases_input_and_halts_the_agent(frames):
    env = make_env(frames)
    env.reset()
    env.step(env.action_spec.make("key", keys=["c"]))
    env.stop()
    assert env._backend.events[-1] == ("key", "c", False)
    with pytest.raises(StopRequested):
        env.step(env.action_spec.make("key", keys=["c"]))
    env.close()
    env2 = make_env(frames, on_stop="truncate")
    env2.reset()
    env2.stop()
    *_, trunc, info = env2.step(env2.action_spec.make("key", keys=["c"]))
    assert trunc and info["stopped"] and env2._backend.events == []
    env2.close()


class GameOver:
    """Ends the episode while ``over`` holds for the next frame(s): True forever, or a count of frames."""

    def __init__(self) -> None:
        self.over: bool | int = False

    def calculate_reward(self, current_frame, previous_frames, action):
        return 10.0 if self.over else 0.0

    def is_terminated(self, current_frame, previous_frames):
        if isinstance(self.over, bool):
            return self.over
        self.over -= 1
        return self.over >= 0


def test_reset_raises_when_the_game_stays_over_past_the_timeout_and_releases_input(frames):
    game = GameOver()
    env = make_env(frames, reward=game, reset_timeout_s=0.1)
    env.reset()
    env.step(env.action_spec.make("key", keys=["c"]))
    game.over = True  # the game shows its end screen and never starts a new round
    t0 = time.monotonic()
    with pytest.raises(ResetTimeout, match=r"is_terminated still held after reset_timeout_s=0\.1 s"):
        env.reset()
    assert 0.1 <= time.monotonic() - t0 < 2
    assert env._backend.events == [("key", "c", True), ("key", "c", False)]
    env.reset(options={"wait": False})  # asked for explicitly: no wait, no check
    game.over = 3  # a round that restarts within the timeout: reset waits for it
    env.reset()
    assert game.over < 0
    env.close()


def test_fixed_period_steps_and_overruns_are_reported(frames):
    env = make_env(frames, step_hz=50.0)
    env.reset()
    t0 = time.monotonic()
    for _ in range(5):
        *_, info = env.step(env.action_spec.noop())
    assert time.monotonic() - t0 >= 5 * 0.02 - 0.005
    assert info["overruns"] == 0 or info["overrun_s"] >= 0
    time.sleep(0.1)  # the agent was slow: the next step starts late
    *_, info = env.step(env.action_spec.noop())
    assert info["overrun_s"] >= 0.07 and info["overruns"] >= 1
    env.close()


class _Clock:
    """A monotonic clock that only moves when slept on or told to: pacing checked without timing anything."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        assert dt >= 0
        self.now += dt


class _SlowGrab(ReplayCapture):
    def __init__(self, frames, clock: _Clock, grab_s: float):
        super().__init__(frames)
        self.clock, self.grab_s = clock, grab_s

    def grab(self) -> np.ndarray:
        self.clock.now += self.grab_s
        return super().grab()


def test_steps_keep_their_fixed_rate_when_grabbing_and_the_agent_take_time(frames, monkeypatch):
    import envs.screen.screen_env as screen_env

    clock = _Clock()
    monkeypatch.setattr(screen_env, "time", clock)
    period = 1 / 30
    env = make_env(frames, step_hz=30.0, capture=_SlowGrab(frames, clock, grab_s=0.003))
    env.reset()
    t_frames = []
    for _ in range(30):
        *_, info = env.step(env.action_spec.noop())
        t_frames.append(info["frame_time"])
        clock.now += 0.001  # the agent's own time before its next step
    # one frame every 1/30 s: the 3 ms grab and the 1 ms agent come out of the next step, not on top of it
    assert np.allclose(np.diff(t_frames), period, rtol=0, atol=1e-9)
    # every step after the first began 4 ms into its period and says so; no picture was taken late (the grab
    # starts on time; converting the picture is not lateness)
    assert info["late_start_s"] == pytest.approx(0.004) and info["overruns"] == 0 and info["overrun_s"] == 0

    clock.now += 3 * period  # the agent stalls for three periods: a new clock starts where it comes back
    back = clock.now
    t_frames = []
    for _ in range(5):
        *_, info = env.step(env.action_spec.noop())
        t_frames.append(info["frame_time"])
        if len(t_frames) == 1:
            assert info["overruns"] == 1 and info["overrun_s"] == pytest.approx(3 * period + 0.004)
    assert t_frames[0] == pytest.approx(back + period + 0.003)
    assert np.allclose(np.diff(t_frames), period, rtol=0, atol=1e-9)
    env.close()


def test_meter_probe_reads_the_catch_progress_from_pixels():
    g = FishingGame(seed=11)
    for t in range(200):
        g.tick(t % 2 == 0)
        if t % 20 == 0:
            p = g.state["distanceFromCatching"]
            assert abs(meter_probe().value(g.frame()) - p) <= 2 / 568


def test_probe_reward_ends_when_the_meter_fills_or_empties():
    g = FishingGame(seed=3, pause_ticks=30)
    rf = fishing_reward()
    prev = [g.frame()]
    total, ended = 0.0, None
    for _ in range(60 * 120):
        st = g.sim.state_dict(0)
        g.tick(st["bobberPosition"] + 30 < st["bobberBarPos"] + st["bobberBarHeight"] / 2)
        if g.paused:
            f = g.frame()
            total += rf.calculate_reward(f, prev, None)
            ended = rf.is_terminated(f, prev)
            break
    assert g.last_outcome in ("caught", "escaped")
    assert ended
    full = meter_probe().value(f)
    assert (full >= 0.999) == (g.last_outcome == "caught")


def test_fish_and_bar_are_read_from_pixels_where_the_game_has_them():
    g = FishingGame(seed=2)
    for t in range(90):
        g.tick(t % 4 == 0)
    st = g.state
    fish_y, bar_y = read_fish_and_bar(g.frame())
    assert abs(fish_y - (TRACK_Y + st["bobberPosition"] + 30)) <= 2
    assert abs(bar_y - (TRACK_Y + st["bobberBarPos"] + st["bobberBarHeight"] / 2)) <= 2


def test_colour_template_and_fill_probes():
    img = np.zeros((100, 100, 3), np.uint8)
    img[20:40, 20:40] = BAR
    img[60:100, 80:90] = FISH  # a bar 40% full from the bottom
    assert MeanColour((20, 20, 20, 20), BAR).value(img) == pytest.approx(1.0)
    assert MeanColour((0, 0, 10, 10), BAR).value(img) < 0.7
    tm = TemplateMatch(img[15:45, 15:45].copy())
    assert tm.value(img) == pytest.approx(1.0, abs=1e-4)
    assert BarFill((80, 0, 10, 100), empty=(0, 0, 0)).value(img) == pytest.approx(0.4)
    assert BarFill((80, 0, 10, 100), fill=[FISH], start="top").value(img) == pytest.approx(0.4)


def test_unknown_key_names_fail_at_construction_even_with_dry_run_input(frames):
    with pytest.raises(ValueError, match=r"keys\[1\]: unknown key name 'uparrow'"):
        make_env(frames, action_space={"keys": ["w", "uparrow"]})
    from envs.games.fishing_pixels import FishingPixelsEnv

    with pytest.raises(ValueError, match="unknown key name 'uparrow'"):
        FishingPixelsEnv(action_space={"keys": ["uparrow"]})


def test_misspelt_probe_reward_settings_fail_at_construction_naming_the_field():
    m = BarFill((0, 0, 10, 100), empty=(0, 0, 0))
    with pytest.raises(ValueError, match=r"When\.op: '=>' not one of '<', '<=', '>', '>=', '=='"):
        When(m, "=>", 0.5)
    with pytest.raises(ValueError, match=r"Term\.mode: 'vaule' not 'value' or 'delta'"):
        Term(m, mode="vaule")
    with pytest.raises(TypeError, match=r"Term\.probe: \(0, 0, 10, 10\) is not a probe \(no value\(frame\) method"):
        Term((0, 0, 10, 10))
    with pytest.raises(ValueError, match=r"When\.threshold: need a finite number"):
        When(m, ">=", "full")
    with pytest.raises(ValueError, match=r"BarFill\.rect: \(0, 0, -5, 10\): x and y must be >= 0"):
        BarFill((0, 0, -5, 10), empty=(0, 0, 0))
    with pytest.raises(ValueError, match=r"MeanColour\.rect: need \(x, y, width, height\)"):
        MeanColour((0, 0, 10))
    with pytest.raises(TypeError, match=r"ProbeReward\.terms\[0\]: .* is not a Term"):
        ProbeReward(terms=[m])
    with pytest.raises(TypeError, match=r"ProbeReward\.end: need a list of When"):
        ProbeReward(end=When(m, "<", 0.1))


def test_a_reward_without_calculate_reward_fails_at_construction(frames):
    with pytest.raises(TypeError, match=r"reward: .* has no calculate_reward\(.*a function was given"):
        make_env(frames, reward=lambda current_frame, previous_frames, action: 0.0)
    with pytest.raises(TypeError, match="reward: 'meter' has no calculate_reward"):
        make_env(frames, reward="meter")


def test_a_probe_rectangle_outside_the_frame_fails_at_reset_naming_the_probe(frames):
    h, w = frames[0].shape[:2]  # 600 x 168
    outside = BarFill((w - 10, 0, 40, h), empty=(0, 0, 0))
    env = make_env(frames, reward=ProbeReward(terms=[Term(BarFill((0, 0, 10, 10), empty=(0, 0, 0)))],
                                              end=[When(outside, "<=", 0.0)]))
    with pytest.raises(ValueError, match=rf"reward: ProbeReward\.end\[0\]\.probe \(BarFill\)\.rect: "
                                         rf"\(x, y, width, height\)=\({w - 10}, 0, 40, {h}\) is not inside the "
                                         rf"{w}x{h} frame"):
        env.reset()
    env.close()
    tm = TemplateMatch(np.zeros((50, 50, 3), np.uint8), rect=(0, 0, 20, 20))
    env = make_env(frames, reward=ProbeReward(terms=[Term(tm, mode="value")]))
    with pytest.raises(ValueError, match=r"TemplateMatch\)\.template: 50x50 .* larger than the 20x20 area"):
        env.reset()
    env.close()


def test_a_stop_hotkey_not_in_pynput_syntax_fails_at_construction_with_the_fix(frames):
    with pytest.raises(ValueError, match=r"stop_hotkey: 'F12': 'F12' is neither one character nor a <key name>: "
                                         r"write it '<f12>'"):
        make_env(frames, stop_hotkey="F12")  # dry-run ignores the hotkey, but a typo still fails now
    with pytest.raises(ValueError, match=r"stop_hotkey: '<ctrl>\+<bogus>': '<bogus>' .* angle brackets"):
        make_env(frames, stop_hotkey="<ctrl>+<bogus>")
    make_env(frames, stop_hotkey="<ctrl>+<alt>+q").close()


def test_fishing_pixels_refuses_game_options_it_would_ignore():
    # FishingPixels-v0 scores and paces its steps itself: a reward=, reward_weights= or frame_skip= handed on to
    # the game config, or per-episode options given to reset, were accepted and had no effect at all
    import gymnasium as gym

    from envs.games.fishing_pixels import FishingPixelsEnv

    for kwargs, message in (({"reward": "sparse"}, "reward: FishingPixels-v0"),
                            ({"reward_weights": {"catch": 0.0}}, "reward_weights: FishingPixels-v0"),
                            ({"frame_skip": 4}, "frame_skip: .*ticks_per_step"),
                            ({"fsh": "Carp"}, r"unknown \['fsh'\].*ticks_per_step")):
        with pytest.raises(ValueError, match=message):
            gym.make("FishingPixels-v0", **kwargs)
    env = FishingPixelsEnv(fish="Carp", level=10)
    _, info = env.reset(seed=0)
    assert info["fish"] == "Carp" and info["fishing_level"] == 10  # the game options it honours still work
    with pytest.raises(ValueError, match="reset: FishingPixels-v0 takes no options"):
        env.reset(options={"fish": "Legend"})
    env.reset(options={})


def test_fishing_pixels_unseeded_envs_do_not_all_play_the_same_fish():
    # every FishingPixels-v0 made without a seed played seed 0's stream: the copies of a vector env reset without
    # a seed (SB3's make_vec_env with seed=None) all saw the same fish, step for step
    from envs.games.fishing_pixels import FishingPixelsEnv

    starts = []
    for _ in range(4):
        env = FishingPixelsEnv()
        _, info = env.reset()
        starts.append((info["fish"], info["fishing_level"], info["difficulty"]))
    assert len(set(starts)) > 1
    a, b = FishingPixelsEnv(), FishingPixelsEnv()  # a seed still replays the same fish
    assert a.reset(seed=5)[1] == b.reset(seed=5)[1]
    a.reset(seed=5)
    assert a.reset()[1] == b.reset()[1]  # and a plain reset after it goes on with the seeded stream


def test_fishing_pixels_refuses_a_step_length_or_step_cap_that_is_not_a_positive_integer():
    # ticks_per_step=0 made a step advance no tick (the fish never moved, every reward 0) and 1.5 was silently 1
    from envs.games.fishing_pixels import FishingPixelsEnv

    for kwargs, message in (({"ticks_per_step": 0}, "ticks_per_step: an integer >= 1, got 0"),
                            ({"ticks_per_step": 1.5}, "ticks_per_step: an integer >= 1, got 1.5"),
                            ({"max_steps": 0}, "max_steps: an integer >= 1, got 0")):
        with pytest.raises(ValueError, match=message):
            FishingPixelsEnv(**kwargs)
    assert FishingPixelsEnv(ticks_per_step=np.int64(3)).ticks_per_step == 3


def test_fishing_pixels_can_be_copied_or_pickled_after_reset_and_goes_on_from_the_same_tick():
    # it pickled before reset() but not after: the game's offscreen renderer holds the pygame module, so
    # copy.deepcopy / pickle.dumps failed with "cannot pickle 'module' object"
    import copy
    import pickle

    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv()
    env.reset(seed=2)
    hold = env.action_spec.make("hold")
    for t in range(20):
        env.step(hold if t % 3 else env.action_spec.noop())
    copies = [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]
    actions = [hold if t % 2 else env.action_spec.noop() for t in range(30)]
    runs = [[e.step(a) for a in actions] for e in [env, *copies]]
    for run in runs[1:]:
        for (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) in zip(runs[0], run, strict=True):
            np.testing.assert_array_equal(o1, o2)
            assert (r1, te1, tr1, i1) == (r2, te2, tr2, i2)
    np.testing.assert_array_equal(copies[0].render(), env.render())


def test_fishing_pixels_reports_the_games_max_ticks_cap_as_a_truncation_without_the_escape_penalty():
    # a minigame cut by the game option max_ticks came back terminated=True with the escape's -10 and the whole
    # meter lost (100 x (0 - meter)), though info said neither caught nor escaped
    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv(max_ticks=100, fish="Legend", caught_before=False)
    env.reset(seed=0)
    done = False
    while not done:
        before = env.game.sim.state_dict(0)["distanceFromCatching"]
        _, reward, terminated, truncated, info = env.step(env.action_spec.noop())
        done = terminated or truncated
    assert (terminated, truncated, info["caught"], info["escaped"], info["tick"]) == (False, True, False, False, 100)
    assert reward == pytest.approx(100.0 * (info["distanceFromCatching"] - before))
    _, again = env.reset()
    assert again["tick"] < 100  # the next fish


def test_fishing_pixels_steps_after_the_end_change_nothing_until_reset():
    # as StardewFishing-v0: a step after the episode ended used to play the next fish, still reporting
    # terminated=True, with that fish's rewards (+10 on its catch) credited to an episode already over
    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv(fish="Carp", level=10)
    env.reset(seed=3)
    ended = False
    while not ended:
        obs, _, terminated, truncated, info = env.step(env.action_spec.noop())
        ended = terminated or truncated
    tick = env.game.sim.state_dict(0)["tick"]
    with pytest.warns(UserWarning, match="after the episode ended"):
        after = [env.step(env.action_spec.noop()) for _ in range(50)]
    for o, r, te, tr, inf in after:
        assert (r, te, tr, inf["caught"]) == (0.0, terminated, truncated, info["caught"])
        np.testing.assert_array_equal(o, obs)
    assert env.game.sim.state_dict(0)["tick"] == tick
    _, first = env.reset()
    assert first["tick"] < tick  # reset() still begins the next fish


class Interrupted(DryRunInput):
    """Records input like DryRunInput, and raises KeyboardInterrupt (a Ctrl+C) right after sending the event
    ``at`` (("move",): the third pointer move)."""

    def __init__(self, at: tuple) -> None:
        super().__init__()
        self.at = at

    def _sent(self) -> None:
        third_move = self.at != ("move",) or sum(e[0] == "move" for e in self.events) == 3
        if self.at and self.events[-1][:len(self.at)] == self.at and third_move:
            self.at = ()
            raise KeyboardInterrupt

    def move(self, x, y):
        super().move(x, y)
        self._sent()

    def button(self, name, down):
        super().button(name, down)
        self._sent()

    def key(self, name, down):
        super().key(name, down)
        self._sent()


def _down_at_the_end(events: list[tuple]) -> set:
    down: set = set()
    for kind, *what in events:
        if kind in ("button", "key"):
            (down.add if what[1] else down.discard)(what[0])
    return down


@pytest.mark.parametrize(("at", "action"), [
    (("move",), lambda spec: spec.make("drag", pointer=[-0.5, -0.5], drag_end=[0.5, 0.5])),  # in a drag's moves
    (("button", "left", True), lambda spec: spec.make("click", pointer=[0, 0])),  # between a click's press/release
    (("key", "c", True), lambda spec: spec.make("key", keys=["c"])),  # right after a key press
])
def test_a_ctrl_c_between_a_press_and_its_release_leaves_nothing_held(frames, at, action):
    backend = Interrupted(at)
    env = make_env(frames, input=backend, stop_hotkey=None)
    env.reset()
    with pytest.raises(KeyboardInterrupt):
        env.step(action(env.action_spec))
    env.close()
    assert backend.at == () and _down_at_the_end(backend.events) == set()


def test_ctrl_c_releases_every_open_envs_input_whichever_closed_first(frames):
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    a, b = make_env(frames), make_env(frames)
    try:
        for env in (a, b):
            env.reset()
            env.step(env.action_spec.make("key", keys=["c"]))
        a.close()  # closing the first env must not take the second's release with it
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)
        assert b._backend.events == [("key", "c", True), ("key", "c", False)]
        b.close()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the last close puts it back
    finally:
        a.close()
        b.close()
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize(("hotkey", "keys"), [("<f12>", ["c", "f12"]), ("<ctrl>+x", ["ctrl_l", "x"]),
                                              ("q", ["Q"]), ("<esc>", ["escape"])])
def test_a_stop_hotkey_the_action_keys_can_press_is_refused(frames, hotkey, keys):
    actions = {"keys": keys, "mouse": FISHING_ACTIONS["mouse"]}
    with pytest.raises(ValueError, match=r"stop_hotkey: .* pressed by the agent's own action keys"):
        make_env(frames, action_space=actions, input=DryRunInput(), stop_hotkey=hotkey)
    make_env(frames, action_space=actions, input="dry-run", stop_hotkey=hotkey).close()  # no switch, nothing to hit


def test_a_stop_hotkey_the_keys_press_only_in_part_is_allowed():
    check_hotkey_not_in_keys("<ctrl>+<alt>+q", ("ctrl", "q"))
    check_hotkey_not_in_keys("<f12>", ("f11", "c"))


def test_on_stop_raise_ends_the_step_the_switch_was_pressed_in_and_every_reset_until_resume(frames):
    env = make_env(frames)

    class PressedMidStep:
        def calculate_reward(self, current_frame, previous_frames, action):
            env.stop()  # the person presses the hotkey while this step runs
            return 0.0

    hooks = []
    env.reward_fn = PressedMidStep()
    env.reset_hook = hooks.append
    env.reset()
    with pytest.raises(StopRequested, match="during this step"):
        env.step(env.action_spec.make("key", keys=["c"]))
    assert env._backend.events == [("key", "c", True), ("key", "c", False)]
    with pytest.raises(StopRequested):
        env.reset()  # a training loop's reset after the stop: reset_hook (which may click in the game) does not run
    assert len(hooks) == 1
    env.reward_fn = None
    env.resume()
    env.reset()
    env.step(env.action_spec.noop())
    assert len(hooks) == 2
    env.close()


def test_a_step_after_a_failed_reset_needs_a_reset(frames):
    game = GameOver()
    env = make_env(frames, reward=game, reset_timeout_s=0.05)
    env.reset()
    env.step(env.action_spec.noop())
    game.over = True
    with pytest.raises(ResetTimeout):
        env.reset()
    with pytest.raises(gym.error.ResetNeeded):  # not a step on the last episode's frames
        env.step(env.action_spec.noop())
    env.close()


@pytest.mark.parametrize(("frame", "order", "why"), [
    (np.full((4, 4, 3), 0.5), "rgb", "frame 1 is float64, not uint8"),
    (np.full((4, 4, 3), 300), "rgb", "frame 1 is int64, not uint8"),
    (np.zeros((4, 4), np.uint8), "rgb", r"frame 1 has shape \(4, 4\); order='rgb' needs \(H, W, 3\)"),
    (np.zeros((4, 4, 4), np.uint8), "rgb", r"frame 1 has shape \(4, 4, 4\); order='rgb' needs \(H, W, 3\)"),
    (np.zeros((4, 4, 3), np.uint8), "bgra", r"frame 1 has shape \(4, 4, 3\); order='bgra' needs \(H, W, 4\)"),
])
def test_replay_capture_refuses_frames_it_would_convert_wrongly_naming_the_frame(frame, order, why):
    good = np.zeros((4, 4, len(order)), np.uint8)
    with pytest.raises(ValueError, match=why):
        ReplayCapture([good, frame], order=order)
