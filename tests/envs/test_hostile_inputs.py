"""Hostile and careless inputs to the envs: a server that served one agent's game to the next, states no game can
be in, recordings cut by a kill, an agent slot held by silent peers, and arguments that used to be taken without a
word. Each case stays refused with an error that names what was wrong and where (model files and the CSV loader:
test_hostile_agent_files.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


# -- the reference server -------------------------------------------------------------------------------------------
def _agent(port: int, timeout: float = 5.0):
    """A raw agent connection: connected, the game's hello read and answered; -> (connection, game's hello)."""
    import socket

    from envs.stardew.bridge import protocol as P

    conn = P.Connection(socket.create_connection(("127.0.0.1", port), timeout=timeout), peer="test game")
    hello = conn.recv(timeout=timeout)
    conn.send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "role": "agent", "client": "test",
               "rules": hello.get("rules")})
    return conn, hello


def _first_minigame_state(conn, seed: int | None, options: dict | None = None) -> dict:
    msg = {"type": "reset", "seed": seed, **({"options": options} if options else {})}
    conn.send(msg)
    while True:
        m = conn.recv(timeout=5.0)
        if m["type"] == "error" or (m["type"] == "state" and m["phase"] != "waiting"):
            return m


def test_a_second_agent_is_served_the_servers_own_game_not_the_options_of_the_agent_before():
    from envs.stardew.bridge.server import GameServer
    from envs.stardew.fishing_env import StardewFishingEnv
    from envs.stardew.sim import GameConfig
    from tests.envs.stardew.bridge.helpers import GAME, socket_env

    expected = StardewFishingEnv(**GAME).reset(seed=7)[1]
    with GameServer(GameConfig(**GAME), port=0) as server:
        a = socket_env(server.port)
        _, info_a = a.reset(seed=7, options={"fish": "Legend", "level": 0, "tackle": ["cork"], "treasure": 1.0})
        assert info_a["fish"] == "Legend" and info_a["fishing_level"] == 0
        a.close()
        b = socket_env(server.port)
        try:
            _, info_b = b.reset(seed=7)
            assert b.unwrapped._remote.hello["rules"] == "1.5"
            for key in ("fish", "fishing_level", "bobberBarHeight", "difficulty"):
                assert info_b[key] == expected[key], key
        finally:
            b.close()


def test_a_reset_that_asks_for_other_rules_than_the_hello_stated_is_refused_by_the_server():
    from envs.stardew.bridge.server import GameServer
    from envs.stardew.sim import GameConfig

    with GameServer(GameConfig(fish="Pufferfish", level=5), port=0) as server:
        conn, hello = _agent(server.port)
        assert hello["rules"] == "1.5"
        reply = _first_minigame_state(conn, 1, {"version": "1.6", "deluxe_bait": True})
        assert reply["type"] == "error" and reply["code"] == "protocol"
        assert "this game serves 1.5 rules" in reply["message"]
        conn.close()


@pytest.mark.parametrize("seed", [-1, 2**64, 2**80])
def test_the_server_refuses_a_reset_seed_outside_0_to_2_64_minus_1(seed):
    from envs.stardew.bridge.server import GameServer
    from envs.stardew.sim import GameConfig

    with GameServer(GameConfig(fish="Pufferfish", level=5), port=0) as server:
        conn, _ = _agent(server.port)
        reply = _first_minigame_state(conn, seed)
        assert reply["type"] == "error" and reply["code"] == "protocol"
        assert "seed must be an integer 0..2**64-1" in reply["message"] and repr(seed) in reply["message"]
        conn.close()
        conn, _ = _agent(server.port)  # and serves on
        assert _first_minigame_state(conn, 2**64 - 1)["phase"] in ("fade-in", "playing")
        conn.close()


def test_a_second_agent_is_told_the_game_is_busy_at_once_not_left_in_silence():
    import time

    from envs.stardew.bridge import protocol as P
    from envs.stardew.bridge.server import GameServer
    from envs.stardew.sim import GameConfig
    from tests.envs.stardew.bridge.helpers import socket_env

    with GameServer(GameConfig(fish="Pufferfish", level=5), port=0) as server:
        first, _ = _agent(server.port)
        env = socket_env(server.port)
        t0 = time.perf_counter()
        with pytest.raises(P.RemoteError, match="busy.*serves another agent") as e:
            env.reset()
        assert e.value.code == "busy" and time.perf_counter() - t0 < 2.0
        first.send({"type": "bye"})
        first.close()
        time.sleep(0.5)
        try:
            _, info = env.reset(seed=1)  # the slot is free again
            assert info["fish"] == "Pufferfish"
        finally:
            env.close()


def test_silent_peers_cannot_hold_the_slot_each_is_told_why_it_is_dropped(capsys):
    import socket
    import time

    from envs.stardew.bridge import protocol as P
    from envs.stardew.bridge.server import GameServer
    from envs.stardew.sim import GameConfig

    with GameServer(GameConfig(fish="Pufferfish", level=5), port=0, hello_timeout=0.5, verbose=True) as server:
        silent = [socket.create_connection(("127.0.0.1", server.port), timeout=5.0) for _ in range(40)]
        t0 = time.perf_counter()
        replies = []
        for s in silent:
            conn = P.Connection(s, peer="server")
            got = []
            with pytest.raises(P.ConnectionLost):  # every one is closed by the server, none left hanging
                while True:
                    got.append(conn.recv(timeout=5.0))
            replies.append([m for m in got if m["type"] == "error"])
            conn.close()
        assert time.perf_counter() - t0 < 10.0  # (connections past the backlog are retried by the OS after 1 s)
        assert all(len(r) == 1 for r in replies)  # each was told, once, why it was closed
        timeouts = [r[0] for r in replies if r[0]["code"] == "timeout"]
        assert 1 <= len(timeouts) < 10 and {r[0]["code"] for r in replies} == {"busy", "timeout"}
        assert all("no hello from the agent within 0.5" in m["message"] for m in timeouts)
        conn, _ = _agent(server.port)  # a good agent is served
        assert _first_minigame_state(conn, 3)["fish"] == "Pufferfish"
        conn.close()
    log = capsys.readouterr().out
    assert "no hello from agent" in log and "within 0.5" in log and "within 0.17" not in log


# -- states no game can be in ---------------------------------------------------------------------------------------
def _play_against(frames: list[dict], step: bool):
    """reset() (and one step() when ``step``) of a socket env on a scripted game sending ``frames`` after its hello."""
    from envs.stardew.bridge import protocol as P
    from tests.envs.stardew.bridge.helpers import FakeGame, hello, socket_env

    with FakeGame([P.encode(hello()), *(P.encode(f) for f in frames)]) as peer:
        env = socket_env(peer.port, timeout=2.0, reset_timeout=2.0)
        try:
            out = env.reset()
            if step:
                out = env.step(1)
            return out
        finally:
            env.close()


@pytest.mark.parametrize(("field", "value", "range_"), [
    ("bobberBarPos", -500.0, "[0, 568]"), ("bobberBarPos", 1e30, "[0, 568]"), ("bobberPosition", 3e38, "[0, 548]"),
    ("distanceFromCatching", 7.0, "[0, 1]"), ("distanceFromCatching", -3.0, "[0, 1]"),
    ("bobberBarHeight", 0, "[96, 316]"), ("bobberBarHeight", -100, "[96, 316]"),
    ("bobberBarHeight", 2**40, "[96, 316]"), ("fishing_level", 2**62, "[0, 20]"), ("difficulty", -1e9, "[0, 200]"),
    ("bar_tick", 2**63 - 1, "[0, 2.14748e+09]"), ("bobberBarSpeed", -1e6, "[-64, 64]"),
])
@pytest.mark.parametrize("when", ["reset", "step"])
def test_a_state_outside_the_games_physical_range_is_refused_naming_field_value_and_range(field, value, range_,
                                                                                           when):
    from envs.stardew.bridge import protocol as P
    from tests.envs.stardew.bridge.helpers import playing_state

    good = playing_state()
    bad = {**good, "tick": good["tick"] + 1, "bar_tick": good["bar_tick"] + 1, "applied_tick": good["tick"],
           field: value}
    frames = [bad] if when == "reset" else [good, bad]
    with pytest.raises(P.ImpossibleState) as e:
        _play_against(frames, step=when == "step")
    assert f"{field} {value!r} is outside the game's range {range_}" in str(e.value)


@pytest.mark.parametrize(("change", "why"), [
    ({"bobberBarPos": 500.0, "bobberBarHeight": 136}, "past the end of the bar's track"),
])
def test_a_state_whose_fields_contradict_each_other_is_refused(change, why):
    from envs.stardew.bridge import protocol as P
    from tests.envs.stardew.bridge.helpers import playing_state

    with pytest.raises(P.ImpossibleState, match=why):
        _play_against([{**playing_state(), **change}], step=False)


def test_observations_of_the_extreme_possible_states_stay_inside_the_observation_space():
    from tests.envs.stardew.bridge.helpers import playing_state

    good = playing_state()
    for corner in ({"bobberPosition": 532.0, "lastBobberPosition": 0.0},  # a dart past fish_vel's bound: clipped
                   {"bobberBarPos": 0.0, "bobberBarHeight": 316, "bobberPosition": 548.0, "lastBobberPosition": 548.0,
                    "bobberBarSpeed": -64.0, "distanceFromCatching": 1.0},
                   {"bobberBarPos": 472.0, "bobberBarHeight": 96, "bobberPosition": 0.0, "lastBobberPosition": 64.0,
                    "bobberBarSpeed": 64.0, "distanceFromCatching": 0.0}):
        obs, info = _play_against([{**good, **corner}], step=False)
        from envs.stardew.fishing_env import StardewFishingEnv

        space = StardewFishingEnv(fish="Pufferfish", level=5).observation_space
        assert space.contains(obs), (corner, obs)


def test_info_describes_the_state_just_received_not_the_one_at_reset():
    from tests.envs.stardew.bridge.helpers import playing_state

    first = playing_state()
    second = {**first, "tick": first["tick"] + 1, "bar_tick": first["bar_tick"] + 1, "applied_tick": first["tick"],
              "bobberBarPos": 300.0, "bobberBarHeight": first["bobberBarHeight"] + 24, "fishing_level": 8}
    _, _, _, _, info = _play_against([first, second], step=True)
    assert info["bobberBarHeight"] == second["bobberBarHeight"] and info["fishing_level"] == 8


def test_the_recorder_refuses_a_row_the_csv_loader_would_reject_and_writes_nothing(tmp_path):
    import numpy as np

    from envs.stardew.bridge.record import EpisodeRecorder

    rec = EpisodeRecorder(tmp_path / "r.csv", tmp_path / "r.jsonl")
    state = {"bobberBarPos": 300.0, "bobberPosition": 200.0, "bobberBarSpeed": 0.0, "distanceFromCatching": 0.3}
    rec.begin(np.zeros(3), state)
    rec.add(1, np.zeros(3), 0.0, {**state, "bobberBarPos": 301.0})
    with pytest.raises(ValueError, match=r"distanceFromCatching 7\.0 is outside the game's range \[0, 1\]"):
        rec.add(1, np.zeros(3), 0.0, {**state, "distanceFromCatching": 7.0})
    rec.end("truncated")
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "r.jsonl").exists()


# -- recordings cut by a kill ---------------------------------------------------------------------------------------
# The child records two episodes, then a third whose write is killed (SIGKILL) at point `k`: before anything is
# written, part way through the JSONL line, after it, part way through the CSV rows, after them.
_RECORD_AND_DIE = r"""
import os, signal, sys
import numpy as np
from envs.stardew.bridge import record

csv_path, jsonl_path, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
rec = record.EpisodeRecorder(csv_path, jsonl_path, features=("x",))

def episode(n):
    state = {"bobberBarPos": 300.0, "bobberPosition": 200.0, "bobberBarSpeed": 0.0, "distanceFromCatching": 0.3}
    rec.begin(np.zeros(1), state)
    for i in range(n):
        rec.add(i % 2, np.zeros(1), 0.5, {**state, "bobberBarPos": 300.0 + i, "distanceFromCatching": 0.3 + i / 100})
    rec.end("truncated")

episode(5)
episode(7)
append, calls = record._append, []

def dying_append(path, data):
    point = 2 * len(calls)  # 0: before the first write, 1: part way, 2: between, 3: part way, 4: after
    calls.append(path)
    if kill_at == point:
        os.kill(os.getpid(), signal.SIGKILL)
    if kill_at == point + 1:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, data[: len(data) // 2])
        os.fsync(fd)
        os.kill(os.getpid(), signal.SIGKILL)
    append(path, data)
    if kill_at == 4 and len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)

record._append = dying_append
episode(9)
"""


@pytest.mark.parametrize("kill_at", range(5))
def test_a_kill_at_any_point_of_an_episodes_write_leaves_csv_and_jsonl_holding_the_same_episodes(tmp_path, kill_at):
    import warnings

    import numpy as np

    from agents.dqn.replay import load_seed_csv
    from envs.stardew.bridge.record import EpisodeRecorder, RecordingRepaired

    csv_path, jsonl_path = tmp_path / "r.csv", tmp_path / "r.jsonl"
    child = subprocess.run([sys.executable, "-c", _RECORD_AND_DIE, str(csv_path), str(jsonl_path), str(kill_at)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert child.returncode == -9, child.stderr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = EpisodeRecorder(csv_path, jsonl_path)
    repaired = [str(w.message) for w in caught if issubclass(w.category, RecordingRepaired)]
    assert bool(repaired) == (kill_at in (1, 2, 3)), repaired  # a kill before or after the writes leaves no tail
    assert bool(rec.repaired) == bool(repaired)
    # one more episode appended after the repair
    state = {"bobberBarPos": 100.0, "bobberPosition": 90.0, "bobberBarSpeed": 1.0, "distanceFromCatching": 0.5}
    rec.begin(np.zeros(1), state)
    rec.add(1, np.zeros(1), 0.0, {**state, "bobberBarPos": 101.0})
    rec.end("truncated")
    episodes = [json.loads(line) for line in jsonl_path.read_text().splitlines()]
    rows = load_seed_csv(csv_path)
    assert [e["steps"] for e in episodes] == [5, 7, *([9] if kill_at == 4 else []), 1]
    assert len(rows) == sum(e["steps"] for e in episodes)
    assert episodes[-1]["csv_end"] == csv_path.stat().st_size


def test_a_csv_shorter_than_its_jsonl_says_is_refused_not_cut(tmp_path):
    import numpy as np

    from envs.stardew.bridge.record import EpisodeRecorder

    csv_path, jsonl_path = tmp_path / "r.csv", tmp_path / "r.jsonl"
    rec = EpisodeRecorder(csv_path, jsonl_path)
    state = {"bobberBarPos": 100.0, "bobberPosition": 90.0, "bobberBarSpeed": 1.0, "distanceFromCatching": 0.5}
    for _ in range(2):
        rec.begin(np.zeros(1), state)
        rec.add(1, np.zeros(1), 0.0, state)
        rec.end("truncated")
    csv_path.write_text("")  # replaced by another file
    with pytest.raises(ValueError, match="not a pair this recorder may append to"):
        EpisodeRecorder(csv_path, jsonl_path)
    assert len(jsonl_path.read_text().splitlines()) == 2


# -- arguments taken without a word ------------------------------------------------------------------------------
def _screen_opts() -> dict:
    import numpy as np

    from envs.screen.capture import ReplayCapture

    frames = [np.full((120, 160, 3), i * 20, dtype=np.uint8) for i in range(4)]
    return dict(action_space={"keys": ["c"]}, capture=ReplayCapture(frames), input="dry-run", step_hz=None,
                stop_hotkey=None)


def test_screen_game_made_with_max_episode_steps_0_is_refused_not_truncated_every_step():
    pytest.importorskip("cv2")
    import gymnasium as gym

    import envs  # noqa: F401 - registers the ids

    # (Gymnasium 1.x's own TimeLimit refuses it first, with an AssertionError)
    with pytest.raises((ValueError, AssertionError), match=r"max_episode_steps.*(need an integer >= 1|positive)"):
        gym.make("ScreenGame-v0", max_episode_steps=0, **_screen_opts())
    env = gym.make("ScreenGame-v0", max_episode_steps=2, **_screen_opts())  # a good limit still truncates
    try:
        env.reset()
        assert not env.step(env.action_space.sample())[3] and env.step(env.action_space.sample())[3]
    finally:
        env.close()


@pytest.mark.parametrize(("name", "value"), [("region", (0, 0, 100, 80)), ("monitor", 1)])
def test_region_or_monitor_beside_a_capture_object_is_refused_not_ignored(name, value):
    pytest.importorskip("cv2")
    from envs.screen.screen_env import ScreenGameEnv

    with pytest.raises(ValueError, match=rf"{name}: .* the capture object given \(ReplayCapture\) grabs its own"):
        ScreenGameEnv(**_screen_opts(), **{name: value})
