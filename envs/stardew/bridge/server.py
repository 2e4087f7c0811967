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
version, training_rod, caught_before, deluxe_bait), applied to the minigames that follow in the same
connection: every connection starts from the server's own configuration, whose rules its hello states
(a ``version`` option other than those rules is refused). A reset's ``seed`` is an integer 0..2**64-1
or null.

Connections
    One agent is served at a time. A second agent that connects meanwhile is told so at once: an
    ``error`` message with code ``busy`` (never silence), then the server closes that connection.
    An agent must answer the hello within ``hello_timeout`` (3 s) and then say something at least
    every ``idle_timeout`` (30 s); a silent one is sent an ``error`` with code ``timeout`` (saying
    how long it waited) before it is dropped, so a peer that says nothing holds the slot 3 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
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
MAX_SEED = 2**64 - 1  # a reset's seed: the simulator's seed range
BACKLOG = 8  # connections the OS holds before the server's acceptor takes them (and answers "busy")
BUSY_GRACE = 0.3  # s a second connection waits for the slot before it is answered "busy"


def _conn_stats() -> dict[str, Any]:
    return {"round_trips": [], "late_ticks": 0, "late_ticks_server_behind": 0, "minigame_ticks": 0}


class GameServer:
    """Serves simulated minigames to one agent connection at a time.

    ``port=0`` binds a free port (read ``server.port``). ``start()`` serves in a daemon thread,
    ``serve_forever()`` in the caller's; ``stop()`` ends either within about 0.2 s.
    ``max_connections`` ends serving after that many connections; ``idle_timeout`` closes a
    connection whose agent sent nothing for that long (a hung agent never blocks the server), and
    ``hello_timeout`` one that did not answer the hello in that time; either is sent an ``error``
    (code ``timeout``) first. An agent that connects while another is served gets an ``error`` with
    code ``busy`` at once, and the connection is closed.
    ``stats`` holds the measured state-to-action round trips (s) and the ticks that ran without
    the answer to the previous state (late; ``late_ticks_server_behind`` counts those where the
    server itself had stalled and ran the tick less than half a period after the state, catching up
    as the game's fixed time step does), in all and per connection (``per_connection``).
    """

    def __init__(self, config: GameConfig | None = None, host: str = P.DEFAULT_HOST, port: int = P.DEFAULT_PORT,
                 mode: str = "lockstep", tick_hz: float = 60.0, gap: float = 1.0, seed: int | None = None,
                 max_connections: int | None = None, idle_timeout: float = 30.0, game_version: str | None = None,
                 drop_after_ticks: int | None = None, verbose: bool = False, hello_timeout: float = 3.0):
        if mode not in ("lockstep", "realtime"):
            raise ValueError(f"mode: {mode!r} not one of ['lockstep', 'realtime']")
        config = config or GameConfig()
        # the server never truncates (the env does) and streams the fade-in like the game
        self.config = dataclasses.replace(config, skip_fade_in=False, max_ticks=2**62, frame_skip=1)
        self.base_config = self.config  # what every connection starts from; a reset's options last one connection
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
        self.hello_timeout = min(hello_timeout, idle_timeout)
        self.game_version = game_version or {"1.5": "1.5.4", "1.5.4": "1.5.4", "1.6": "1.6.15"}[config.version]
        self.rules = "1.6" if self.game_version.startswith("1.6") else "1.5"
        if self.rules != config.version:  # the hello would state other rules than the game played
            raise ValueError(f"game_version: {self.game_version!r} is not a version of the rules served "
                             f"(version {config.version!r})")
        self.drop_after_ticks = drop_after_ticks  # tests: drop the connection after this many minigame ticks
        self.verbose = verbose
        self.tackle = [tid for c, tid in _TACKLE_BY_CFG.items() for _ in range(int(self.sim.cfg_i[c]))]
        self.stats: dict[str, Any] = {**_conn_stats(), "minigames": 0, "connections": 0, "per_connection": []}
        self._cstats: dict[str, Any] = _conn_stats()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(BACKLOG)
        except BaseException:  # an address in use: the socket must not outlive the error
            self._sock.close()
            raise
        self._sock.settimeout(0.05)  # the acceptor looks at the connections waiting for the slot this often
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # the acceptor hands one connection at a time to the serving loop and answers the others "busy"
        self._incoming: queue.Queue = queue.Queue(maxsize=1)
        self._slot_lock = threading.Lock()
        self._slot_taken = False
        self._acceptor: threading.Thread | None = None
        self.busy_replies = 0
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
        self._acceptor = threading.Thread(target=self._accept_loop, name="stardew-game-server-accept", daemon=True)
        self._acceptor.start()
        try:
            while not self._stop.is_set():
                if self.max_connections is not None and served >= self.max_connections:
                    break
                try:
                    sock, addr = self._incoming.get(timeout=0.2)
                except queue.Empty:
                    continue
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
                    with self._slot_lock:
                        self._slot_taken = False
        finally:
            self._stop.set()  # the acceptor too
            if self._acceptor is not threading.current_thread():
                self._acceptor.join(timeout=5.0)
            with contextlib.suppress(OSError):
                self._sock.close()
            while not self._incoming.empty():  # taken by the acceptor, never served: closed, not leaked
                with contextlib.suppress(queue.Empty, OSError):
                    self._incoming.get_nowait()[0].close()

    def _accept_loop(self) -> None:
        """Take every connection as it comes. One goes to the serving loop when no agent is served; the others wait
        up to ``BUSY_GRACE`` seconds for the slot (an agent reconnecting at once while the server still closes its
        last connection is served, not turned away) and are then told at once that the game is busy, rather than
        left waiting in the backlog for a hello that never comes."""
        waiting: list[tuple[socket.socket, Any, float]] = []
        while not self._stop.is_set():
            try:
                sock, addr = self._sock.accept()
                waiting.append((sock, addr, time.monotonic()))
            except TimeoutError:
                pass
            except OSError:
                break
            while waiting:
                with self._slot_lock:
                    free = not self._slot_taken
                    self._slot_taken = True
                if not free:
                    break
                sock, addr, _ = waiting.pop(0)
                self._incoming.put((sock, addr))
            now = time.monotonic()
            for item in list(waiting):
                if now - item[2] >= BUSY_GRACE or len(waiting) > BACKLOG:
                    waiting.remove(item)
                    self._busy(item[0], item[1])
        for sock, _, _ in waiting:
            with contextlib.suppress(OSError):
                sock.close()

    def _busy(self, sock: socket.socket, addr: Any) -> None:
        self.busy_replies += 1
        self._log(f"agent {addr[0]}:{addr[1]} told the game is busy (another agent is connected)")
        try:
            sock.settimeout(1.0)
            sock.sendall(P.encode({"type": "error", "code": "busy", "message": (
                "the game serves another agent; it serves one at a time: try again when that one has left")}))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _drop_idle(self, conn: P.Connection, waited: float) -> None:
        """Tell an agent silent past ``idle_timeout`` why it is dropped (the caller then closes the connection)."""
        self._send_error(conn, "timeout", f"no message from the agent for {waited:.2f} s (the game waits "
                                          f"{self.idle_timeout:g} s); closing")
        self._log(f"connection ended: {conn.peer} silent for {waited:.2f} s (idle_timeout {self.idle_timeout:g} s)")

    @staticmethod
    def _send_error(conn: P.Connection, code: str, message: str) -> None:
        with contextlib.suppress(P.BridgeError):
            conn.send({"type": "error", "code": code, "message": message})

    # -- one connection ------------------------------------------------------------------------------
    def _serve(self, conn: P.Connection) -> None:
        self._restore_config()  # the last agent's reset options were its own
        conn.send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "role": "game",
                   "game": "stardew-rl reference server", "game_version": self.game_version, "rules": self.rules,
                   "mode": self.mode, "tick_hz": self.tick_hz})
        # the agent's hello, heard in slices so that stop() ends the wait within about 0.2 s as documented
        start = time.perf_counter()
        deadline = start + self.hello_timeout
        while True:
            if self._stop.is_set():
                return
            try:
                hello = conn.recv(timeout=max(0.001, min(0.2, deadline - time.perf_counter())))
                break
            except P.BridgeTimeout:
                if time.perf_counter() >= deadline:
                    waited = time.perf_counter() - start
                    self._send_error(conn, "timeout", f"no hello from the agent within {waited:.2f} s (the game "
                                                      f"waits {self.hello_timeout:g} s for it); closing")
                    raise P.BridgeTimeout(f"no hello from agent {conn.peer} within {waited:.2f} s") from None
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

    def _restore_config(self) -> None:
        if self.config != self.base_config:
            self.sim.configure(self.base_config)
            self.config = self.base_config
            self.tackle = [tid for c, tid in _TACKLE_BY_CFG.items() for _ in range(int(self.sim.cfg_i[c]))]

    @staticmethod
    def _check_seed(seed: Any) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
            raise P.MalformedMessage(f"reset: seed must be an integer 0..2**64-1 or null, got {seed!r}")

    def _check_reset(self, msg: dict[str, Any]) -> None:
        """MalformedMessage for a reset whose seed or options the next minigame could not be played with (checked
        when it arrives, also in real time where the minigame it asks for starts later)."""
        self._check_seed(msg.get("seed"))
        options = msg.get("options")
        if options:
            self._options_config(options)

    def _begin(self, seed: Any, options: Any = None) -> None:
        self._check_seed(seed)
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

    def _options_config(self, options: Any) -> GameConfig:
        """The configuration a ``reset``'s game options ask for, checked (MalformedMessage) but not applied."""
        if not isinstance(options, dict) or set(options) - GAME_OPTIONS:
            raise P.MalformedMessage(f"reset: options must be an object with keys among {sorted(GAME_OPTIONS)}")
        if "version" in options and options["version"] != self.config.version:
            raise P.MalformedMessage(f"reset: options version {options['version']!r}: this game serves "
                                     f"{self.config.version} rules, as its hello said; a reset cannot change them")
        try:
            config = self.config.with_options(options)
            config.compile()
        except (TypeError, ValueError) as e:
            raise P.MalformedMessage(f"reset: bad options: {e}") from None
        return config

    def _configure(self, options: Any) -> None:
        """Apply a ``reset``'s game options (the env's ``reset(options=...)``) to the next minigames of this
        connection."""
        config = self._options_config(options)
        self.sim.configure(config)
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
                    self._drop_idle(conn, time.perf_counter() - heard)
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
                elif kind == "reset":
                    self._check_reset(msg)
                if kind == "reset" and self.in_minigame:
                    # the minigame in flight plays on; the env has applied the options already, so the minigames
                    # that follow must have them (they were lost, and the env's config and the game disagreed)
                    deferred = (msg.get("seed"), msg.get("options"))
                elif kind == "reset":  # checked above
                    pending_reset.append((msg.get("seed"), msg.get("options")))
            if time.perf_counter() - heard > self.idle_timeout:
                self._drop_idle(conn, time.perf_counter() - heard)
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
