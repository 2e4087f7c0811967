"""The live-game bridge over real loopback TCP: protocol, socket env, reference server, recording."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.stardew.bridge import protocol as P
from envs.stardew.bridge.record import RecordingWrapper
from envs.stardew.bridge.server import GameServer
from envs.stardew.fishing_env import StardewFishingEnv
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


def track(obs: np.ndarray) -> int:
    """Hold while the fish is above the bar's catch window (default features: fish_rel is index 5)."""
    return int(obs[5] < 0)


def play(env: gym.Env, obs: np.ndarray, policy=track, max_steps: int = 5000) -> list[tuple]:
    steps = []
    for _ in range(max_steps):
        out = env.step(policy(obs))
        steps.append(out)
        obs = out[0]
        if out[2] or out[3]:
            return steps
    raise AssertionError("episode did not end")


# --- the protocol itself ------------------------------------------------------------------------------

def test_frames_round_trip_and_unknown_fields_and_types_are_ignored():
    msg = {"type": "action", "tick": 7, "press": True, "future_field": [1, 2]}
    frame = P.encode(msg)
    assert frame[:4] == len(frame[4:]).to_bytes(4, "big")
    assert P.decode(frame[4:]) == msg
    assert P.decode(b'{"type": "telemetry", "anything": 1}')["type"] == "telemetry"


@pytest.mark.parametrize(("body", "words"), [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"tick": 1}', "'type'"),
    (b'{"type": "action", "tick": 1}', "'press'"),
    (b'{"type": "action", "tick": true, "press": true}', "'tick'"),
    (b'{"type": "state", "tick": 1, "minigame": 1, "bar_tick": 1, "phase": "sleeping"}', "phase"),
    (b'{"type": "state", "tick": 1, "minigame": 1, "bar_tick": 1, "phase": "playing"}', "applied_tick"),
    (b'{"type": "action", "tick": 1, "press": NaN}', "NaN"),
    (b"\xff\xfe", "UTF-8"),
    (b"[" * 30000 + b"]" * 30000, "deeply"),
])
def test_malformed_messages_raise_errors_that_say_what_is_wrong(body, words):
    with pytest.raises(P.MalformedMessage, match=words):
        P.decode(body)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                              lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                              max_leaves=12).map(lambda v: json.dumps(v).encode())))
def test_any_frame_body_decodes_to_a_message_or_raises_malformed_message(body):
    try:
        msg = P.decode(body)
    except P.MalformedMessage:
        return
    assert isinstance(msg, dict) and isinstance(msg["type"], str)


def test_encoding_refuses_a_message_over_the_size_limit():
    with pytest.raises(P.MessageTooLarge, match="limit"):
        P.encode({"type": "error", "code": "x", "message": "x" * P.MAX_MESSAGE_BYTES})


def test_a_number_too_large_for_a_double_is_refused_as_not_finite():
    # json reads 1e999 as infinity without any NaN/Infinity token; a bar position must still be a real number
    body = json.dumps(playing_state()).replace('"bobberBarPos": ', '"bobberBarPos": 1e999, "_was": ', 1).encode()
    with pytest.raises(P.MalformedMessage, match="'bobberBarPos' is not finite"):
        P.decode(body)


def _read_from_peer(data: bytes) -> dict:
    """What ``Connection.recv`` makes of ``data`` sent by a peer that stays connected."""
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as peer:
        ours, _ = server.accept()
        with ours:
            peer.sendall(data)
            return P.Connection(ours).recv(timeout=2.0)


def test_frames_up_to_the_size_limit_are_read_and_one_byte_more_is_refused_before_reading_it():
    body = b'{"type":"bye","pad":"' + b"x" * (P.MAX_MESSAGE_BYTES - 23) + b'"}'
    assert len(body) == P.MAX_MESSAGE_BYTES
    assert _read_from_peer(P.HEADER.pack(len(body)) + body)["type"] == "bye"
    with pytest.raises(P.MessageTooLarge, match=f"{P.MAX_MESSAGE_BYTES + 1}-byte frame"):
        _read_from_peer(P.HEADER.pack(P.MAX_MESSAGE_BYTES + 1))  # the header alone is enough to refuse it


def test_an_empty_frame_is_malformed():
    with pytest.raises(P.MalformedMessage, match="empty frame"):
        _read_from_peer(P.HEADER.pack(0))


@pytest.mark.parametrize(("theirs", "ours", "same"), [
    ({"rules": "1.6"}, "1.6", True),
    ({"game_version": "1.6.15"}, "1.6", True),  # a game that names only its full version
    ({"game_version": "1.5.4"}, "1.5", True),
    ({"game_version": "1.5.4"}, "1.6", False),
    ({"rules": "1.6", "game_version": "1.5.4"}, "1.5", False),  # the rules field decides when present
])
def test_the_game_version_is_compared_by_major_and_minor_number(theirs, ours, same):
    msg = {"type": "hello", "protocol": P.PROTOCOL_VERSION, **theirs}
    if same:
        P.check_hello(msg, "game", rules=ours)
    else:
        with pytest.raises(P.VersionMismatch, match=f"version={ours!r}"):
            P.check_hello(msg, "game", rules=ours)


# --- episodes against the reference server --------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"reward": "seed", "frame_skip": 3, "features": "seed"},
                                     {"fish": None, "level": (0, 10), "treasure": 1.0, "version": "1.6"},
                                     {"skip_fade_in": False, "reward": "sparse"}])
def test_lockstep_episodes_over_the_socket_are_identical_to_the_simulator(options):
    game = {**GAME, **options}
    features = game.pop("features", None)
    server_cfg = GameConfig(**{k: v for k, v in game.items() if k not in ("reward", "frame_skip")})
    with GameServer(server_cfg, port=0) as server:
        remote = StardewFishingEnv(backend="socket", port=server.port, features=features, **game)
        local = StardewFishingEnv(features=features, **game)
        policy = track if features is None else (lambda o: int(o[1] < o[0] + 40))
        try:
            for seed in (11, None, 12):  # seeded, then the stream continues, then reseeded
                o_r, i_r = remote.reset(seed=seed)
                o_l, i_l = local.reset(seed=seed)
                np.testing.assert_array_equal(o_r, o_l)
                assert {k: i_r[k] for k in i_l} == i_l
                obs, n = o_l, 0
                while True:
                    a = policy(obs)
                    r = remote.step(a)
                    sim_out = local.step(a)
                    n += 1
                    np.testing.assert_array_equal(r[0], sim_out[0])
                    assert r[1:4] == sim_out[1:4], f"step {n}"
                    assert {k: r[4][k] for k in sim_out[4]} == sim_out[4], f"step {n}"
                    assert r[4]["late"] is False and r[4]["missed_ticks"] == 0
                    obs = sim_out[0]
                    if sim_out[2] or sim_out[3]:
                        break
        finally:
            remote.close()


def test_gym_make_socket_backend_has_the_simulator_spaces():
    with GameServer(GameConfig(**GAME), port=0) as server:
        env = gym.make("StardewFishing-v0", backend="socket", port=server.port, **GAME)
        sim_env = gym.make("StardewFishing-v0", **GAME)
        assert env.observation_space == sim_env.observation_space
        assert env.action_space == sim_env.action_space
        obs, _ = env.reset(seed=3)
        assert env.observation_space.contains(obs)
        env.close()


def test_realtime_episode_at_60hz_completes_and_a_slow_step_reports_missed_ticks():
    # always releasing, the fish escapes in about 100 ticks (under 2 s at 60 Hz)
    with GameServer(GameConfig(**GAME), port=0, mode="realtime", tick_hz=60.0) as server:
        env = socket_env(server.port)
        try:
            obs, info = env.reset(seed=5)
            assert info["tick"] == 20  # the fade-in ran in real time before reset() returned
            out = env.step(0)
            time.sleep(0.1)  # the agent stalls for ~6 ticks: the game goes on with the held press
            out = env.step(0)
            assert out[4]["missed_ticks"] >= 3 and out[4]["late"] is True  # answered after the next tick ran
            steps = play(env, out[0], policy=lambda o: 0)
            obs, reward, terminated, truncated, info = steps[-1]
            assert terminated and info["escaped"] and reward < 0
            assert env._remote.missed_total >= 3
            # the next minigame: reset() waits for it (the server starts it on the reset hint)
            obs, info = env.reset()
            assert info["tick"] == 20 and not info["caught"]
        finally:
            env.close()
    assert server.stats["minigames"] >= 2


def test_truncation_then_reset_gives_a_fresh_minigame():
    with served_env(max_ticks=60) as env:
        obs, info = env.reset(seed=1)
        steps = play(env, obs)
        assert steps[-1][3] and not steps[-1][2] and steps[-1][4]["tick"] == 60
        obs, info = env.reset(seed=1)
        assert info["tick"] == 20


def test_serve_module_runs_the_reference_server_for_an_agent():
    with serve_process("--fish", "Pufferfish", "--level", "5", "--max-connections", "1", "--quiet") as (proc, port):
        env = socket_env(port)
        obs, _ = env.reset(seed=2)
        assert play(env, obs)[-1][2]
        env.close()
        assert proc.wait(timeout=10) == 0


def test_serve_opens_its_port_only_once_it_can_answer_at_once(tmp_path):
    # a cold numba cache: the kernels compile (seconds), and an agent that connected meanwhile used to be
    # taken in and left without a hello, which read as "another agent is connected"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "envs.stardew.serve", "--port", str(port), "--quiet"],
                            env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "serve exited or never opened its port"
            try:
                conn = P.Connection(socket.create_connection(("127.0.0.1", port), timeout=1), peer="serve")
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        try:
            assert conn.recv(timeout=2.0)["type"] == "hello"
        finally:
            conn.close()
    finally:
        proc.kill()
        proc.wait()


# --- a misbehaving peer ends in a clear error ----------------------------------------------------------

@pytest.mark.parametrize(("frames", "error", "words"), [
    ([P.encode(hello()), (5).to_bytes(4, "big") + b"{oops"], P.MalformedMessage, "not JSON"),
    ([P.encode(hello()), P.encode({"type": "state", "tick": 1})], P.MalformedMessage, "minigame"),
    ([P.encode(hello()), (50_000_000).to_bytes(4, "big") + b"x" * 100], P.MessageTooLarge, "50000000-byte"),
    ([P.encode(hello(protocol=2))], P.VersionMismatch, "protocol version 2"),
    ([P.encode(hello(rules="1.6"))], P.VersionMismatch, "version='1.5'"),
    ([P.encode({"type": "error", "code": "version", "message": "mod speaks protocol 3"})], P.VersionMismatch,
     "protocol 3"),
    ([P.encode(hello())], P.BridgeTimeout, "reset_timeout"),  # says hello, then hangs
    ([], P.BridgeTimeout, "within"),  # accepts, never says hello
    ([P.encode(hello())], P.ConnectionLost, "closed|lost"),  # says hello and hangs up
])
def test_a_bad_peer_ends_reset_in_a_clear_error(frames, error, words):
    close = error is P.ConnectionLost
    with FakeGame(frames, close_after_frames=close) as peer:
        env = socket_env(peer.port, reset_timeout=0.5)
        env._remote.connect_timeout = 0.5
        with pytest.raises(error, match=words):
            env.reset()
        assert not env._remote.connected
        env.close()


def test_a_peer_that_hangs_mid_episode_ends_step_in_a_timeout():
    state = playing_state()
    with FakeGame([P.encode(hello()), P.encode(state)]) as peer:
        env = socket_env(peer.port, timeout=0.3)
        obs, info = env.reset()
        assert info["bobberBarPos"] == state["bobberBarPos"]
        t = time.monotonic()
        with pytest.raises(P.BridgeTimeout, match="timeout"):
            env.step(1)
        assert time.monotonic() - t < 2.0
        with pytest.raises(P.BridgeError, match="reset"):
            env.step(1)
        env.close()
    assert b'"press":true' in bytes(peer.received)


def test_a_disconnect_mid_episode_keeps_completed_episodes_and_reset_reconnects(tmp_path):
    seeds = (21, 22, 23)
    lengths = []
    ref = StardewFishingEnv(**GAME)
    for s in seeds:
        obs, _ = ref.reset(seed=s)
        lengths.append(len(play(ref, obs)))
    drop = lengths[0] + 21 + lengths[1] // 2  # ticks on the first connection: mid-way through episode 2
    csv_path, jsonl_path = tmp_path / "replayMemory.csv", tmp_path / "episodes.jsonl"
    with GameServer(GameConfig(**GAME), port=0, drop_after_ticks=drop) as server:
        env = RecordingWrapper(socket_env(server.port), csv_path=csv_path, jsonl_path=jsonl_path)
        obs, _ = env.reset(seed=seeds[0])
        first = play(env, obs)
        obs, _ = env.reset(seed=seeds[1])
        with pytest.raises(P.ConnectionLost):
            play(env, obs)
        server.drop_after_ticks = None
        obs, info = env.reset(seed=seeds[2])  # reconnects
        third = play(env, obs)
        env.close()
    assert env.unwrapped._remote.connections == 2
    assert (len(first), len(third)) == (lengths[0], lengths[2])
    rows = list(csv.reader(csv_path.open()))
    assert len(rows) == lengths[0] + lengths[2]
    episodes = [json.loads(line) for line in jsonl_path.open()]
    assert [e["steps"] for e in episodes] == [lengths[0], lengths[2]]


def test_a_game_that_streams_ahead_then_sends_garbage_keeps_the_finished_episode(tmp_path):
    # the whole minigame is already in the socket when the agent steps: real-time semantics take the
    # newest state (the agent missed those ticks), the episode ends, then a malformed frame arrives
    states = episode_states(seed=3)
    frames = [P.encode(hello()), *map(P.encode, states), (7).to_bytes(4, "big") + b"garbage"]
    with FakeGame(frames) as peer:
        env = RecordingWrapper(socket_env(peer.port), csv_path=tmp_path / "r.csv", jsonl_path=tmp_path / "r.jsonl")
        obs, info = env.reset()
        assert peer.all_sent.wait(10)  # on a loaded machine the game thread may not have sent it all yet
        obs, reward, terminated, truncated, info = env.step(1)
        assert terminated and info["escaped"] and info["missed_ticks"] == len(states) - 22
        assert info["late"] is True  # the fake game never applied the press
        with pytest.raises(P.MalformedMessage, match="not JSON"):
            env.reset()
        env.close()
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 1
    (ep,) = [json.loads(line) for line in (tmp_path / "r.jsonl").open()]
    assert ep["outcome"] == "escaped" and ep["missed_ticks"] == len(states) - 22


# --- recording ------------------------------------------------------------------------------------------

def test_recording_writes_the_seed_csv_with_the_applied_press_and_a_jsonl_episode(tmp_path):
    csv_path, jsonl_path = tmp_path / "r.csv", tmp_path / "r.jsonl"
    with GameServer(GameConfig(**GAME), port=0) as server:
        env = RecordingWrapper(socket_env(server.port), csv_path=csv_path, jsonl_path=jsonl_path)
        obs, info0 = env.reset(seed=4)
        steps = play(env, obs)
        env.close()
    rows = [[float(x) for x in r] for r in csv.reader(csv_path.open())]
    assert len(rows) == len(steps) and all(len(r) == 8 for r in rows)
    assert rows[0][:3] == [info0["bobberBarPos"], info0["bobberPosition"], info0["bobberBarSpeed"]]
    for row, nxt, (_, _, _, _, info) in zip(rows, rows[1:], steps, strict=False):
        assert row[3:6] == nxt[:3]  # new state of a row is the old state of the next
        assert row[6] == info["distanceFromCatching"]
        assert row[7] == float(info["buttonPressed"])
    (ep,) = [json.loads(line) for line in jsonl_path.open()]
    assert ep["format"] == "stardew-rl-episode" and ep["fish"] == "Pufferfish" and ep["steps"] == len(steps)
    assert ep["outcome"] == ("caught" if steps[-1][4]["caught"] else "escaped")
    assert ep["columns"]["applied_press"] == [int(r[7]) for r in rows]
    assert len(ep["columns"]["obs"]) == len(steps) and len(ep["obs0"]) == len(obs)


def test_recording_works_on_the_simulator_backend_too(tmp_path):
    env = RecordingWrapper(StardewFishingEnv(**GAME), csv_path=tmp_path / "sim.csv")
    obs, _ = env.reset(seed=0)
    n = len(play(env, obs))
    assert len((tmp_path / "sim.csv").read_text().splitlines()) == n


def test_a_reset_the_env_refuses_leaves_the_recording_going(tmp_path):
    env = RecordingWrapper(StardewFishingEnv(**GAME), csv_path=tmp_path / "r.csv", jsonl_path=tmp_path / "r.jsonl")
    obs, _ = env.reset(seed=0)
    obs = env.step(1)[0]
    with pytest.raises(ValueError, match="level"):
        env.reset(options={"level": 99})
    n = 1 + len(play(env, obs))  # the same episode goes on and is written whole
    assert len((tmp_path / "r.csv").read_text().splitlines()) == n
    assert json.loads((tmp_path / "r.jsonl").read_text())["steps"] == n


def test_a_step_after_the_end_is_not_recorded_again(tmp_path):
    env = RecordingWrapper(StardewFishingEnv(**GAME), csv_path=tmp_path / "r.csv")
    obs, _ = env.reset(seed=0)
    n = len(play(env, obs))
    with pytest.warns(UserWarning):
        env.step(1)  # the env repeats its last step, with a warning; the recorder has nothing more to add
    assert len((tmp_path / "r.csv").read_text().splitlines()) == n


@pytest.mark.parametrize(("which", "path", "why"), [
    ("csv_path", "", "csv_path: an empty path"),
    ("csv_path", "DIR", "csv_path: {tmp}/d is a directory"),
    ("jsonl_path", "FILE/r.jsonl", "jsonl_path: {tmp}/f/r.jsonl: {tmp}/f is a file, not a folder"),
])
def test_a_recording_path_that_cannot_be_a_file_is_refused_when_the_wrapper_is_made(tmp_path, which, path, why):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("not a folder")
    path = path.replace("DIR", str(tmp_path / "d")).replace("FILE", str(tmp_path / "f"))
    with pytest.raises(ValueError) as e:
        RecordingWrapper(StardewFishingEnv(**GAME), **{which: path})
    assert why.format(tmp=tmp_path) in str(e.value)


def test_an_episode_the_jsonl_cannot_take_is_cut_from_the_csv_too(tmp_path):
    env = RecordingWrapper(StardewFishingEnv(**GAME), csv_path=tmp_path / "r.csv", jsonl_path=tmp_path / "r.jsonl")
    obs, _ = env.reset(seed=0)
    play(env, obs)
    csv_before = (tmp_path / "r.csv").read_bytes()
    (tmp_path / "r.jsonl").chmod(0o444)
    (tmp_path / "r.jsonl").unlink()
    (tmp_path / "r.jsonl").mkdir()  # the JSONL can no longer be appended to
    obs, _ = env.reset(seed=1)
    with pytest.raises(OSError, match="r.jsonl: the episode could not be written"):
        play(env, obs)
    assert (tmp_path / "r.csv").read_bytes() == csv_before  # both files still hold the same one episode
    assert env.recorder.episodes_written == 1


def test_reset_options_reach_the_reference_server_and_stay_identical_to_the_simulator():
    with GameServer(GameConfig(**GAME), port=0) as server:
        remote = socket_env(server.port)
        local = StardewFishingEnv(**GAME)
        try:
            for options in ({"fish": "Legend", "level": 10}, {"fish": "Sunfish", "level": (2, 4), "treasure": True}):
                o_r, i_r = remote.reset(seed=9, options=options)
                o_l, i_l = local.reset(seed=9, options=options)
                np.testing.assert_array_equal(o_r, o_l)
                assert i_r["fish"] == i_l["fish"] == options["fish"]
                for a in [1, 0] * 40:
                    r, s = remote.step(a), local.step(a)
                    np.testing.assert_array_equal(r[0], s[0])
                    assert r[1:4] == s[1:4]
                    if s[2]:
                        break
        finally:
            remote.close()


def test_an_onnx_policy_with_the_seed_contract_plays_over_the_bridge(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
    from bench_bridge import OnnxPolicy, make_tiny_onnx

    model = tmp_path / "tiny_q.onnx"
    make_tiny_onnx(model)
    policy = OnnxPolicy(model)
    assert policy.name == "0"
    with GameServer(GameConfig(**GAME), port=0) as server:
        env = socket_env(server.port, features="seed")
        obs, _ = env.reset(seed=6)
        steps = play(env, obs, policy=policy)
        env.close()
    assert steps[-1][2]


def test_reset_reconnects_by_itself_when_the_game_dropped_an_idle_agent():
    with GameServer(GameConfig(**GAME), port=0, idle_timeout=0.6) as server:
        env = socket_env(server.port)
        obs, _ = env.reset(seed=7)
        assert play(env, obs)[-1][2]
        time.sleep(1.5)  # the server drops the silent agent
        obs, info = env.reset(seed=8)
        assert play(env, obs)[-1][2]
        env.close()
    assert env._remote.connections == 2


@pytest.mark.parametrize("seed", ["abc", [1], 1e300, True])
def test_a_reset_with_a_bad_seed_is_refused_and_the_server_keeps_serving(seed):
    with GameServer(GameConfig(**GAME), port=0) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        conn = P.Connection(sock, peer="test")
        try:
            assert conn.recv(timeout=5)["type"] == "hello"
            conn.send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "role": "agent"})
            conn.send({"type": "reset", "seed": seed})
            msg = conn.recv(timeout=5)
            while msg["type"] == "state":
                msg = conn.recv(timeout=5)
            assert msg["type"] == "error" and "'seed' must be an integer or null" in msg["message"]
        finally:
            conn.close()
        env = socket_env(server.port)  # the next agent is served as usual
        try:
            obs, info = env.reset(seed=3)
            assert info["fish"] == "Pufferfish" and env.observation_space.contains(obs)
        finally:
            env.close()


@pytest.mark.parametrize(("argv", "words"), [(["--level", "30"], "level: need 0 <= lo <= hi <= 20"),
                                             (["--tackle", "anchor"], "tackle: unknown 'anchor'"),
                                             (["--fish", "Moby Dick"], "fish: no fish 'Moby Dick'"),
                                             (["--realtime", "--hz", "0"], "--hz: must be > 0")])
def test_serve_reports_bad_arguments_as_usage_errors(argv, words, capsys):
    from envs.stardew import serve

    with pytest.raises(SystemExit) as exit_info:
        serve.main(argv)
    assert exit_info.value.code == 2 and words in capsys.readouterr().err
