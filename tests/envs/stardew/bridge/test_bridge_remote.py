"""RemoteGame's own rules, each against a scripted game peer on real loopback sockets (no mocks)."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import pytest

from envs.stardew.bridge import protocol as P
from envs.stardew.bridge.server import GameServer
from envs.stardew.sim import GameConfig
from tests.envs.stardew.bridge.helpers import (
    GAME,
    FakeGame,
    episode_states,
    hello,
    playing_state,
    serve_process,
    served_env,
    socket_env,
)

pytestmark = pytest.mark.timeout(60)


def waiting(after: dict) -> dict:
    """The game's "no minigame open" state, the tick after ``after``."""
    return {"type": "state", "tick": after["tick"] + 1, "minigame": after["minigame"], "bar_tick": 0,
            "phase": "waiting"}


@pytest.mark.parametrize("then", ["waiting", "next minigame"])
def test_a_minigame_the_game_closes_without_a_result_ends_the_step_truncated_and_closed(then):
    state = playing_state()
    if then == "waiting":
        gone = waiting(state)
    else:  # the player cast again at once: the next minigame's first state, no end state for this one
        gone = {**episode_states(seed=2)[0], "minigame": state["minigame"] + 1, "tick": state["tick"] + 1}
    with FakeGame([P.encode(hello()), P.encode(state), P.encode(gone)]) as peer:
        env = socket_env(peer.port, timeout=2.0)
        try:
            env.reset()
            obs, reward, terminated, truncated, info = env.step(1)
            assert truncated and not terminated and info["closed"] is True
            assert not info["caught"] and not info["escaped"] and info["missed_ticks"] == 0
            assert env.observation_space.contains(obs)
            assert not env._remote.in_episode and env._remote._current is None
        finally:
            env.close()


def test_a_recorded_minigame_the_player_cancels_ends_as_closed_without_a_made_up_row(tmp_path):
    from envs.stardew.bridge.record import RecordingWrapper

    states = episode_states(seed=2)[:30]
    frames = [hello(), *states, waiting(states[-1])]
    with FakeGame([P.encode(m) for m in frames]) as peer:
        env = RecordingWrapper(socket_env(peer.port, timeout=2.0), csv_path=tmp_path / "r.csv",
                               jsonl_path=tmp_path / "r.jsonl")
        try:
            env.reset()
            steps = 0
            while True:
                *_, terminated, truncated, info = env.step(0)
                steps += 1
                if terminated or truncated:
                    break
            assert info["closed"]
        finally:
            env.close()
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert len(rows) == steps - 1  # every real transition, and no row for the closing step
    assert all(r.split(",")[:3] != r.split(",")[3:6] for r in rows[-3:])
    (ep,) = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert ep["outcome"] == "closed" and ep["steps"] == len(rows)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("lastBobberPosition", None, "field 'lastBobberPosition' must be an integer or a number, got None"),
    ("bobberSpeed", "abc", "field 'bobberSpeed' must be an integer or a number, got 'abc'"),
    ("bobberBarPos", 1e39, "field 'bobberBarPos' = 1e+39 is beyond a float's range"),
    ("bar_tick", 2**64, "field 'bar_tick' = 18446744073709551616 is beyond a 64-bit integer"),
])
def test_a_state_field_of_the_wrong_type_is_a_protocol_error_naming_it_and_the_game(field, value, says):
    bad = {**playing_state(), field: value}
    with FakeGame([P.encode(hello()), P.encode(bad)]) as peer:
        env = socket_env(peer.port, timeout=2.0, reset_timeout=2.0)
        try:
            with pytest.raises(P.MalformedMessage) as e:
                env.reset()
            assert says in str(e.value) and "game at 127.0.0.1" in str(e.value)
            assert env._remote.conn is None  # closed: the next reset reconnects rather than read on past it
        finally:
            env.close()


def test_reset_options_of_numpy_values_go_over_the_socket_as_on_the_simulator():
    import numpy as np

    with served_env() as env:
        _, info = env.reset(seed=1, options={"level": np.int64(3), "fish": ["Carp"], "treasure": np.bool_(False)})
        assert info["fishing_level"] == 3 and info["fish"] == "Carp"


def test_a_reset_that_would_change_the_games_rules_is_refused_and_changes_nothing():
    with served_env() as env:
        with pytest.raises(ValueError, match=r"version: the game at 127\.0\.0\.1:\d+ plays 1\.5 rules"):
            env.reset(options={"version": "1.6", "level": 9})
        assert env.config.version == "1.5" and env.config.level != 9
        _, info = env.reset(seed=1, options={"version": "1.5"})  # the rules it plays: nothing to change
        assert info["bobberBarHeight"] > 0


def test_reset_waits_up_to_reset_timeout_not_the_step_timeout_for_the_next_minigame():
    # the player takes a while to cast: reset() must outwait the short per-step timeout
    state = playing_state()
    with FakeGame([P.encode(hello()), P.encode(state)], pauses={1: 0.8}) as peer:
        env = socket_env(peer.port, timeout=0.2, reset_timeout=10.0)
        try:
            obs, info = env.reset()
            assert info["bobberBarPos"] == state["bobberBarPos"]
        finally:
            env.close()


def test_a_reset_skips_the_rest_of_a_minigame_already_in_flight_even_in_its_fade_in():
    # skip_fade_in=False: reset() returns at the first fade-in state, so the next reset() is called with that
    # minigame still in its fade-in; it must wait for the game's next minigame instead of returning this one
    states = episode_states(seed=3)
    first = [{**s, "minigame": 5} for s in states[:4]]
    second = [{**s, "minigame": 6, "tick": s["tick"] + 100} for s in states[:2]]
    with FakeGame([P.encode(hello()), *map(P.encode, first), *map(P.encode, second)]) as peer:
        env = socket_env(peer.port, timeout=2.0, reset_timeout=5.0, skip_fade_in=False)
        try:
            _, info = env.reset()
            assert env._remote.last["minigame"] == 5 and info["game_tick"] == 0
            _, info = env.reset()
            assert env._remote.last["minigame"] == 6 and info["game_tick"] == 100
        finally:
            env.close()


def test_reset_reports_no_late_step_and_the_totals_count_each_late_step_and_missed_tick():
    # the whole minigame is already in the socket: the one step answers late and misses all the ticks after it
    states = episode_states(seed=3)
    with FakeGame([P.encode(hello()), *map(P.encode, states)]) as peer:
        env = socket_env(peer.port, timeout=2.0)
        try:
            _, info = env.reset()
            assert info["late"] is False and info["missed_ticks"] == 0
            assert env._remote.late_total == 0 and env._remote.missed_total == 0
            assert peer.all_sent.wait(10)
            *_, terminated, _, info = env.step(1)
            assert terminated and info["late"] is True
            assert env._remote.late_total == 1 and env._remote.missed_total == info["missed_ticks"] == len(states) - 22
        finally:
            env.close()


def _agent(port: int) -> tuple[P.Connection, dict]:
    """A bare agent connection to a game server and the game's hello, past the hello exchange and the first
    (waiting) state."""
    conn = P.Connection(socket.create_connection(("127.0.0.1", port), timeout=5), peer="test agent")
    game_hello = conn.recv(timeout=5)
    assert game_hello["type"] == "hello"
    conn.send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "role": "agent"})
    assert conn.recv(timeout=5)["phase"] == "waiting"
    return conn, game_hello


@contextlib.contextmanager
def _server_and_agent(**server_options) -> Iterator[tuple[GameServer, P.Connection]]:
    """A game server on the test game and an agent connected to it (past hello and the first waiting state)."""
    with GameServer(GameConfig(**GAME), port=0, **server_options) as server:
        conn, _ = _agent(server.port)
        try:
            yield server, conn
        finally:
            conn.close()


def test_the_lockstep_server_runs_a_tick_only_for_the_answer_to_its_latest_state():
    with _server_and_agent() as (server, conn):
        conn.send({"type": "reset", "seed": 1})
        s = conn.recv(timeout=5)
        for _ in range(2):
            conn.send({"type": "action", "tick": s["tick"], "press": False})
            s = conn.recv(timeout=5)
        conn.send({"type": "action", "tick": s["tick"] - 1, "press": True})  # answers an older state
        with pytest.raises(P.BridgeTimeout):
            conn.recv(timeout=0.3)
        conn.send({"type": "action", "tick": s["tick"], "press": True})
        nxt = conn.recv(timeout=5)
        assert nxt["tick"] == s["tick"] + 1 and nxt["bar_tick"] == s["bar_tick"] + 1
        assert nxt["applied_tick"] == s["tick"] and nxt["applied_press"] is True


def test_close_says_goodbye_to_the_game():
    with FakeGame([P.encode(hello()), P.encode(playing_state())]) as peer:
        env = socket_env(peer.port)
        env.reset()
        env.close()
    assert b'"type":"bye"' in bytes(peer.received).replace(b" ", b"")


def test_a_reconnect_forgets_the_minigame_in_flight_on_the_old_connection():
    # the game restarted: its minigame ids start again at 1, and its minigame 1 is a new one
    fade_in = [{**s, "minigame": 1} for s in episode_states(seed=3)[:3]]
    with FakeGame([P.encode(hello()), *map(P.encode, fade_in)], hold=0.3) as old:  # then the game goes away
        env = socket_env(old.port, timeout=5.0, reset_timeout=3.0, skip_fade_in=False)
        env.reset()
        assert env._remote._current == 1
        with pytest.raises(P.ConnectionLost):
            for _ in range(5):
                env.step(0)
    with FakeGame([P.encode(hello()), *map(P.encode, fade_in)]) as new:
        env._remote.port = new.port
        try:
            _, info = env.reset()
            assert env._remote.connections == 2 and env._remote.last["minigame"] == 1 and info["game_tick"] == 0
        finally:
            env.close()


def test_reset_options_the_game_does_not_decide_stay_on_the_agent_side():
    # reward, max_ticks and frame_skip are the env's business: the game is sent only the game options
    with served_env() as env:
        _, info = env.reset(seed=4, options={"fish": "Legend", "reward": "sparse", "max_ticks": 500,
                                             "frame_skip": 2})
        assert info["fish"] == "Legend" and env.config.reward == "sparse"
        *_, info = env.step(0)
        assert info["tick"] == 22  # frame_skip=2 applied by the agent side


def test_serve_applies_its_command_line_to_the_minigames_it_serves(tmp_path):
    stats = tmp_path / "stats.json"
    argv = ["--fish", "Pufferfish,Carp", "--level", "2-4", "--tackle", "cork", "--treasure", "1", "--training-rod",
            "--first-fish", "--version", "1.6", "--seed", "5"]
    config = GameConfig(fish=["Pufferfish", "Carp"], level=(2, 4), tackle=["cork"], treasure=1.0, training_rod=True,
                        caught_before=False, version="1.6")
    with serve_process("--max-connections", "1", "--quiet", "--stats", str(stats), *argv) as (proc, port):
        conn, game_hello = _agent(port)
        got = []
        try:
            for _ in range(8):  # unseeded resets: the minigames come from the --seed stream
                conn.send({"type": "reset", "seed": None})
                got.append(conn.recv(timeout=10))
            conn.send({"type": "bye"})
        finally:
            conn.close()
        assert proc.wait(timeout=10) == 0
    want = GameServer(config, port=0, seed=5)
    try:
        expected = []
        for _ in range(8):
            want._begin(None)
            expected.append(want.state_message())
    finally:
        want.stop()
    assert got == expected
    assert {s["fish"] for s in got} == {"Pufferfish", "Carp"} and {s["fishing_level"] for s in got} <= {2, 3, 4}
    assert {s["fishing_rod"] for s in got} == {"Training Rod"} and got[0]["tackle"] == [695]
    assert game_hello["rules"] == "1.6" and game_hello["game_version"] == "1.6.15"
    assert json.loads(stats.read_text())["minigames"] == 8


def test_states_already_waiting_are_taken_past_other_message_types_and_a_waiting_error_is_raised():
    # real time: after the step's frame_skip ticks, the client drains what is already in the socket; a message
    # of another type among the states is skipped (protocol: unknown types are ignored), an error is raised
    states = episode_states(seed=3)[20:23]
    telemetry = {"type": "telemetry", "fps": 60}
    error = {"type": "error", "code": "internal", "message": "the mod broke"}
    frames = [hello(), states[0], states[1], telemetry, states[2], error]
    with FakeGame([P.encode(m) for m in frames[:-1]]) as peer:
        env = socket_env(peer.port, timeout=2.0)
        try:
            env.reset()
            assert peer.all_sent.wait(10)
            *_, info = env.step(0)
            assert info["game_tick"] == states[2]["tick"] and info["missed_ticks"] == 1
        finally:
            env.close()
    with FakeGame([P.encode(m) for m in frames]) as peer:
        env = socket_env(peer.port, timeout=2.0)
        try:
            env.reset()
            assert peer.all_sent.wait(10)
            with pytest.raises(P.RemoteError, match="the mod broke"):
                env.step(0)
        finally:
            env.close()


def test_the_realtime_server_plays_on_through_a_reset_and_casts_the_next_a_gap_after_with_its_options():
    # 600 ticks a second: gap=1.5 s is 900 ticks; the always-released fish escapes in about 120
    with _server_and_agent(mode="realtime", tick_hz=600.0, gap=1.5) as (server, conn):
        conn.send({"type": "reset", "seed": 1})
        s = conn.recv(timeout=5)
        while s["phase"] == "waiting":
            s = conn.recv(timeout=5)
        assert s["minigame"] == 1 and s["tick"] < server.gap_ticks  # a reset while none is open: cast at once
        # the player is still reeling: the game plays on; the options are for the minigames that follow
        conn.send({"type": "reset", "seed": 2, "options": {"fish": "Legend"}})
        while s["phase"] not in P.END_PHASES:
            s = conn.recv(timeout=5)
            assert s["minigame"] == 1
        end_tick = s["tick"]
        while s["phase"] == "waiting" or s["minigame"] == 1:
            s = conn.recv(timeout=5)
        assert s["minigame"] == 2 and s["tick"] >= end_tick + server.gap_ticks
        assert s["fish"] == "Legend"


def test_the_realtime_server_applies_the_agents_press_and_a_new_minigame_starts_released():
    with _server_and_agent(mode="realtime", tick_hz=600.0, gap=0.1) as (server, conn):
        conn.send({"type": "reset", "seed": 1})
        s = conn.recv(timeout=5)
        applied = []
        while s["phase"] not in P.END_PHASES:
            if s["phase"] != "waiting":
                conn.send({"type": "action", "tick": s["tick"], "press": True})
                applied.append((s.get("applied_tick"), s.get("applied_press")))
            s = conn.recv(timeout=5)
        assert any(press for _, press in applied) and all(press for t, press in applied if t != -1)
        while s["phase"] != "fade-in":  # the next cast: the agent has not answered it yet
            s = conn.recv(timeout=5)
        assert s["minigame"] == 2 and s["applied_press"] is False and s["buttonPressed"] is False


def test_a_new_agent_starts_from_waiting_and_reset_options_reach_the_state():
    with GameServer(GameConfig(**GAME), port=0) as server:
        conn, _ = _agent(server.port)
        conn.send({"type": "reset", "seed": 1, "options": {"tackle": ["trap"]}})
        s = conn.recv(timeout=5)
        assert s["tackle"] == [694]
        conn.send({"type": "bye"})  # leaves mid-minigame
        conn.close()
        conn, _ = _agent(server.port)  # the next agent is greeted with "waiting", not the abandoned minigame
        try:
            conn.send({"type": "action", "tick": s["tick"], "press": True})
            with pytest.raises(P.BridgeTimeout):
                conn.recv(timeout=0.3)  # no minigame is open: an action runs no tick
        finally:
            conn.close()


def test_stop_ends_the_server_within_a_second_while_an_agent_has_not_said_hello():
    import time

    server = GameServer(GameConfig(**GAME), port=0, idle_timeout=30).start()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)  # connects, then says nothing
    try:
        assert P.Connection(sock, peer="serve").recv(timeout=5)["type"] == "hello"
        t0 = time.perf_counter()
        server.stop()
        assert time.perf_counter() - t0 < 1.0 and not server._thread.is_alive()
    finally:
        sock.close()

