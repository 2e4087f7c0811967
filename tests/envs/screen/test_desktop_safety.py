"""ScreenGame-v0 on a real X server: what it holds is released whichever way its process ends (SIGTERM, SIGHUP,
an uncaught exception), held keys do not auto-repeat, and the reset hooks' input API reaches the server.

The X server's own key map (``XQueryKeymap``) and per-key auto-repeat flags (``XGetKeyboardControl``) are read
from another client, so the checks see what every other program on the display sees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.screen.testing import Xvfb

pytestmark = pytest.mark.skipif(not Xvfb.available(), reason="Xvfb is not installed (make test installs it as root)")
ROOT = Path(__file__).resolve().parents[3]

CHILD = """
import sys, time
from envs.screen.screen_env import ScreenGameEnv
env = ScreenGameEnv({"keys": ["space", "shift"]}, region=(0, 0, 64, 64), step_hz=None, stop_hotkey=None)
env.reset()
env.step(env.action_spec.make("key", keys=["space", "shift"]))
print("held", flush=True)
if sys.argv[1] == "raise":
    sys.stdin.readline()  # once the test has seen the keys down
    raise RuntimeError("the agent failed between two steps")
time.sleep(60)
"""


@pytest.fixture()
def x_server():
    with Xvfb(set_env=False) as x:
        subprocess.run(["xset", "r", "on"], env={**os.environ, "DISPLAY": x.display}, check=True, timeout=10)
        from Xlib import XK, display

        d = display.Display(x.display)
        codes = {name: d.keysym_to_keycode(XK.string_to_keysym(sym)) for name, sym in
                 (("space", "space"), ("shift", "Shift_L"))}

        class Server:
            display = x.display

            def down(self, name: str) -> bool:
                km = d.query_keymap()
                c = codes[name]
                return bool(km[c // 8] & (1 << (c % 8)))

            def repeats(self, name: str) -> bool:
                m = d.get_keyboard_control().auto_repeats
                c = codes[name]
                return bool(m[c // 8] & (1 << (c % 8)))

        yield Server()
        d.close()


def hold_then(how: str, server, tmp_path: Path) -> int:
    """A process holds space and shift through ScreenGame-v0, then ends ``how``; its exit status."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "DISPLAY": server.display, "PYTHONPATH": str(ROOT)}
    # the child starts with SIGHUP's default action, as a program started from a terminal does: under nohup the
    # test run's ignored SIGHUP would be handed on, and an env rightly keeps a signal its process ignores
    p = subprocess.Popen([sys.executable, "-W", "ignore", str(script), "raise" if how == "raise" else "sleep"],
                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        assert p.stdout.readline().strip() == "held"
        # while it runs: both keys are down in the server, and space (which repeats) is not repeating
        assert server.down("space") and server.down("shift")
        assert not server.repeats("space")
        if how == "raise":
            p.stdin.write("go\n")
            p.stdin.flush()
        else:
            p.send_signal(getattr(signal, how))
        return p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "raise"])
def test_held_keys_are_released_and_repeat_restored_however_the_process_ends(how, x_server, tmp_path) -> None:
    assert x_server.repeats("space")
    rc = hold_then(how, x_server, tmp_path)
    # the process still ends as it would have: by the signal, or with the exception's status
    assert rc == (1 if how == "raise" else -getattr(signal, how))
    assert not x_server.down("space") and not x_server.down("shift")
    assert x_server.repeats("space")


def test_a_sigkill_leaves_the_keys_down_so_the_key_map_check_sees_a_stuck_key(x_server, tmp_path) -> None:
    assert hold_then("SIGKILL", x_server, tmp_path) == -signal.SIGKILL
    assert x_server.down("shift")  # what every other signal is checked against: nothing can release on SIGKILL
    subprocess.run(["xdotool", "keyup", "shift", "space"], env={**os.environ, "DISPLAY": x_server.display},
                   check=False, timeout=10)


def test_reset_hook_api_presses_clicks_waits_and_grabs(x_server, monkeypatch) -> None:
    from envs.screen.screen_env import ScreenGameEnv

    monkeypatch.setenv("DISPLAY", x_server.display)
    env = ScreenGameEnv({"keys": ["x"]}, region=(0, 0, 64, 48), step_hz=None, stop_hotkey=None,
                        render_mode="rgb_array")
    try:
        env.reset()
        frame = env.grab_frame()
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        env.press_key("shift")  # any key, not only the action space's
        assert x_server.down("shift") and env.input.held_keys == ["shift"]
        env.release_key("shift")
        assert not x_server.down("shift")
        env.press_key("shift")
        env.release_all()
        assert not x_server.down("shift")
        env.tap_key("space", hold_s=0.01)
        assert not x_server.down("space")
        env.click(10, 20)
        from Xlib import display
        d = display.Display(x_server.display)
        p = d.screen().root.query_pointer()
        assert (p.root_x, p.root_y) == (10, 20)
        d.close()
        with pytest.raises(ValueError, match="outside the captured region"):
            env.click(64, 0)
        assert env.wait_until(lambda f: f.shape == (48, 64, 3), timeout_s=1.0).shape == (48, 64, 3)
        with pytest.raises(TimeoutError, match="did not hold within 0.2 s"):
            env.wait_until(lambda f: False, timeout_s=0.2)
    finally:
        env.close()


def test_a_key_held_over_steps_reaches_the_window_as_one_press_though_x_repeats_held_keys(
        x_server, monkeypatch, tmp_path) -> None:
    """xev prints every KeyPress its window gets. The X server (repeat on) turns a key held for 1.5 s by another
    client into dozens of presses; held by the env over 1.5 s of key steps, it is one."""
    import time

    from envs.screen.screen_env import ScreenGameEnv

    monkeypatch.setenv("DISPLAY", x_server.display)
    log = open(tmp_path / "xev.log", "w")  # noqa: SIM115
    xev = subprocess.Popen(["xev", "-event", "keyboard", "-geometry", "200x200+0+0"], stdout=log,
                           stderr=subprocess.DEVNULL, env={**os.environ, "DISPLAY": x_server.display})

    def count() -> int:
        return (tmp_path / "xev.log").read_text().count("KeyPress")

    env = None
    xdo = {**os.environ, "DISPLAY": x_server.display}
    try:
        subprocess.run(["xdotool", "search", "--sync", "--name", "Event Tester", "windowfocus", "--sync"], env=xdo,
                       check=True, timeout=20, capture_output=True)
        time.sleep(0.2)
        before = count()
        subprocess.run(["xdotool", "keydown", "space"], env=xdo, check=True, timeout=10)
        time.sleep(1.5)
        subprocess.run(["xdotool", "keyup", "space"], env=xdo, check=True, timeout=10)
        time.sleep(0.3)
        assert count() - before > 5  # the hazard: X repeats a key a client holds
        env = ScreenGameEnv({"keys": ["space"]}, window_title="Event Tester", window_wait_s=10.0, step_hz=15.0,
                            stop_hotkey=None)
        env.reset()
        before = count()
        for _ in range(23):  # about 1.5 s at 15 steps/s
            env.step(env.action_spec.make("key", keys=["space"]))
        env.step(env.action_spec.noop())
        time.sleep(0.3)
        assert count() - before == 1
    finally:
        if env is not None:
            env.close()
        xev.terminate()
        xev.wait(5)
        log.close()
    assert x_server.repeats("space")
