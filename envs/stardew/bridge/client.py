"""The agent side of the bridge: :class:`RemoteGame`, behind ``StardewFishing-v0(backend="socket")``.

The client mirrors every state the game sends into row 0 of the env's one-game simulator
(``sim.F`` / ``sim.I``) and computes the observation with :func:`envs.stardew.features.write_obs`
and the reward with :func:`envs.stardew.sim.end_step`, the same code the simulator backend uses.
So spaces, rewards and info are the simulator's, and a lock-step episode from the reference server
is identical to the simulator's episode for the same seed.

Real-time semantics (the live game, or ``serve --realtime``)
    The game does not wait. It sends one state per tick (60 per second) and applies, in each
    update, the latest action it has received; until a new one arrives it *holds* the last one.
    ``step(a)`` sends ``a`` answering the newest state, then waits for the state ``frame_skip``
    ticks later. If the agent was slow and more states are already waiting, ``step`` takes the
    newest (the others ran on the held action) and reports it in ``info``:

    * ``info["late"]``: the action did not reach the game in time for the next update (the game
      applied the previous press there);
    * ``info["missed_ticks"]``: ticks the game ran beyond this step's ``frame_skip`` without an
      answer from the agent (0 when keeping up);
    * ``info["applied_press"]``: the press the game applied in the last tick;
    * ``info["game_tick"]``: the game's tick counter. Totals are on ``RemoteGame.late_total`` and
      ``RemoteGame.missed_total``.

    In lock-step (``serve`` default) the game waits for each answer, so late and missed are 0.

``reset()`` connects if needed, sends a ``reset`` hint (with the seed and the game options of
``reset(options=...)``, which the reference server applies and the game ignores), and waits (``reset_timeout``) for the next
minigame the client sees from its start; it answers the fade-in states with "release" and returns
at the first playing state (or the first fade-in state with ``skip_fade_in=False``). A minigame in
flight when ``reset()`` is called is not returned. If the connection turns out to have died while
the agent was idle, ``reset()`` reconnects once by itself. ``step()`` waits at most ``timeout`` seconds for
a state. Errors are :mod:`envs.stardew.bridge.protocol`'s: :class:`BridgeTimeout`,
:class:`ConnectionLost`, :class:`VersionMismatch`, :class:`MalformedMessage`,
:class:`MessageTooLarge`, :class:`RemoteError`. After any of them the connection is closed and the
episode is over; the next ``reset()`` reconnects.

If the game closes a minigame without a result (the player cancelled, the mod's menu went away),
the step ends with ``truncated=True`` and ``info["closed"] = True``.

Every state is checked against the game's physical ranges (:data:`envs.stardew.features.STATE_RANGES`, the
same ranges the seed-mod CSV loader checks): a state no game can be in (a bar 0 px tall, progress 7, a bar
past its track's end) raises
:class:`~envs.stardew.bridge.protocol.ImpossibleState` naming the field, its value and the range, and the
game is told why (an ``error`` with code ``protocol``). So observations stay inside the observation space,
rewards inside the simulator's, and a recording of the episode loads again. ``info`` describes the state just
received (its bar height, level and chest), not the one at reset.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import numpy as np

from envs.stardew import features as feats
from envs.stardew import rules as R
from envs.stardew.bridge import protocol as P
from envs.stardew.sim import FishingSim, end_step

GAME_OPTIONS = {"fish", "level", "tackle", "treasure", "version", "training_rod", "caught_before", "deluxe_bait"}
CLIENT_NAME = "stardew-rl 0.1.0"

_MOTION = {name: i for i, name in enumerate(R.MOTION_NAMES)}
_STATUS = {"caught": R.CAUGHT, "escaped": R.ESCAPED}
_F_COLS = np.array([R.F_BAR_POS, R.F_BAR_SPEED, R.F_FISH_POS, R.F_PREV_FISH_POS, R.F_FISH_SPEED, R.F_FISH_TARGET,
                    R.F_FSA, R.F_PROGRESS, R.F_DIFFICULTY, R.F_TREASURE_POS, R.F_TREASURE_LEVEL,
                    R.F_TREASURE_TIMER, R.F_TREASURE_SCALE, R.F_SCALE])
_I_COLS = np.array([R.I_HEIGHT, R.I_FADE_IN, R.I_PRESSED, R.I_IN_BAR, R.I_PERFECT, R.I_TREASURE, R.I_TREASURE_CAUGHT,
                    R.I_LEVEL, R.I_TICK, R.I_MOTION, R.I_FISH_INDEX])


def _json_value(v: Any) -> Any:
    """An option's value as JSON can carry it: numpy scalars and arrays (which the simulator backend takes) as
    Python numbers and lists, tuples as lists."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def check_state(m: dict[str, Any]) -> None:
    """Raise :class:`~envs.stardew.bridge.protocol.ImpossibleState` unless every number of the state message ``m``
    (types already checked by the protocol) lies in the game's physical range, and the bar within its track."""
    where = f"state of tick {m.get('tick')!r}"
    for name in feats.STATE_RANGES:
        v = m.get(name)
        if v is None or isinstance(v, bool):
            continue
        why = feats.out_of_range(name, v)
        if why is not None:
            raise P.ImpossibleState(f"{where}: {why}")
    if m.get("phase") == "waiting":
        return
    bar, height = m["bobberBarPos"], m["bobberBarHeight"]
    if bar + height > R.BAR_TRACK_HEIGHT:
        raise P.ImpossibleState(f"{where}: bobberBarPos {bar!r} + bobberBarHeight {height!r} is past the end of the "
                                f"bar's track ({R.BAR_TRACK_HEIGHT} px)")


class RemoteGame:
    """One live (or reference-server) game behind the protocol, mirrored into ``sim`` row 0."""

    def __init__(self, host: str = P.DEFAULT_HOST, port: int = P.DEFAULT_PORT, sim: FishingSim | None = None,
                 timeout: float = 5.0, reset_timeout: float = 600.0, connect_timeout: float = 5.0):
        self.host = host
        self.port = int(port)
        self.sim = sim if sim is not None else FishingSim(1)
        self.timeout = timeout
        self.reset_timeout = reset_timeout
        self.connect_timeout = connect_timeout
        self.conn: P.Connection | None = None
        self.hello: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None  # the state the agent answers next
        self.in_episode = False
        self._current: int | None = None  # minigame id in flight (not ended) as last seen
        self.late_total = 0
        self.missed_total = 0
        self.connections = 0
        self._fish_rows: dict[tuple, int] = {}  # (fish_id, name) -> row of sim.pool_fish
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None  # the observation space's, for _clip_obs

    # -- connection ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed

    def connect(self) -> None:
        """Connect and handshake (closing any previous connection)."""
        self.disconnect()
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            raise P.ConnectionLost(f"could not connect to the game at {where}: {e} "
                                   "(is the mod loaded / `python -m envs.stardew.serve` running?)") from None
        conn = P.Connection(sock, peer=f"game at {where}")
        try:
            try:
                hello = conn.recv(timeout=self.connect_timeout)
            except P.BridgeTimeout:
                # the OS accepts into the listen backlog while the game side still serves an earlier agent, so
                # "connected, then silence" nearly always means another agent holds the one slot
                raise P.BridgeTimeout(
                    f"the game at {where} took the connection but sent no hello within {self.connect_timeout:g} s: "
                    "it serves one agent at a time, so another agent is probably connected (close that env, or "
                    "end its Python process), or the game is paused or frozen, or still starting up") from None
            try:
                P.check_hello(hello, "game", rules=self.sim.config.version)
            except P.RemoteError as e:
                if e.code == "version":
                    raise P.VersionMismatch(f"the game refused this client: {e.remote_message}") from None
                raise
            except P.VersionMismatch as e:
                err = {"type": "error", "code": "version", "message": str(e)}
                with contextlib.suppress(P.BridgeError):
                    conn.send(err)
                raise
            conn.send({"type": "hello", "protocol": P.PROTOCOL_VERSION, "role": "agent", "client": CLIENT_NAME,
                       "rules": self.sim.config.version})
        except BaseException:
            conn.close()
            raise
        self.conn, self.hello = conn, hello
        self.connections += 1
        self._current = None

    def disconnect(self) -> None:
        if self.conn is not None:
            if not self.conn.closed:
                with contextlib.suppress(P.BridgeError):
                    self.conn.send({"type": "bye"})
            self.conn.close()
        self.conn = None
        self.in_episode = False

    def close(self) -> None:
        self.disconnect()

    # -- receiving -----------------------------------------------------------------------------------
    def _recv_state(self, deadline: float, what: str) -> dict[str, Any]:
        """The next state message before ``deadline`` (other types skipped; errors raised)."""
        assert self.conn is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise P.BridgeTimeout(f"no state from the game within {what}")
            try:
                msg = self.conn.recv(timeout=left)
            except P.BridgeTimeout:
                raise P.BridgeTimeout(f"no state from the game within {what}") from None
            if self._accept(msg):
                return msg

    def _accept(self, msg: dict[str, Any]) -> bool:
        kind = msg["type"]
        if kind == "state":
            try:
                check_state(msg)
            except P.ImpossibleState as e:
                if self.conn is not None:
                    with contextlib.suppress(P.BridgeError):
                        self.conn.send({"type": "error", "code": "protocol", "message": str(e)})
                raise
            return True
        if kind == "error":
            if msg["code"] == "version":
                raise P.VersionMismatch(f"the game refused this client: {msg['message']}")
            raise P.RemoteError(msg["code"], msg["message"])
        return False  # hello repeats, unknown types: ignored

    def _guard(self, fn, *args):
        """Run ``fn``; on any bridge error close the connection (the next reset reconnects)."""
        try:
            return fn(*args)
        except (P.BridgeError, OSError):
            self.disconnect()
            raise

    def _send_action(self, tick: int, press: bool) -> None:
        assert self.conn is not None
        self.conn.send_frame(P.encode_action(tick, press))

    # -- reset ---------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Wait for the next minigame; -> (obs, info) at its first playing state."""
        fresh = not self.connected
        if fresh:
            self.connect()
        try:
            return self._guard(self._reset, seed, options)
        except (P.ConnectionLost, P.RemoteError):
            if fresh:
                raise
        # the connection had died while idle (the game restarted, or dropped a silent agent): once more
        self.connect()
        return self._guard(self._reset, seed, options)

    def _reset(self, seed: int | None, options: dict | None) -> tuple[np.ndarray, dict]:
        assert self.conn is not None
        self.in_episode = False
        self._fish_rows.clear()  # reset(options=...) may have changed the env's fish pool
        request: dict[str, Any] = {"type": "reset", "seed": None if seed is None else int(seed)}
        if options:
            request["options"] = {k: _json_value(v) for k, v in options.items() if k in GAME_OPTIONS}
        self.conn.send(request)
        stale = self._current
        fresh: int | None = None
        skip_fade_in = self.sim.config.skip_fade_in
        deadline = time.monotonic() + self.reset_timeout
        while True:
            msg = self._recv_state(deadline, f"{self.reset_timeout:g} s waiting for a minigame (reset_timeout)")
            phase = msg["phase"]
            if phase == "waiting":
                self._current = None
                continue
            m = msg["minigame"]
            if m != fresh:
                if m == stale or msg["bar_tick"] > R.FADE_IN_TICKS:
                    stale = m  # in flight before reset() or seen too late to have seen its start
                    continue
                fresh = m
            if phase in P.END_PHASES:
                fresh = None
                continue
            if phase == "playing" or not skip_fade_in:
                break
            self._send_action(msg["tick"], False)  # fade-in: input is ignored; lock-step needs the answer
        self._current = m
        self.last = msg
        self.in_episode = True
        sim = self.sim
        self._mirror(msg)
        sim.I[0, R.I_EPISODE] += 1  # a new minigame: the simulator keys its per-episode info on this count
        sim.I[0, R.I_STATUS] = R.PLAYING
        sim.F[0, R.F_PREV_PROGRESS] = sim.F[0, R.F_PROGRESS]
        feats.write_obs(sim.F, sim.I, 0, sim.feat, sim.obs[0])
        self._clip_obs()
        info = self._info(msg)
        info.update(late=False, missed_ticks=0)
        return sim.obs[0].copy(), info

    # -- step ----------------------------------------------------------------------------------------
    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.in_episode or not self.connected:
            raise P.BridgeError("step() without a minigame in progress: call reset() first "
                                "(after an error the connection was closed; reset() reconnects)")
        return self._guard(self._step, bool(action))

    def _step(self, press: bool) -> tuple[np.ndarray, float, bool, bool, dict]:
        sim = self.sim
        last = self.last
        assert last is not None and self.conn is not None
        skip = int(sim.cfg_i[R.C_FRAME_SKIP])
        start_bar_tick = last["bar_tick"]
        target = start_bar_tick + skip
        p0 = float(sim.F[0, R.F_PROGRESS])
        self._send_action(last["tick"], press)
        deadline = time.monotonic() + self.timeout
        seed_sum = 0.0
        late = False
        first = True
        closed = False
        msg = last
        nxt: dict[str, Any] | None = None
        while True:
            if nxt is None:
                nxt = self._recv_state(deadline, f"{self.timeout:g} s (timeout) during a minigame")
            new, nxt = nxt, None
            if new["phase"] == "waiting" or new["minigame"] != last["minigame"]:
                closed = True  # the minigame went away without a result
                break
            msg = new
            seed_sum += float(np.float32(msg["distanceFromCatching"]))
            if first:
                late = msg["applied_tick"] != last["tick"]
                first = False
            if msg["phase"] in P.END_PHASES:
                break
            if msg["bar_tick"] < target:
                self._send_action(msg["tick"], press)  # hold within frame_skip (lock-step needs each answer)
                continue
            nxt = self._poll_state()  # real time: states already here ran on the held action
            if nxt is None:
                break
        missed = max(0, msg["bar_tick"] - target) if not closed else 0
        self.late_total += int(late)
        self.missed_total += missed
        self.last = msg
        self._mirror(msg)
        phase = msg["phase"]
        sim.I[0, R.I_STATUS] = _STATUS.get(phase, R.PLAYING)
        reward, st = end_step(sim.F, sim.I, 0, np.float32(p0), seed_sum, sim.cfg_i, sim.cfg_f)
        if closed:
            st = R.TRUNCATED
            sim.I[0, R.I_STATUS] = st
        feats.write_obs(sim.F, sim.I, 0, sim.feat, sim.obs[0])
        self._clip_obs()
        terminated = st == R.CAUGHT or st == R.ESCAPED
        truncated = st == R.TRUNCATED
        if terminated or truncated:
            self.in_episode = False
            if msg["phase"] in P.END_PHASES or closed:
                self._current = None
        info = self._info(msg)
        info.update(late=late, missed_ticks=missed)
        if closed:
            info["closed"] = True
        return sim.obs[0].copy(), float(reward), bool(terminated), bool(truncated), info

    def _poll_state(self) -> dict[str, Any] | None:
        assert self.conn is not None
        while True:
            msg = self.conn.poll()
            if msg is None or self._accept(msg):
                return msg

    # -- mirroring -----------------------------------------------------------------------------------
    def _mirror(self, m: dict[str, Any]) -> None:
        """Write a state message into sim row 0 (float32 fields exactly as the game holds them)."""
        g = m.get
        fish_pos = m["bobberPosition"]
        playing_scale = 0.0 if m["phase"] == "fade-in" else 1.0
        # one vectorized store each: numpy rounds every value to float32 as np.float32(x) does
        self.sim.F[0, _F_COLS] = (
            m["bobberBarPos"], m["bobberBarSpeed"], fish_pos, g("lastBobberPosition", fish_pos),
            g("bobberSpeed", 0.0), g("bobberTargetPosition", -1.0), g("floaterSinkerAcceleration", 0.0),
            m["distanceFromCatching"], m["difficulty"], g("treasurePosition", 0.0), g("treasureCatchLevel", 0.0),
            g("treasureAppearTimer", 0.0), g("treasureScale", 0.0), g("fadeInScale", playing_scale),
        )
        self.sim.I[0, _I_COLS] = (
            m["bobberBarHeight"], m["phase"] == "fade-in", m["buttonPressed"], m["bobberInBar"], m["perfect"],
            bool(g("treasure", False)), bool(g("treasureCaught", False)), m["fishing_level"], m["bar_tick"],
            _MOTION.get(str(g("motion_type", "mixed")).lower(), R.MIXED), self._fish_index(m),
        )

    def _fish_index(self, m: dict[str, Any]) -> int:
        key = (str(m.get("fish_id")), m.get("fish"))
        k = self._fish_rows.get(key)
        if k is None:
            k = 0  # not in the env's pool: info's fish fields come from the message
            for row, fish in enumerate(self.sim.pool_fish):
                if str(fish.id) == key[0] and (key[1] is None or fish.name == key[1]):
                    k = row
                    break
            if len(self._fish_rows) > 1024:
                self._fish_rows.clear()
            self._fish_rows[key] = k
        return k

    def _clip_obs(self) -> None:
        """Keep the observation inside the observation space. The checked fields put every feature inside it but
        one: the fish's movement over the last tick (``fish_vel``), which a game side other than the simulator
        (a dart the simulator never makes) can push past its bound of 64 px a tick; it is clipped there."""
        if self._bounds is None:
            self._bounds = feats.bounds(self.sim.feature_names)
        np.clip(self.sim.obs[0], *self._bounds, out=self.sim.obs[0])

    def _info(self, m: dict[str, Any]) -> dict[str, Any]:
        info = self.sim.state_dict(0)
        # the per-minigame fields from this state, not from the one reset() saw
        info["bobberBarHeight"] = int(m["bobberBarHeight"])
        info["fishing_level"] = int(m["fishing_level"])
        if "treasure" in m:
            info["treasure"] = bool(m["treasure"])
        for key in ("fish", "fish_id", "difficulty", "motion_type"):
            if key in m:
                info[key] = m[key]
        info["applied_press"] = m.get("applied_press", False)
        info["game_tick"] = m["tick"]
        return info
