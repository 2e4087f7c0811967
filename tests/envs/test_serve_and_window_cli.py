"""Bad command lines of ``python -m envs.stardew.serve`` and ``python -m envs.games.fishing``: each is a usage error
(exit code 2) naming the option, raised before any work starts (the numba warm-up in GameServer, binding the port, opening the
window), and nothing recorded is lost."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

from envs.games import fishing
from envs.stardew import serve
from envs.stardew.bridge import protocol as P
from envs.stardew.bridge import server as server_module
from tests.envs.stardew.bridge.helpers import serve_process


class WorkStarted(Exception):
    """Raised by the stand-ins for the warm-up, the server and the window: the checks let the command line pass."""


def _no_work(*_args, **_kwargs):
    raise WorkStarted


@pytest.fixture
def serve_without_work(monkeypatch):
    """serve.main with the warm-up and the server replaced by WorkStarted: a refused command line never gets there."""
    monkeypatch.setattr(serve, "GameServer", _no_work)
    return serve.main


def _usage_error(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    return err


# --- serve ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_serve_refuses_a_port_outside_0_to_65535_before_the_warm_up(port, serve_without_work, capsys):
    assert "argument --port" in _usage_error(serve_without_work, ["--port", port], capsys)


@pytest.mark.parametrize("host", ["nosuch.invalid", "192.0.2.1", "::1"])  # unknown, not this machine's, not IPv4
def test_serve_refuses_a_host_it_cannot_bind_before_the_warm_up(host, serve_without_work, capsys):
    assert "argument --host" in _usage_error(serve_without_work, ["--host", host, "--port", "0"], capsys)


def test_serve_refuses_a_port_in_use_before_the_warm_up(serve_without_work, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert "argument --port" in _usage_error(serve_without_work, ["--port", str(port)], capsys)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_closed_and_free(port: int) -> None:
    """An agent that connects now is refused, not kept waiting for a hello, and the port can still be bound."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


def test_serve_checks_the_address_without_opening_the_port_before_the_server_starts(monkeypatch):
    port = _free_port()

    def server(*_args, **_kwargs):
        _port_is_closed_and_free(port)
        raise WorkStarted

    monkeypatch.setattr(serve, "GameServer", server)
    with pytest.raises(WorkStarted):
        serve.main(["--port", str(port)])


def test_the_game_server_runs_its_kernels_before_its_port_opens(monkeypatch):
    port = _free_port()
    calls = []

    class FishingSim(server_module.FishingSim):  # nobody connects: every call here is the server's warm-up
        def step(self, *args, **kwargs):
            _port_is_closed_and_free(port)
            calls.append("step")
            return super().step(*args, **kwargs)

        def reset(self, *args, **kwargs):
            _port_is_closed_and_free(port)
            calls.append("reset")
            return super().reset(*args, **kwargs)

    monkeypatch.setattr(server_module, "FishingSim", FishingSim)
    with server_module.GameServer(port=port) as server:
        assert server.port == port
        socket.create_connection(("127.0.0.1", port), timeout=1).close()  # open now
    assert "step" in calls and "reset" in calls


@pytest.mark.parametrize("gap", ["nan", "-1", "inf", "-inf", "1e308"])
def test_serve_refuses_a_gap_that_is_not_a_finite_number_at_least_0(gap, serve_without_work, capsys):
    assert "argument --gap" in _usage_error(serve_without_work, ["--realtime", "--gap", gap], capsys)


def test_serve_takes_a_gap_of_0(serve_without_work):
    with pytest.raises(WorkStarted):
        serve_without_work(["--realtime", "--gap", "0", "--port", "0"])


@pytest.mark.parametrize("hz", ["0.1", "0.49"])
def test_serve_refuses_an_hz_that_rounds_to_0_ticks(hz, serve_without_work, capsys):
    # the real-time loop's heartbeat, every round(hz) ticks, divided by zero
    assert "argument --hz" in _usage_error(serve_without_work, ["--realtime", "--hz", hz], capsys)


@pytest.mark.parametrize("where", ["folder", "missing folder", "parent is a file", "empty"])
def test_serve_refuses_a_stats_path_it_could_not_write_at_exit(where, tmp_path, serve_without_work, capsys):
    (tmp_path / "file").write_text("x")
    path = {"folder": tmp_path, "missing folder": tmp_path / "nosuch" / "stats.json",
            "parent is a file": tmp_path / "file" / "stats.json", "empty": ""}[where]
    assert "argument --stats" in _usage_error(serve_without_work, ["--stats", str(path)], capsys)


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
def test_serve_refuses_an_idle_timeout_that_is_not_positive(value, serve_without_work, capsys):
    assert "argument --idle-timeout" in _usage_error(serve_without_work, ["--idle-timeout", value], capsys)


@pytest.mark.parametrize("value", ["0", "-1", "1.5"])
def test_serve_refuses_max_connections_below_1(value, serve_without_work, capsys):
    assert "argument --max-connections" in _usage_error(serve_without_work, ["--max-connections", value], capsys)


@pytest.mark.parametrize("seed", ["-1", str(2**64), "x"])
def test_serve_refuses_a_seed_outside_0_to_2_64(seed, serve_without_work, capsys):
    assert "argument --seed" in _usage_error(serve_without_work, ["--seed", seed], capsys)


@pytest.mark.parametrize("argv", [["--game-version", "9.9"], ["--game-version", "1.6.15"],
                                  ["--version", "1.6", "--game-version", "1.5.4"], ["--game-version", "1.5x"],
                                  ["--game-version", ""]])
def test_serve_refuses_a_game_version_of_other_rules_than_it_plays(argv, serve_without_work, capsys):
    # the hello's rules follow the announced version's major.minor, the minigames follow --version
    assert "argument --game-version" in _usage_error(serve_without_work, argv, capsys)


class FakeServer:
    """A GameServer stand-in that serves no one: main runs to its end at once."""

    def __init__(self, config, host, port, game_version=None, **_kwargs):
        self.host, self.port = host, port
        self.game_version = game_version or "1.5.4"
        self.stats = {"round_trips": [0.001], "connections": 1}
        self._stop = types.SimpleNamespace(set=lambda: None)

    def on_serve(self):  # a test's stand-in for what happens while serving
        pass

    def serve_forever(self):
        self.on_serve()


@pytest.fixture
def serve_with_fake_server(monkeypatch):
    """serve.main with FakeServer (no warm-up), and no process-wide gc.freeze / SIGTERM handler left behind."""
    servers: list[FakeServer] = []
    monkeypatch.setattr(serve, "gc", types.SimpleNamespace(collect=lambda: 0, freeze=lambda: None))
    monkeypatch.setattr(serve.signal, "signal", lambda *a: None)
    monkeypatch.setattr(serve, "GameServer", lambda *a, **k: servers.append(FakeServer(*a, **k)) or servers[-1])
    return serve.main, servers


@pytest.mark.parametrize(("argv", "announced"), [([], "1.5.4"), (["--game-version", "1.5.4"], "1.5.4"),
                                                 (["--version", "1.6", "--game-version", "1.6.2"], "1.6.2")])
def test_serve_takes_a_game_version_of_the_rules_it_plays(argv, announced, serve_with_fake_server, capsys):
    main, _ = serve_with_fake_server
    assert main([*argv, "--port", "0", "--quiet"]) == 0
    assert f"game {announced}" in capsys.readouterr().out


def test_serve_writes_its_stats_at_exit(tmp_path, serve_with_fake_server):
    main, _ = serve_with_fake_server
    path = tmp_path / "stats.json"
    assert main(["--port", "0", "--quiet", "--stats", str(path)]) == 0
    assert json.loads(path.read_text())["connections"] == 1


def test_serve_prints_its_stats_when_the_stats_file_cannot_be_written_at_exit(tmp_path, serve_with_fake_server,
                                                                               capsys, monkeypatch):
    main, _ = serve_with_fake_server
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "stats.json"

    def remove_the_folder(server):  # the folder goes away while serving
        folder.rmdir()
        server.stats["round_trips"].append(0.002)

    monkeypatch.setattr(FakeServer, "on_serve", remove_the_folder)
    assert main(["--port", "0", "--quiet", "--stats", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "--stats" in err and not path.exists()
    assert json.loads(out.strip().splitlines()[-1])["round_trips"] == [0.001, 0.002]


def test_serve_process_prints_its_stats_when_the_stats_folder_went_away(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "stats.json"
    with serve_process("--max-connections", "1", "--quiet", "--stats", str(path)) as (proc, port):
        folder.rmdir()
        conn = P.Connection(socket.create_connection(("127.0.0.1", port), timeout=5), peer="serve")
        try:
            assert conn.recv(timeout=5)["type"] == "hello"
            conn.send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "role": "agent"})
            conn.send({"type": "bye"})
        finally:
            conn.close()
        assert proc.wait(timeout=30) == 0
        stats = json.loads(proc.stdout.read().strip().splitlines()[-1])
    assert stats["connections"] == 1 and not path.exists()


# --- the fishing window ----------------------------------------------------------------------------------

@pytest.fixture
def window_without_work(monkeypatch):
    """fishing.main on SDL's dummy video driver, with the window replaced by WorkStarted."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    monkeypatch.setattr(fishing, "MinigameRenderer", _no_work)
    monkeypatch.setattr(fishing, "FishingGame", _no_work)
    return fishing.main


@pytest.mark.parametrize(("argv", "words"), [(["--level", "30"], "--level"), (["--level", "-1"], "--level"),
                                             (["--level", "x"], "--level"), (["--fish", "nosuch"], "fish"),
                                             (["--fish", "99999"], "fish")])
def test_window_refuses_bad_game_options_before_the_window_opens(argv, words, window_without_work, capsys):
    assert words in _usage_error(window_without_work, argv, capsys)


def test_window_level_help_and_check_agree_with_the_game_config(window_without_work, capsys):
    for level in ("0", "15", "20"):  # GameConfig takes 0..20
        with pytest.raises(WorkStarted):
            window_without_work(["--level", level])
    assert "--level" in _usage_error(window_without_work, ["--level", "21"], capsys)
    with pytest.raises(SystemExit):
        window_without_work(["--help"])
    assert "0..20" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("where", ["folder", "missing folder", "parent is a file"])
def test_window_refuses_a_state_file_it_cannot_write_before_the_window_opens(where, tmp_path, window_without_work,
                                                                             capsys):
    (tmp_path / "file").write_text("x")
    path = {"folder": tmp_path, "missing folder": tmp_path / "nosuch" / "state.jsonl",
            "parent is a file": tmp_path / "file" / "state.jsonl"}[where]
    assert "argument --state-file" in _usage_error(window_without_work, ["--state-file", str(path)], capsys)


@pytest.mark.parametrize(("argv", "option"), [
    (["--fps", "0"], "--fps"), (["--fps", "-5"], "--fps"),
    (["--max-seconds", "nan"], "--max-seconds"), (["--max-seconds", "inf"], "--max-seconds"),
    (["--max-seconds", "0"], "--max-seconds"), (["--max-seconds", "-1"], "--max-seconds"),
    (["--pause", "-1"], "--pause"), (["--pause", "0"], "--pause"),  # 0 played as 1 tick: max(1, pause)
    (["--seed", "-1"], "--seed"), (["--seed", str(2**64)], "--seed"),
])
def test_window_refuses_bad_timing_and_seed_options_before_the_window_opens(argv, option, window_without_work,
                                                                            capsys):
    assert f"argument {option}" in _usage_error(window_without_work, argv, capsys)


def test_window_plays_and_appends_its_state_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    path = tmp_path / "state.jsonl"
    path.write_text('{"earlier": true}\n')
    assert fishing.main(["--seed", "3", "--fish", "Carp", "--level", "10", "--max-seconds", "0.3",
                         "--state-file", str(path), "--fps", "120", "--pause", "1"]) == 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"earlier": True} and len(lines) > 2 and lines[-1]["fish"] == "Carp"


def test_window_usage_error_from_the_command_line_exits_2():
    out = subprocess.run([sys.executable, "-m", "envs.games.fishing", "--level", "30"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2 and "--level" in out.stderr and "Traceback" not in out.stderr
