"""The reference game server: the simulator behind the bridge protocol.

It plays the game's side of :mod:`envs.stardew.bridge.protocol` exactly as the SMAPI mod does
(hello, one ``state`` per tick, the last received action held), with the minigame run by
:class:`~envs.stardew.sim.FishingSim`. It is how the bridge is tested and how users try the bridge
without the game: ``python -m envs.stardew.serve --help``.

Modes
    ``lockstep``: a tick runs only when the action answering the previous state has arrived, as
    fast as the agent answers; a ``reset`` message starts the next minigame (seeded when it carries
    a seed) and drops any minigame in flight. With the same options and seed, an episode is then
    identical to the simulator backend's.
    ``realtime``: ticks run at ``tick_hz`` (60) whether or not the agent answered; the press the
    game applies is the last one received. A new minigame starts ``gap`` seconds after the last one
    ended (a player casting again) or at once when a ``reset`` arrives while none is open (a reset
    during a minigame does not cut it short: it plays on, as in the game, and the next one, cast
    ``gap`` seconds after its end, is played with that reset's seed and options).

A ``reset`` may carry ``options`` (the env's ``reset(options=...)``: fish, level, tackle, treasure,
version, training_rod, caught_before, deluxe_bait), applied to the minigames that follow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
import traceback
from typing import Any

import numpy as np

from envs.stardew import rules as R
from envs.stardew.bridge import protocol as P
from envs.stardew.sim import TACKLE_IDS, FishingSim, GameConfig, seed_to_stream

_TACKLE_BY_CFG = {R.C_CORK: 695, R.C_TRAP: 694, R.C_LEAD: 692, R.C_BARBED: 691, R.C_HUNTER: 693}
assert set(_TACKLE_BY_CFG.values()) == set(TACKLE_IDS.values())
# the options a reset message may carry: what decides the minigame, not how the agent scores it
GAME_OPTIONS = {"fish", "level", "tackle", "treasure", "version", "training_rod", "caught_before", "deluxe_bait"}


def _conn_stats() -> dict[str, Any]:
    return {"round_trips": [], "late_ticks": 0, "late_ticks_server_behind": 0, "minigame_ticks": 0}


class GameServer:
    """Serves simulated minigames to one agent connection at a time.

    ``port=0`` binds a free port (read ``server.port``). ``start()`` serves in a daemon thread,
    ``serve_forever()`` in the caller's; ``stop()`` ends either within about 0.2 s.
    ``max_connections`` ends serving after that many connections; ``idle_timeout`` closes a
    connection whose agent sent nothing for that long (a hung agent never blocks the server).
    ``stats`` holds the measured state-to-action round trips (s) and the ticks that ran without
    the answer to the previous state (late; ``late_ticks_server_behind`` counts those where the
    server itself had stalled and ran the tick less than half a period after the state, catching up
    as the game's fixed time step does), in all and per connection (``per_connection``).
    """

    def __init__(self, config: GameConfig | None = None, host: str = P.DEFAULT_HOST, port: int = P.DEFAULT_PORT,
                 mode: str = "lockstep", tick_hz: float = 60.0, gap: float = 1.0, seed: int | None = None,
                 max_connections: int | None = None, idle_timeout: float = 30.0, game_version: str | None = None,
                 drop_after_ticks: int | None = None, verbose: bool = False):
        if mode not in ("lockstep", "realtime"):
            raise ValueError(f"mode: {mode!r} not one of ['lockstep', 'realtime']")
        config = config or GameConfig()
        # the server never truncates (the env does) and streams the fade-in like the game
        self.config = dataclasses.replace(config, skip_fade_in=False, max_ticks=2**62, frame_skip=1)
        self.sim = FishingSim(1, self.config, features="seed")
        # load (on a cold cache, compile: about 15 s) the kernels on a game of their own before the port opens: an
        # agent that connected meanwhile would wait that long for its first state, past a step or reset timeout
        warm_up = FishingSim(1, self.config, features="seed")
        warm_up.step(np.zeros(1, dtype=np.int64), autoreset=False)
        warm_up.reset()
        if seed is not None:
            self.sim.E[0] = seed_to_stream(seed)
        self.mode = mode
        self.tick_hz = float(tick_hz)
        self.gap_ticks = max(1, round(gap * tick_hz))
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.game_version = game_version or {"1.5": "1.5.4", "1.5.4": "1.5.4", "1.6": "1.6.15"}[config.version]
        self.rules = "1.6" if self.game_version.startswith("1.6") else "1.5"
        self.drop_after_ticks = drop_after_ticks  # tests: drop the connection after this many minigame ticks
        self.verbose = verbose
        self.tackle = [tid for c, tid in _TACKLE_BY_CFG.items() for _ in range(int(self.sim.cfg_i[c]))]
        self.stats: dict[str, Any] = {**_conn_stats(), "minigames": 0, "connections": 0, "per_connection": []}
        self._cstats: dict[str, Any] = _conn_stats()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(1)
        except BaseException:  # an address in use: the socket must not outlive the error
            self._sock.close()
            raise
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tick = 0
        self.minigame = 0
        self.in_minigame = False
        self.press = False
        self.action_tick = -1
        self._ended_at = 0
        self._conn_ticks = 0
        self._action = np.zeros(1, dtype=np.int64)

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> GameServer:
        self._thread = threading.Thread(target=self.serve_forever, name="stardew-game-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> GameServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log(self, text: str) -> None:
        if self.verbose:
            print(f"[serve] {text}", flush=True)

    def serve_forever(self) -> None:
        served = 0
        try:
            while not self._stop.is_set():
                if self.max_connections is not None and served >= self.max_connections:
                    break
                try:
                    sock, addr = self._sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                served += 1
                self.stats["connections"] = served
                self._cstats = _conn_stats()
                self.stats["per_connection"].append(self._cstats)
                conn = P.Connection(sock, peer=f"agent {addr[0]}:{addr[1]}")
                self._log(f"agent connected from {addr[0]}:{addr[1]}")
                try:
                    self._serve(conn)
                except P.BridgeError as e:
                    self._log(f"connection ended: {type(e).__name__}: {e}")
                    if isinstance(e, P.ProtocolError):
                        self._send_error(conn, "protocol", str(e))
                except Exception as e:  # a bug must end one connection, not the server the game runs in
                    traceback.print_exc()
                    self._send_error(conn, "internal", f"{type(e).__name__}: {e}")
                finally:
                    conn.close()
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()

    @staticmethod
    def _send_error(conn: P.Connection, code: str, message: str) -> None:
        with contextlib.suppress(P.BridgeError):
            conn.send({"type": "error", "code": code, "message": message})

    # -- one connection ------------------------------------------------------------------------------
    def _serve(self, conn: P.Connection) -> None:
        conn.send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "role": "game",
                   "game": "stardew-rl reference server", "game_version": self.game_version, "rules": self.rules,
                   "mode": self.mode, "tick_hz": self.tick_hz})
        # the agent's hello, heard in slices so that stop() ends the wait within about 0.2 s as documented
        deadline = time.perf_counter() + min(10.0, self.idle_timeout)
        while True:
            if self._stop.is_set():
                return
            try:
                hello = conn.recv(timeout=max(0.001, min(0.2, deadline - time.perf_counter())))
                break
            except P.BridgeTimeout:
                if time.perf_counter() >= deadline:
                    raise
        try:
            P.check_hello(hello, "agent")
        except P.VersionMismatch as e:
            self._send_error(conn, "version", str(e))
            raise
        self.in_minigame = False  # a new agent starts from "waiting"
        self.press = False
        self.action_tick = -1
        self._conn_ticks = 0
        if self.mode == "lockstep":
            self._lockstep(conn)
        else:
            self._realtime(conn)

    def _begin(self, seed: Any, options: Any = None) -> None:
        if options:
            self._configure(options)
        if seed is None:
            self.sim.reset()
        else:
            self.sim.reset(seeds=[int(seed)])
        self.minigame += 1
        self.in_minigame = True
        self.press = False
        self.stats["minigames"] += 1

    def _configure(self, options: Any) -> None:
        """Apply a ``reset``'s game options (the env's ``reset(options=...)``) to the next minigames."""
        if not isinstance(options, dict) or set(options) - GAME_OPTIONS:
            raise P.MalformedMessage(f"reset: options must be an object with keys among {sorted(GAME_OPTIONS)}")
        try:
            config = self.config.with_options(options)
            self.sim.configure(config)
        except (TypeError, ValueError) as e:
            raise P.MalformedMessage(f"reset: bad options: {e}") from None
        self.config = config
        self.tackle = [tid for c, tid in _TACKLE_BY_CFG.items() for _ in range(int(self.sim.cfg_i[c]))]

    def _phase(self) -> str:
        i = self.sim.I[0]
        st = i[R.I_STATUS]
        if st == R.CAUGHT:
            return "caught"
        if st == R.ESCAPED:
            return "escaped"
        return "fade-in" if i[R.I_FADE_IN] else "playing"

    def state_message(self) -> dict[str, Any]:
        """The current tick's ``state`` message (as the mod builds it from BobberBar's fields)."""
        if not self.in_minigame:
            return {"type": "state", "tick": self.tick, "minigame": self.minigame, "bar_tick": 0,
                    "phase": "waiting"}
        sim = self.sim
        f = sim.F[0].tolist()
        i = sim.I[0].tolist()
        fish = sim.pool_fish[i[R.I_FISH_INDEX]]
        return {
            "type": "state", "tick": self.tick, "minigame": self.minigame, "bar_tick": i[R.I_TICK],
            "phase": self._phase(), "applied_tick": self.action_tick, "applied_press": self.press,
            "bobberBarPos": f[R.F_BAR_POS], "bobberBarSpeed": f[R.F_BAR_SPEED], "bobberBarHeight": i[R.I_HEIGHT],
            "bobberPosition": f[R.F_FISH_POS], "lastBobberPosition": f[R.F_PREV_FISH_POS],
            "bobberSpeed": f[R.F_FISH_SPEED], "bobberTargetPosition": f[R.F_FISH_TARGET],
            "floaterSinkerAcceleration": f[R.F_FSA], "distanceFromCatching": f[R.F_PROGRESS],
            "bobberInBar": bool(i[R.I_IN_BAR]), "buttonPressed": bool(i[R.I_PRESSED]), "perfect": bool(i[R.I_PERFECT]),
            "treasure": bool(i[R.I_TREASURE]), "treasurePosition": f[R.F_TREASURE_POS],
            "treasureCatchLevel": f[R.F_TREASURE_LEVEL], "treasureCaught": bool(i[R.I_TREASURE_CAUGHT]),
            "treasureAppearTimer": f[R.F_TREASURE_TIMER], "treasureScale": f[R.F_TREASURE_SCALE],
            "fadeInScale": f[R.F_SCALE],
            "fish_id": fish.id, "fish": fish.name, "difficulty": fish.difficulty, "motion_type": fish.behavior,
            "fishing_level": i[R.I_LEVEL], "tackle": self.tackle,
            "fishing_rod": "Training Rod" if self.config.training_rod else "simulated rod",
        }

    def _send_state(self, conn: P.Connection) -> float:
        conn.send(self.state_message())
        return time.perf_counter()

    def _update(self) -> None:
        """One game update of the open minigame with the held press."""
        self.tick += 1
        self._action[0] = 1 if self.press else 0
        self.sim.step(self._action, autoreset=False)
        self.stats["minigame_ticks"] += 1
        self._cstats["minigame_ticks"] += 1
        self._conn_ticks += 1

    def _round_trip(self, seconds: float) -> None:
        self.stats["round_trips"].append(seconds)
        self._cstats["round_trips"].append(seconds)

    def _after_send(self, conn: P.Connection) -> None:
        if self.in_minigame and self._phase() in P.END_PHASES:
            self.in_minigame = False
            self._ended_at = self.tick
        if self.drop_after_ticks is not None and self._conn_ticks >= self.drop_after_ticks:
            raise P.ConnectionLost("dropping the connection (drop_after_ticks, a test of lost connections)")

    @staticmethod
    def _agent_left(msg: dict[str, Any]) -> bool:
        """True when the agent said goodbye; an agent's error message ends the connection as RemoteError."""
        if msg["type"] == "error":
            raise P.RemoteError(msg["code"], msg["message"])
        return msg["type"] == "bye"

    def _lockstep(self, conn: P.Connection) -> None:
        conn.send(self.state_message())
        sent_at = 0.0
        last_sent = -2
        heard = time.perf_counter()
        while not self._stop.is_set():
            try:
                msg = conn.recv(timeout=0.2)
            except P.BridgeTimeout:
                if time.perf_counter() - heard > self.idle_timeout:
                    self._send_error(conn, "timeout", f"no message from the agent for {self.idle_timeout} s")
                    return
                continue
            heard = time.perf_counter()
            kind = msg["type"]
            if self._agent_left(msg):
                return
            if kind == "reset":
                self._begin(msg.get("seed"), msg.get("options"))
                sent_at = self._send_state(conn)
                last_sent = self.tick
                self._after_send(conn)
            elif kind == "action" and self.in_minigame and msg["tick"] == last_sent:
                self._round_trip(time.perf_counter() - sent_at)
                self.press = msg["press"]
                self.action_tick = msg["tick"]
                self._update()
                sent_at = self._send_state(conn)
                last_sent = self.tick
                self._after_send(conn)
            # other messages (stale actions, unknown types) are ignored

    def _realtime(self, conn: P.Connection) -> None:
        period = 1.0 / self.tick_hz
        next_t = time.perf_counter()
        sent_at = 0.0
        last_sent = -2
        answered = True
        pending_reset: list[Any] = []
        deferred: tuple[Any, Any] | None = None  # a reset heard during a minigame: for the next one
        self._ended_at = self.tick
        heard = time.perf_counter()
        conn.send(self.state_message())
        while not self._stop.is_set():
            # until the next tick is due: take what the agent sends
            while True:
                left = next_t - time.perf_counter()
                if left <= 0:
                    break
                try:
                    msg = conn.recv(timeout=left)
                except P.BridgeTimeout:
                    break
                heard = time.perf_counter()
                kind = msg["type"]
                if self._agent_left(msg):
                    return
                if kind == "action":
                    if msg["tick"] == last_sent and not answered:
                        self._round_trip(heard - sent_at)
                        answered = True
                    if self.in_minigame:
                        self.press = msg["press"]
                        self.action_tick = msg["tick"]
                elif kind == "reset" and self.in_minigame:
                    # the minigame in flight plays on; the env has applied the options already, so the minigames
                    # that follow must have them (they were lost, and the env's config and the game disagreed)
                    deferred = (msg.get("seed"), msg.get("options"))
                elif kind == "reset":
                    pending_reset.append((msg.get("seed"), msg.get("options")))
            if time.perf_counter() - heard > self.idle_timeout:
                self._send_error(conn, "timeout", f"no message from the agent for {self.idle_timeout} s")
                return
            now = time.perf_counter()
            next_t += period
            if now - next_t > 0.25:  # the process was stalled: do not burst to catch up
                next_t = now + period
            if self.in_minigame:
                if not answered:
                    self.stats["late_ticks"] += 1
                    self._cstats["late_ticks"] += 1
                    if now - sent_at < 0.5 * period:  # the server itself fell behind and is catching up
                        self.stats["late_ticks_server_behind"] += 1
                        self._cstats["late_ticks_server_behind"] += 1
                self._update()
            else:
                self.tick += 1
                if pending_reset or self.tick - self._ended_at >= self.gap_ticks:
                    self._begin(*(pending_reset[-1] if pending_reset else deferred or (None, None)))
                    pending_reset.clear()
                    deferred = None
                elif (self.tick - self._ended_at) % round(self.tick_hz) == 0:
                    conn.send(self.state_message())  # heartbeat while waiting
                    continue
                else:
                    continue
            sent_at = self._send_state(conn)
            last_sent = self.tick
            answered = False
            self._after_send(conn)
            if not self.in_minigame:
                answered = True  # no answer is expected to an end state
