"""Helpers for the bridge tests: scripted game peers on real loopback sockets (no mocks)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envs.stardew.bridge import protocol as P
from envs.stardew.bridge.server import GameServer
from envs.stardew.fishing_env import StardewFishingEnv
from envs.stardew.sim import GameConfig

GAME = {"fish": "Pufferfish", "level": 5}  # the bridge tests' minigames unless a test says otherwise

NEEDS_MONO = pytest.mark.skipif(shutil.which("mcs") is None or shutil.which("mono") is None,
                                reason="needs Mono (apt-get install mono-mcs mono-runtime; `make test` installs them as root)")


def socket_env(port: int, timeout: float = 5.0, reset_timeout: float = 10.0, **options) -> StardewFishingEnv:
    """StardewFishing-v0 on the socket backend at ``port``, playing ``GAME`` (``options`` override it)."""
    return StardewFishingEnv(backend="socket", port=port, socket_timeouts={"timeout": timeout,
                             "reset_timeout": reset_timeout}, **{**GAME, **options})


@contextlib.contextmanager
def served_env(**options) -> Iterator[StardewFishingEnv]:
    """``socket_env(**options)`` on a reference GameServer playing ``GAME`` in this process; both closed at the
    end."""
    with GameServer(GameConfig(**GAME), port=0) as server:
        env = socket_env(server.port, **options)
        try:
            yield env
        finally:
            env.close()


@contextlib.contextmanager
def serve_process(*argv: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """``python -m envs.stardew.serve --port 0 *argv`` and the port it listens on; killed if still running at the
    end (a test that expects it to exit checks ``proc.wait`` itself)."""
    proc = subprocess.Popen([sys.executable, "-m", "envs.stardew.serve", "--port", "0", *argv],
                            stdout=subprocess.PIPE, text=True)
    try:
        yield proc, int(proc.stdout.readline().split("127.0.0.1:")[1].split()[0])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def build_csharp(exe: Path, sources: list[Path]) -> Path:
    """Compile the mod's C# ``sources`` with Mono into ``exe`` (warnings are errors, as in the mod's build)."""
    out = subprocess.run(["mcs", "-warnaserror+", f"-out:{exe}", *map(str, sources)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return exe


def hello(protocol: int = P.PROTOCOL_VERSION, rules: str = "1.5", **extra: Any) -> dict[str, Any]:
    return {"type": "hello", "protocol": protocol, "role": "game", "game": "test peer",
            "game_version": "1.5.4" if rules == "1.5" else "1.6.15", "rules": rules, "mode": "lockstep",
            "tick_hz": 60, **extra}


def playing_state(config: GameConfig | None = None, seed: int = 1, ticks: int = 20) -> dict[str, Any]:
    """A genuine state message, built by the reference server's own encoder (not started)."""
    server = GameServer(config or GameConfig(fish="Pufferfish", level=5), port=0)
    try:
        server._begin(seed)
        for _ in range(ticks):
            server._update()
        return server.state_message()
    finally:
        server.stop()


class FakeGame:
    """A scripted game side: accepts one agent, sends ``frames`` (raw bytes, malformed ones too),
    then keeps the connection open (reading and discarding) until ``hold`` seconds pass or the
    agent leaves. ``close_after_frames`` closes right after sending instead. ``pauses`` maps a frame's
    index to seconds to wait before sending it (a game that goes quiet for a while). Stops by itself."""

    def __init__(self, frames: list[bytes], hold: float = 5.0, close_after_frames: bool = False,
                 pauses: dict[int, float] | None = None):
        self.frames = frames
        self.pauses = pauses or {}
        self.hold = hold
        self.close_after_frames = close_after_frames
        self.received = bytearray()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(5.0)
        self.port = self._server.getsockname()[1]
        self._done = threading.Event()
        self.all_sent = threading.Event()  # every frame is in the socket
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self._server.accept()
        except OSError:
            return
        with conn:
            try:
                for i, frame in enumerate(self.frames):
                    if i in self.pauses and self._done.wait(self.pauses[i]):
                        return
                    conn.sendall(frame)
                self.all_sent.set()
                if self.close_after_frames:
                    return
                conn.settimeout(0.05)
                end = time.monotonic() + self.hold
                while time.monotonic() < end and not self._done.is_set():
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        continue
                    if not data:
                        return
                    self.received += data
                # close() can come between two reads, right after the agent's last message (its "bye") arrived:
                # keep what is already in the socket, or a test reading `received` misses it (2 runs in 100 did)
                conn.settimeout(0.2)
                while data := conn.recv(65536):
                    self.received += data
            except OSError:  # TimeoutError included: nothing more came
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5.0)
        self._server.close()

    def __enter__(self) -> FakeGame:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def episode_states(config: GameConfig | None = None, seed: int = 1, press: bool = False) -> list[dict[str, Any]]:
    """Every state message of one whole minigame (fade-in to the end) played with a constant press."""
    server = GameServer(config or GameConfig(fish="Pufferfish", level=5), port=0)
    try:
        server._begin(seed)
        server.press = press
        states = [server.state_message()]
        while states[-1]["phase"] not in P.END_PHASES:
            server._update()
            states.append(server.state_message())
        return states
    finally:
        server.stop()
