"""A second real game end to end: Debian's xjump under Xvfb through XJumpScreen-v0 (ScreenGame-v0), a scripted
controller that beats random play on the game's own floor counter, a recorded person, and BC through the
agent's generic commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from envs.games.xjump_screen import DigitReader, XJumpWindow, game_state, make_xjump_env, play, xjump_path
from envs.screen.testing import Xvfb

pytestmark = [pytest.mark.xvfb,
              pytest.mark.skipif(not Xvfb.available() or xjump_path() is None,
                                 reason="Xvfb or xjump is not installed (make test installs them as root)")]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def xjump():
    with Xvfb(size=(800, 600)) as x, XJumpWindow(x.display) as w:
        yield x, w


def test_the_registered_env_reads_the_floor_counter_crops_the_window_and_takes_key_only_actions(xjump) -> None:
    import envs  # noqa: F401 - registers the ids on Gymnasium 1.x too

    env = gym.make("XJumpScreen-v0", stop_hotkey=None, max_episode_steps=30)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the documented accessor: no deprecation warning from Gymnasium
            spec = env.action_spec
        assert spec.type_names == ("none", "key") and spec.keys == ("left", "right", "up")
        obs, info = env.reset()
        assert obs.shape == (4, 84, 84) and info["region"][2:] == (512, 446)  # the crop, inside the window
        frame = env.render()
        assert frame.shape == (446, 512, 3) and game_state(frame) == "playing"
        assert DigitReader().read(frame) == 1  # a new game starts on floor 1
        # a key-only game's action: no pointer fields
        _, r, term, trunc, info = env.step({"type": 1, "keys": np.array([0, 1, 1], np.int8)})
        assert info["held_keys"] == ("right", "up") and r >= 0.0
    finally:
        env.close()


def test_the_scripted_controller_climbs_higher_than_random_play_on_the_games_own_counter(xjump) -> None:
    env = make_xjump_env(stop_hotkey=None, max_episode_steps=450)
    try:
        random_floors = play("random", 4, env=env, seed=1)
        scripted_floors = play("scripted", 4, env=env)
    finally:
        env.close()
    assert np.mean(scripted_floors) > np.mean(random_floors), (scripted_floors, random_floors)
    assert max(scripted_floors) >= 3, scripted_floors


def person(display: str, stop: threading.Event) -> None:
    """Another X client at the keyboard: starts games with space, runs right and jumps."""
    env = {**os.environ, "DISPLAY": display}
    while not stop.is_set():
        for keys in (["space"], ["Right", "Up"], ["Left", "Up"]):
            subprocess.run(["xdotool", "keydown", *keys], env=env, check=False, timeout=10)
            stop.wait(0.25)
            subprocess.run(["xdotool", "keyup", *keys], env=env, check=False, timeout=10)


def test_a_person_is_recorded_then_bc_trains_through_the_generic_commands(xjump, tmp_path) -> None:
    from agents.hybrid.demos import read_episode, summarize
    from agents.hybrid.env_source import EnvSource
    from agents.hybrid.record import record

    x, _ = xjump
    demos = tmp_path / "demos"
    stop = threading.Event()
    t = threading.Thread(target=person, args=(x.display, stop), daemon=True)
    t.start()
    try:
        files = record(str(demos), episodes=2, max_seconds=120,
                       env_source=EnvSource("XJumpScreen-v0", {"max_episode_steps": 150}), stop_hotkey=None)
    finally:
        stop.set()
        t.join(10)
    assert len(files) == 2
    header, arrays = read_episode(files[0])
    assert header["env"] == "XJumpScreen-v0" and header["action_spec"] == {"keys": ["left", "right", "up"]}
    assert header["type_names"] == ["none", "key"] and header["source"] == "human" and "catch_rate" not in header
    assert (arrays["type"] == 1).any()  # the person's keys were recorded as key actions
    assert "catch_rate" not in summarize(demos)

    out = tmp_path / "bc"
    env = {**os.environ, "DISPLAY": x.display, "PYTHONPATH": str(ROOT), "HYBRID_THREADS": "1"}
    r = subprocess.run([sys.executable, "-W", "ignore", "-m", "agents.hybrid.train", "bc", "--env", "XJumpScreen-v0",
                        "--env-kwargs", "max_episode_steps:60", "--demos", str(demos), "--epochs", "1",
                        "--eval-every", "1", "--eval-episodes", "1", "--batch-size", "16", "--out", str(out)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    curve = (out / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("epoch,demo_samples_seen,env_steps,mean_return,mean_length") and len(curve) == 3
    assert json.loads((out / "policy.json").read_text())["env"]["id"] == "XJumpScreen-v0"


def test_a_window_that_is_not_there_is_reported_with_the_windows_that_are(xjump) -> None:
    from envs.screen.capture import MssCapture, WindowNotFound

    with pytest.raises(WindowNotFound, match=r"class='nosuchgame'.*the mapped windows with a class or title: "
                                             r".*class='xjump/XJump' title='xjump'"):
        MssCapture(window_class="nosuchgame", wait_s=0.0)


def test_a_crop_that_does_not_fit_the_window_is_refused_naming_it(xjump) -> None:
    with pytest.raises(ValueError, match=r"crop: \(0, 0, 600, 100\) .* does not fit inside the captured 546x555"):
        make_xjump_env(crop=(0, 0, 600, 100), stop_hotkey=None)


def test_record_gameplay_of_the_seed_records_a_person_on_a_window_named_by_its_options(xjump, tmp_path) -> None:
    from agents.hybrid.api import record_gameplay
    from agents.hybrid.demos import read_episode
    from envs.games.xjump_screen import CROP, XJUMP_ACTIONS, FloorReward

    x, _ = xjump
    stop = threading.Event()
    t = threading.Thread(target=person, args=(x.display, stop), daemon=True)
    t.start()
    try:
        files = record_gameplay({"window_class": "xjump", "crop": CROP, "reset_timeout_s": 30.0,
                                 "max_episode_steps": 60}, XJUMP_ACTIONS, out=tmp_path / "recordings", episodes=1,
                                max_seconds=90, reward_function=FloorReward())
    finally:
        stop.set()
        t.join(10)
    assert len(files) == 1
    header, arrays = read_episode(files[0])
    assert header["keys"] == ["left", "right", "up"] and arrays["frames"].shape[1:] == (84, 84)


def test_the_own_game_pages_module_and_commands_train_and_evaluate_on_the_window(xjump, tmp_path) -> None:
    page = (ROOT / "docs" / "own-game.md").read_text()
    module = next(b for b in page.split("```python\n")[1:] if b.startswith("# my_games.py")).split("```")[0]
    (tmp_path / "my_games.py").write_text(module)
    x, _ = xjump
    env = {**os.environ, "DISPLAY": x.display, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "HYBRID_THREADS": "1"}
    common = ["--env", "MyXJump-v0", "--gym-packages", "my_games", "--env-kwargs", "max_episode_steps:40"]
    r = subprocess.run([sys.executable, "-W", "ignore", "-m", "agents.hybrid.train", "ppo", *common, "--n-envs", "1",
                        "--n-steps", "32", "--batch-size", "32", "--n-epochs", "1", "--steps", "32",
                        "--eval-every", "100000", "--eval-episodes", "1", "--out", str(tmp_path / "ppo")],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([sys.executable, "-W", "ignore", "-m", "agents.hybrid.train", "eval", "--policy",
                        str(tmp_path / "ppo" / "policy"), "--episodes", "2"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["episodes"] == 2 and 0 < res["mean_length"] <= 40 and res["mean_return"] > 0
