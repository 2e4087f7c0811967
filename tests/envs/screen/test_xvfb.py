"""ScreenGame-v0 on the real fishing window under a real X server (Xvfb started by the fixtures).

No mocks: frames come from mss, input goes through pynput/XTEST, and what the game did is read
back from the game process's state file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import pytest

from envs.games.fishing import LAMP_ON, LAMP_RECT, TITLE, WM_CLASS
from envs.games.fishing_screen import FISHING_ACTIONS, make_fishing_screen_env, play, read_fish_and_bar
from envs.screen.capture import CaptureError, MssCapture, WindowNotFound
from envs.screen.screen_env import ScreenGameEnv, StopRequested
from envs.screen.testing import GameWindow
from envs.stardew.render import BAR, HEIGHT, TRACK_Y, WIDTH

pytestmark = pytest.mark.timeout(120)


def env_for(window, **kw) -> ScreenGameEnv:
    opts = dict(stop_hotkey=None, step_hz=30.0)
    opts.update(kw)
    return make_fishing_screen_env(**opts)


def test_frames_show_the_game_window(fishing_window):
    env = env_for(fishing_window)
    try:
        obs, info = env.reset()
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and obs.std() > 5
        assert info["region"][2:] == (WIDTH, HEIGHT)
        frame = env.render()
        st = fishing_window.state()
        fish_y, bar_y = read_fish_and_bar(frame)
        # the bar's centre in the frame is where the game's state says (give or take a few ticks)
        assert abs(bar_y - (TRACK_Y + st["bobberBarPos"] + st["bobberBarHeight"] / 2)) < 60
        assert (np.abs(frame.astype(int) - BAR) <= 3).all(axis=2).sum() > 500
    finally:
        env.close()


def test_held_key_reels_the_bar_up_and_is_not_retapped(fishing_window):
    env = env_for(fishing_window)
    try:
        env.reset()
        spec = env.action_spec
        fishing_window.wait_for(lambda s: not s["paused"], 5)
        t0 = time.monotonic()
        for _ in range(20):
            env.step(spec.make("key", keys=["c"]))
        st = fishing_window.state()
        assert st["keys_down"] == ["c"] and (st["buttonPressed"] or st["paused"])
        downs = [e for e in fishing_window.events(t0) if e["type"] == "keydown" and e["key"] == "c"]
        assert len(downs) == 1  # held across 20 steps: one press
        assert (np.abs(env.render()[LAMP_RECT[1]:LAMP_RECT[1] + 8, LAMP_RECT[0]:LAMP_RECT[0] + 16].astype(int)
                       - LAMP_ON) <= 3).all()
        env.step(spec.noop())
        st = fishing_window.wait_for(lambda s: s["keys_down"] == [] and not s["pressed"], 2)
        assert st is not None
    finally:
        env.close()


def test_mouse_hold_presses_the_reel_button_and_click_arrives(fishing_window):
    env = env_for(fishing_window)
    try:
        env.reset()
        spec = env.action_spec
        t0 = time.monotonic()
        env.step(spec.make("click", pointer=[0.0, 0.0]))
        for _ in range(5):
            env.step(spec.make("hold", pointer=[0.0, 0.0]))
        st = fishing_window.wait_for(lambda s: s["mouse_down"] and s["pressed"], 2)
        assert st is not None
        env.step(spec.noop())
        assert fishing_window.wait_for(lambda s: not s["mouse_down"], 2) is not None
        ev = [e for e in fishing_window.events(t0) if e["type"] in ("mousedown", "mouseup")]
        x, y = spec.to_pixels([0.0, 0.0], (WIDTH, HEIGHT))
        assert ev[0] == {"type": "mousedown", "button": 1, "pos": [x, y]}
        assert ev[1] == {"type": "mouseup", "button": 1, "pos": [x, y]}
        assert [e["type"] for e in ev[2:]] == ["mousedown", "mouseup"]
    finally:
        env.close()


def test_drag_arrives_as_press_motion_release(fishing_window):
    env = env_for(fishing_window)
    try:
        env.reset()
        spec = env.action_spec
        t0 = time.monotonic()
        env.step(spec.make("drag", pointer=[-0.5, -0.8], drag_end=[0.5, 0.8]))
        env.step(spec.noop())
        time.sleep(0.1)
        ev = [e for e in fishing_window.events(t0) if e["type"] in ("mousedown", "mouseup", "motion")]
        a = spec.to_pixels([-0.5, -0.8], (WIDTH, HEIGHT))
        b = spec.to_pixels([0.5, 0.8], (WIDTH, HEIGHT))
        downs = [e for e in ev if e["type"] == "mousedown"]
        ups = [e for e in ev if e["type"] == "mouseup"]
        assert downs[0]["pos"] == list(a) and ups[-1]["pos"] == list(b)
        i0, i1 = ev.index(downs[0]), ev.index(ups[-1])
        dragged = [e for e in ev[i0:i1] if e["type"] == "motion" and e["buttons"][0] == 1]
        assert len(dragged) >= 2 and dragged[-1]["pos"] == list(b)
    finally:
        env.close()


def test_key_combination_arrives_with_its_modifier(fishing_window):
    env = ScreenGameEnv({"keys": ["ctrl", "x"]}, window_class=WM_CLASS, stop_hotkey=None, step_hz=30.0)
    try:
        env.reset()
        t0 = time.monotonic()
        for _ in range(3):
            env.step(env.action_spec.make("key", keys=["ctrl", "x"]))
        env.step(env.action_spec.noop())
        time.sleep(0.1)
        ev = [e for e in fishing_window.events(t0) if e["type"] in ("keydown", "keyup")]
        assert [(e["type"], e["key"]) for e in ev] == [
            ("keydown", "left ctrl"), ("keydown", "x"), ("keyup", "x"), ("keyup", "left ctrl")]
        assert ev[1]["mod"] & 0x0040  # KMOD_LCTRL: x arrived while ctrl was down
    finally:
        env.close()


def test_keys_reach_the_captured_window_when_another_window_has_the_focus(fishing_window, xvfb):
    """A person clicked elsewhere (a terminal): the agent's keys still go to the game, not to that window."""
    from Xlib import X, display

    d = display.Display(xvfb.display)
    other = d.screen().root.create_window(700, 10, 100, 100, 0, d.screen().root_depth,
                                          event_mask=X.KeyPressMask | X.KeyReleaseMask)
    other.map()
    d.sync()
    time.sleep(0.2)
    other.set_input_focus(X.RevertToParent, X.CurrentTime)
    d.sync()
    env = env_for(fishing_window)
    try:
        env.reset()
        t0 = time.monotonic()
        for _ in range(3):
            env.step(env.action_spec.make("key", keys=["c"]))
        env.step(env.action_spec.noop())
        time.sleep(0.1)
        ev = [(e["type"], e["key"]) for e in fishing_window.events(t0) if e["type"] in ("keydown", "keyup")]
        assert ev == [("keydown", "c"), ("keyup", "c")]
        d.sync()
        stray = []
        while d.pending_events():
            e = d.next_event()
            if e.type in (X.KeyPress, X.KeyRelease) and e.window == other:
                stray.append(e)
        assert stray == []  # nothing was typed into the other window
    finally:
        env.close()
        other.destroy()
        d.close()


def test_stop_switch_hotkey_releases_everything_and_halts(fishing_window, xvfb):
    env = env_for(fishing_window, stop_hotkey="<f12>")
    try:
        env.reset()
        spec = env.action_spec
        for _ in range(3):
            env.step(spec.make("key", keys=["c", "space"]))
        env.step(spec.make("hold", pointer=[0, 0]))  # and the mouse button
        env.step(spec.make("hold", pointer=[0, 0]))
        assert fishing_window.wait_for(lambda s: s["mouse_down"], 2) is not None
        # a person presses the hotkey: another process, through the X server
        subprocess.run(["xdotool", "key", "F12"], env={**os.environ, "DISPLAY": xvfb.display}, check=True,
                       timeout=10)
        st = fishing_window.wait_for(lambda s: not s["mouse_down"] and s["keys_down"] == [], 3)
        assert st is not None and env.stopped.is_set()
        with pytest.raises(StopRequested):
            env.step(spec.make("key", keys=["c"]))
        time.sleep(0.1)
        assert fishing_window.state()["keys_down"] == []
    finally:
        env.close()


def test_ctrl_c_releases_held_keys(fishing_window):
    # as in a terminal: a runner that starts the tests in the background (`cmd &` in a script) ignores SIGINT,
    # and the env rightly keeps an ignored SIGINT ignored
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    env = env_for(fishing_window)
    try:
        env.reset()
        env.step(env.action_spec.make("key", keys=["c"]))
        assert fishing_window.wait_for(lambda s: s["keys_down"] == ["c"], 2) is not None
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)
        assert fishing_window.wait_for(lambda s: s["keys_down"] == [], 2) is not None
    finally:
        env.close()
        signal.signal(signal.SIGINT, before)


def test_capture_follows_the_window_when_it_moves(fishing_window, xvfb):
    cap = MssCapture(window_class=WM_CLASS)
    try:
        r0 = cap.region()
        dpy = {**os.environ, "DISPLAY": xvfb.display}
        subprocess.run(["xdotool", "windowmove", str(cap.window_id), "20", "30"], env=dpy, check=True, timeout=10)
        deadline = time.monotonic() + 3
        while (cap.region().left, cap.region().top) != (20, 30):
            assert time.monotonic() < deadline, f"region stayed at {cap.region()} (was {r0})"
            time.sleep(0.05)
        assert read_fish_and_bar(cap.grab()[..., [2, 1, 0]]) is not None
        subprocess.run(["xdotool", "windowmove", str(cap.window_id), str(r0.left), str(r0.top)], env=dpy,
                       check=True, timeout=10)
    finally:
        cap.close()


def test_a_window_is_found_by_its_title_as_by_its_class(fishing_window):
    # SDL (pygame), GTK and Qt store the title as UTF-8 (WM_NAME of type UTF8_STRING, and _NET_WM_NAME), not as
    # the Latin-1 STRING that python-xlib's get_wm_name reads: window_title must find such windows too
    by_class = MssCapture(window_class=WM_CLASS)
    try:
        for title in (TITLE, TITLE.split()[-1]):  # the whole title, and a part of it
            by_title = MssCapture(window_title=title)
            try:
                assert by_title.window_id == by_class.window_id
                assert by_title.region() == by_class.region()
            finally:
                by_title.close()
    finally:
        by_class.close()
    env = ScreenGameEnv({"keys": ["c"]}, window_title=TITLE, input="dry-run", stop_hotkey=None, step_hz=None)
    try:
        obs, info = env.reset(options={"wait": False})
        assert info["region"][2:] == (WIDTH, HEIGHT) and obs.std() > 5
    finally:
        env.close()


def test_a_window_moved_partly_off_the_screen_is_captured_whole_with_the_off_screen_part_black(
        fishing_window, xvfb):
    cap = MssCapture(window_class=WM_CLASS)
    dpy = {**os.environ, "DISPLAY": xvfb.display}
    r0 = cap.region()
    screen_w = xvfb.size[0]

    def move(x: int, y: int) -> None:
        subprocess.run(["xdotool", "windowmove", str(cap.window_id), str(x), str(y)], env=dpy, check=True,
                       timeout=10)
        deadline = time.monotonic() + 3
        while (cap.region().left, cap.region().top) != (x, y):
            assert time.monotonic() < deadline, f"the window did not move to {(x, y)}"
            time.sleep(0.05)

    try:
        move(screen_w - 100, 30)  # 100 of its 168 columns still on the screen
        frame = cap.grab()
        assert frame.shape == (HEIGHT, WIDTH, 4)
        assert not frame[:, 100:, :3].any() and frame[:, :100, :3].any()
        move(-68, -20)  # off the left and top edges: the visible part lands 68 columns right, 20 rows down
        frame = cap.grab()
        assert frame.shape == (HEIGHT, WIDTH, 4)
        assert not frame[:20, :, :3].any() and not frame[:, :68, :3].any() and frame[20:, 68:, :3].any()
        assert frame[20:24, 68:, :3].any() and frame[20:, 68:72, :3].any()  # the window's edges, not a black gap
        move(screen_w + 50, 30)
        with pytest.raises(CaptureError, match="entirely off the screen"):
            cap.grab()
    finally:
        move(r0.left, r0.top)
        cap.close()


def test_capture_and_step_raise_window_not_found_when_the_window_closes(xvfb, monkeypatch):
    monkeypatch.setenv("SDL_VIDEO_X11_WMCLASS", "doomed-fishing")  # a second window, found apart from the first
    game = GameWindow(xvfb.display, ("--pause", "20"), max_seconds=60).start()
    env = None
    try:
        env = ScreenGameEnv({"keys": ["c"]}, window_class="doomed-fishing", window_wait_s=10, input="dry-run",
                            step_hz=None)
        env.reset()
        env.step(env.action_spec.make("key", keys=["c"]))
        game.stop()
        with pytest.raises(WindowNotFound, match="doomed-fishing.*closed"):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # until the X server has destroyed the window
                env.step(env.action_spec.make("key", keys=["c"]))
                time.sleep(0.05)
        assert env._backend.events == [("key", "c", True), ("key", "c", False)]  # released on the error
    finally:
        game.stop()
        if env is not None:
            env.close()


def test_a_monitor_or_region_the_display_does_not_have_is_a_value_error_naming_the_option(xvfb):
    with pytest.raises(ValueError, match=r"monitor: 5 is not a monitor of this display: 0 .* or 1\.\.1"):
        ScreenGameEnv(FISHING_ACTIONS, monitor=5, input="dry-run")
    w, h = xvfb.size
    with pytest.raises(ValueError, match=r"region: \(2000, 2000, 10, 10\) is not inside the screen"):
        MssCapture(region=(2000, 2000, 10, 10))
    with pytest.raises(ValueError, match="region: .* not inside the screen"):
        MssCapture(region=(w - 5, 0, 10, 10))
    with pytest.raises(ValueError, match="region: width and height must be > 0"):
        MssCapture(region=(0, 0, 0, 10))
    cap = MssCapture(region=(w - 10, h - 10, 10, 10))  # the screen's last pixels are fine
    assert cap.grab().shape == (10, 10, 4)
    cap.close()


def test_scripted_pixel_policy_catches_fish_through_screengame(fishing_window):
    before = fishing_window.state()["caught_total"]
    env = env_for(fishing_window)
    try:
        out = play(60.0, env, until_caught=2)
    finally:
        env.close()
    assert out["caught"] >= 2, out  # within a 60 s bound; an episode of this fish takes about 6 s
    # the game process itself counted the catches the env saw in its pixels
    assert fishing_window.wait_for(lambda s: s["caught_total"] - before >= out["caught"], 2.0) is not None


def test_the_key_name_table_and_hotkey_check_agree_with_pynput(xvfb):
    from pynput import keyboard

    from envs.screen.actions import KEY_NAMES
    from envs.screen.inputs import check_hotkey

    assert set(keyboard.Key.__members__) == KEY_NAMES
    for hotkey in ("<f12>", "<F12>", "<ctrl>+<alt>+q", "q", "+", "<65481>", "F12", "<escape>", "a+a", "a+",
                   "<ctrl>+<bogus>", "ctrl+q"):
        try:
            keyboard.HotKey.parse(hotkey)
            pynput_ok = True
        except ValueError:
            pynput_ok = False
        try:
            check_hotkey(hotkey)
            ours_ok = True
        except ValueError:
            ours_ok = False
        assert ours_ok == pynput_ok, hotkey


def test_a_window_that_is_not_mapped_is_not_found(fishing_window, xvfb):
    # an unmapped (hidden, iconified) window shows nothing: capturing it would read stale or black pixels
    dpy = {**os.environ, "DISPLAY": xvfb.display}
    cap = MssCapture(window_class=WM_CLASS)
    wid = str(cap.window_id)
    cap.close()
    subprocess.run(["xdotool", "windowunmap", "--sync", wid], env=dpy, check=True, timeout=10)
    try:
        with pytest.raises(WindowNotFound, match=WM_CLASS):
            MssCapture(window_class=WM_CLASS)
    finally:
        subprocess.run(["xdotool", "windowmap", "--sync", wid], env=dpy, check=True, timeout=10)
    cap = MssCapture(window_class=WM_CLASS, wait_s=3)
    try:
        assert str(cap.window_id) == wid
    finally:
        cap.close()
