"""The mod's tick logic end to end, without the game: ``mod/ModHost`` runs the compiled mod as SMAPI would.

The host (a Mono program) loads ``StardewRlBridge.dll``, built against the reference assemblies, next to the
behavioural builds of those stubs: a BobberBar whose ``update`` moves the fish and the bar and reads the use-tool
button through ``Game1.isOneOfTheseKeysDown``, SMAPI's events raised in SMAPI 4's order, and the mod's Harmony
postfixes applied. StardewFishing-v0's socket backend plays whole minigames against it over real TCP; the host's
own log of every ``BobberBar.update`` (tick, press the bar read) is the ground truth each press is checked against.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from agents.dqn.replay import load_seed_csv
from envs.stardew.fish import find_fish
from envs.stardew.fishing_env import StardewFishingEnv
from tests.envs.stardew.bridge.helpers import NEEDS_MONO
from tests.mod.build import build_host

pytestmark = [pytest.mark.timeout(300), NEEDS_MONO]

PAUSE_AT, PAUSE_TICKS = 60, 45  # the first minigame pauses for 45 ticks after its 60th update


@pytest.fixture(scope="module")
def host_build(tmp_path_factory) -> Path:
    return build_host(tmp_path_factory.mktemp("modhost")).parent


def fish_arg(key: str | int) -> str:
    """``--fish`` for the host: the fish's Data/Fish id and its fields, from the 1.6 table."""
    f = find_fish(key, "1.6")
    return f"{f.id}={f.name}/{f.difficulty}/{f.behavior}/{f.min_size}/{f.max_size}"


class Host:
    """The host process and every line it printed so far (a thread drains its stdout, so that a long run never
    blocks on a full pipe)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def port(self, timeout: float = 60.0) -> int:
        """The port the mod listens on, once the host printed it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith("LISTENING "):
                    return int(line.split()[1])
                assert not line.startswith("ERROR"), line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError("the host did not listen: " + "\n".join(self.lines))

    def wait(self, timeout: float = 60.0) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) once the host ended."""
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return rc, "\n".join(self.lines), self.proc.stderr.read()


@contextmanager
def run_host(build: Path, folder: Path, config: dict, *args: str) -> Iterator[Host]:
    """The host on a copy of ``build`` in ``folder`` with ``config`` as the mod's config.json; killed at the end if
    still running."""
    shutil.copytree(build, folder)
    (folder / "config.json").write_text(json.dumps(config))
    proc = subprocess.Popen(["mono", str(folder / "ModHost.exe"), "--mod", str(folder), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield Host(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def updates(lines: list[str]) -> dict[int, tuple[int, int, float, int]]:
    """tick -> (bar tick, press the bar read, catch meter, mouse held) of every BobberBar.update the host ran."""
    out = {}
    for line in lines:
        m = re.fullmatch(r"UPDATE tick=(\d+) bar_tick=(\d+) pressed=([01]) progress=(\S+) mouse=([01])", line)
        if m:
            out[int(m[1])] = (int(m[2]), int(m[3]), float(m[4]), int(m[5]))
    return out


def test_bridge_mode_plays_whole_minigames_each_press_reaching_the_bar_on_its_tick(host_build, tmp_path):
    folder = tmp_path / "mod"
    games = [f"Goby:5:{PAUSE_AT}:{PAUSE_TICKS}", "128:10", "145:0"]
    config = {"Mode": "bridge", "Port": 0, "RecordCsv": "replayMemory.csv"}
    with run_host(host_build, folder, config, "--seed", "7", "--fish", fish_arg("Goby"), "--fish", fish_arg(128),
                  "--fish", fish_arg(145), *[a for g in games for a in ("--game", g)]) as host:
        port = host.port()
        assert {"PATCHED Game1.isOneOfTheseKeysDown", "PATCHED BobberBar.update"} <= set(host.lines)
        env = StardewFishingEnv(backend="socket", port=port, version="1.6",
                                socket_timeouts={"timeout": 20.0, "reset_timeout": 30.0})
        rng = np.random.default_rng(0)
        steps = []  # (tick the action answered, action, tick of the state that followed, info)
        seen_ticks, seen_games = [], []  # every state the agent saw: its tick and its minigame
        results = []
        for game in range(len(games)):
            obs, info = env.reset()
            seen_ticks.append(info["game_tick"])
            seen_games.append(game)
            while True:
                # a policy that both presses and releases: the controller's choice, flipped one time in four
                a = int(obs[5] < 0) ^ int(rng.random() < 0.25)
                before = info["game_tick"]
                obs, reward, terminated, truncated, info = env.step(a)
                steps.append((before, a, info["game_tick"], info))
                seen_ticks.append(info["game_tick"])
                seen_games.append(game)
                if terminated or truncated:
                    break
            assert terminated and not truncated, info
            results.append((info["fish"], bool(info["caught"])))
        env.close()
        rc, out, err = host.wait()
    lines = out.splitlines()
    assert rc == 0, out[-3000:] + err
    assert f"DONE minigames={len(games)}" in out
    assert not [line for line in lines if line.startswith(("ERROR", "LOG Error", "LOG Warn"))]
    assert [fish for fish, _ in results] == ["Goby", "Pufferfish", "Sunfish"]

    ran = updates(lines)
    paused = {int(m[1]) for line in lines if (m := re.fullmatch(r"PAUSED tick=(\d+)", line))}
    assert len(paused) == PAUSE_TICKS
    for answered, a, tick, info in steps:
        assert not info["late"] and info["missed_ticks"] == 0
        # the press answering the state of tick `answered` is what the bar read in the very next update ...
        assert ran[tick][1] == a, f"the press answering tick {answered} did not reach the bar at tick {tick}"
        assert info["applied_press"] == bool(a)
        # ... and no update ran in between: the ticks skipped are exactly the paused ones
        assert set(range(answered + 1, tick)) <= paused and not set(range(answered + 1, tick)) & set(ran)
    # a paused game sends no state: no state carries a paused tick, and one step spans the whole pause
    assert not set(seen_ticks) & paused
    assert sum(tick - answered - 1 == PAUSE_TICKS for answered, _, tick, _ in steps) == 1

    # the mod's recording: one row per state the agent saw, in the seed's format, loadable by the Python loader
    rows = load_seed_csv(folder / "replayMemory.csv")
    assert len(rows) == len(seen_ticks)
    np.testing.assert_array_equal(rows[:, 7], [ran[t][1] for t in seen_ticks])
    np.testing.assert_allclose(rows[:, 6], [ran[t][2] for t in seen_ticks], rtol=1e-6)
    same = np.diff(seen_games) == 0  # within a minigame, each row's "old" state is the previous row's "new" one
    np.testing.assert_array_equal(rows[1:, 0:3][same], rows[:-1, 3:6][same])


def test_a_mouse_button_the_player_holds_overrides_the_agents_release_as_documented(host_build, tmp_path):
    with run_host(host_build, tmp_path / "mod", {"Mode": "bridge", "Port": 0}, "--fish", fish_arg(145),
                  "--game", "145:10", "--mouse", "40:30") as host:
        env = StardewFishingEnv(backend="socket", port=host.port(), version="1.6",
                                socket_timeouts={"timeout": 20.0, "reset_timeout": 30.0})
        obs, info = env.reset()
        seen = []
        for _ in range(20_000):  # the agent always releases
            obs, reward, terminated, truncated, info = env.step(0)
            seen.append((info["game_tick"], info["buttonPressed"], info["applied_press"]))
            if terminated or truncated:
                break
        env.close()
        rc, out, err = host.wait()
    assert rc == 0, out[-3000:] + err
    ran = updates(out.splitlines())
    held = [(t, pressed, applied) for t, pressed, applied in seen if ran[t][3]]
    assert len(held) == 30  # the states show the player's press, and that the agent's was a release
    assert all(pressed and not applied for _, pressed, applied in held)
    assert not any(pressed for t, pressed, _ in seen if not ran[t][3])


def test_the_stop_switch_gives_the_player_the_button_back_within_the_same_tick(host_build, tmp_path):
    toggle = 120  # a game tick inside the minigame's play (it opens at tick 30, plays from about tick 51)
    with run_host(host_build, tmp_path / "mod", {"Mode": "bridge", "Port": 0}, "--fish", fish_arg(128),
                  "--game", "128:10", "--toggle-at", str(toggle)) as host:
        env = StardewFishingEnv(backend="socket", port=host.port(), version="1.6",
                                socket_timeouts={"timeout": 20.0, "reset_timeout": 30.0})
        obs, info = env.reset()
        seen = []
        for _ in range(20_000):  # the agent always presses
            obs, reward, terminated, truncated, info = env.step(1)
            seen.append((info["game_tick"], info["late"]))
            if terminated or truncated:
                break
        env.close()
        rc, out, err = host.wait()
    assert rc == 0, out[-3000:] + err
    ran = updates(out.splitlines())
    assert any(t < toggle for t, _ in seen) and any(t >= toggle for t, _ in seen)
    # the agent's press reaches the bar up to the toggle; from the toggle's own update on, the player's (none) does
    assert all(ran[t][1] == 1 for t, _ in seen if t < toggle)
    assert all(ran[t][1] == 0 for t, _ in seen if t >= toggle)
    # the env is told its actions no longer apply (applied_tick -1: each step after the toggle reads as late)
    assert all(late for t, late in seen if t >= toggle)
    assert "HUD stardew-rl: agent paused, you fish yourself (F10 gives it the controls back)" in out
    assert "LOG Info stardew-rl: agent paused" in out


@pytest.mark.parametrize("config,patched,warnings", [
    ({"Mode": None, "Port": 0, "RecordCsv": None, "ModelPath": None},
     {"Game1.isOneOfTheseKeysDown", "BobberBar.update"},
     ["Mode null", "RecordCsv is null", "ModelPath null"]),
    ({"Mode": "Observe", "Port": 0, "ModelPath": " "}, {"BobberBar.update"}, ["ModelPath ' '"]),
    ({"Mode": "fly", "Port": 0}, {"Game1.isOneOfTheseKeysDown", "BobberBar.update"}, ["Mode 'fly'"]),
    ({"Mode": "onnx", "Port": -5}, {"Game1.isOneOfTheseKeysDown", "BobberBar.update"}, ["Port -5", "No model at", "not in the mod folder"]),
], ids=["nulls", "observe", "unknown-mode", "onnx-bad-port"])
def test_a_bad_config_value_is_logged_once_and_its_default_used(host_build, tmp_path, config, patched, warnings):
    with run_host(host_build, tmp_path / "mod", config) as host:
        rc, out, err = host.wait()
    lines = out.splitlines()
    assert rc == 0, out + err
    warned = [line for line in lines if line.startswith("LOG Warn")]
    assert len(warned) == len(warnings), warned
    for text in warnings:
        assert sum(text in line for line in warned) == 1, (text, warned)
    assert {line.split()[1] for line in lines if line.startswith("PATCHED ")} == patched
    assert any(line.startswith("LISTENING ") for line in lines) == (config["Mode"] != "onnx")
    assert "DONE minigames=0" in out


@pytest.mark.parametrize("where", [None, "runtimes/linux-x64/native", "."])
def test_onnx_mode_finds_the_native_library_in_the_mod_folder(host_build, tmp_path, where):
    folder = tmp_path / "mod"
    shutil.copytree(host_build, folder)
    if where is not None:
        (folder / where).mkdir(parents=True, exist_ok=True)
        (folder / where / "libonnxruntime.so").write_bytes(b"\x7fELF")
    build = tmp_path / "build"
    shutil.move(folder, build)
    with run_host(build, folder, {"Mode": "onnx", "ModelPath": "assets/policy.onnx"}) as host:
        rc, out, err = host.wait()
    assert rc == 0, out + err
    assert "NATIVE Microsoft.ML.OnnxRuntime " + ("not-found" if where is None else "loaded") in out
    if where is None:
        assert "not in the mod folder (looked for" in out and "runtimes/linux-x64/native/libonnxruntime.so" in out
    else:
        assert "ONNX Runtime native library: " + str(folder / where / "libonnxruntime.so").replace("/./", "/") in out
    assert "No model at" in out and "LISTENING" not in out  # onnx mode opens no socket
