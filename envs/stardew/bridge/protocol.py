"""The stardew-rl bridge wire protocol, version 1.

The bridge connects a *game side* (the SMAPI mod inside Stardew Valley, the reference server
``python -m envs.stardew.serve``, or the C# test program ``mod/ProtocolTest``) to an *agent side*
(``StardewFishing-v0`` with ``backend="socket"``). The game side listens, the agent side connects.
``docs/bridge-protocol.md`` is the same specification with examples.

Transport
    TCP, bound to ``127.0.0.1`` by default (default port 8765), ``TCP_NODELAY`` on both sides. One
    agent at a time; the game side accepts the next connection when the current one ends. The
    reference server answers an agent that connects meanwhile with an ``error`` of code ``busy``
    in place of its hello, and closes that connection.

Framing
    Every message is one frame: a 4-byte big-endian unsigned length ``n`` followed by ``n`` bytes
    of UTF-8 JSON encoding one JSON object. ``1 <= n <= MAX_MESSAGE_BYTES`` (65,536); a peer that
    announces a longer frame is in error *before* anything is read past the header, so a bad peer
    cannot make the other side buffer without bound. Why this choice: a length prefix needs no
    escaping and no scanning for delimiters, lets the reader size each read exactly and reject
    oversize frames up front; JSON is readable in a packet capture, extensible (unknown fields are
    ignored) and writable by hand in C# without a JSON library (the mod has no dependency for it).
    A state message is about 700 bytes, so encoding cost is negligible next to the 16.7 ms tick.

Handshake
    1. On accept, the game side sends ``hello``::

           {"type": "hello", "protocol": 1, "role": "game", "game": "Stardew Valley",
            "game_version": "1.6.15", "rules": "1.6", "mode": "realtime", "tick_hz": 60}

       ``mode`` is ``"realtime"`` (the game runs at ``tick_hz`` and never waits) or ``"lockstep"``
       (the game runs a tick only after the action answering the previous state arrives).
       ``rules`` is the minigame version, ``"1.5"`` or ``"1.6"``.
    2. The agent side checks ``protocol`` (must equal :data:`PROTOCOL_VERSION`) and that
       ``rules`` (or else ``game_version``) matches the env's ``version`` option, then answers::

           {"type": "hello", "protocol": 1, "role": "agent", "client": "stardew-rl 0.1.0",
            "rules": "1.5"}

    3. The game side checks ``protocol`` too. Either side that finds a mismatch sends
       ``{"type": "error", "code": "version", "message": "..."}`` and closes.

Game -> agent: ``state``, one per game tick while a minigame is open (and at least once a second
while none is, as a heartbeat with ``phase: "waiting"``)::

    {"type": "state", "tick": 81234, "minigame": 7, "bar_tick": 20, "phase": "playing",
     "applied_tick": 81233, "applied_press": false,
     "bobberBarPos": 432.0, "bobberBarSpeed": 0.0, "bobberBarHeight": 136,
     "bobberPosition": 508.0, "lastBobberPosition": 508.0, "bobberSpeed": 0.0,
     "bobberTargetPosition": 219.2, "floaterSinkerAcceleration": 0.0,
     "distanceFromCatching": 0.3, "bobberInBar": false, "buttonPressed": false, "perfect": true,
     "treasure": false, "treasurePosition": 0.0, "treasureCatchLevel": 0.0, "treasureCaught": false,
     "treasureAppearTimer": 2143.0, "treasureScale": 0.0,
     "fish_id": 128, "fish": "Pufferfish", "difficulty": 80, "motion_type": "floater",
     "fishing_level": 5, "tackle": [], "fishing_rod": "Fiberglass Rod"}

* ``tick``: the game's update counter (monotone for the connection); actions echo it.
* ``minigame``: a counter of minigames (BobberBar menus) opened since the game side started.
* ``bar_tick``: updates since this BobberBar opened, fade-in included (the simulator's ``tick``).
* ``phase``: ``"waiting"`` (no minigame), ``"fade-in"`` (the bar scales in, input is ignored),
  ``"playing"``, ``"caught"`` or ``"escaped"`` (the last state of a minigame).
* ``applied_tick`` / ``applied_press``: the action the game used in *this* tick's update: the
  press, and the tick of the state the agent answered (-1 when no action had arrived since the
  connection opened). ``buttonPressed`` is what BobberBar itself saw.
* ``agent_paused`` (the mod only): the player pressed the mod's stop switch (``ToggleKey``); the
  game applies the player's own input, so ``applied_tick`` is -1 until the agent is resumed.
* raw values: the BobberBar fields under the game's names (floats are C# ``float``; writers use
  a round-trip format, so the values are exact), then what the minigame is about. In
  ``"waiting"`` states only the first five fields are required.

Agent -> game:

* ``{"type": "action", "tick": 81234, "press": true}``: hold (true) or release (false) the
  use-tool button, answering the state of ``tick``. The game applies the latest action it has
  received to every following update until another arrives (it *holds* the last action); an
  action that arrives after the next update ran is late and applies from the update after.
* ``{"type": "reset", "seed": 123}``: a hint that the agent wants a new minigame. The reference
  server starts one at once (seeded, ``seed`` may be null); in lockstep it drops any minigame in
  flight, in realtime a minigame in flight plays on and the next one (cast ``gap`` after its end)
  takes the reset's seed. The mod ignores it (a player or an auto-caster starts minigames).
  Optional field ``options``: the game options of ``env.reset(options=...)`` (fish, level,
  tackle, treasure, ...), which the reference server applies to the minigames that follow.
* ``{"type": "bye"}``: the agent is leaving; the game side closes the connection.

Either side: ``{"type": "error", "code": "...", "message": "..."}`` then close. Codes: ``version``,
``protocol`` (a malformed message, or a state outside the game's physical ranges: :class:`ImpossibleState`),
``timeout`` (the agent did not answer the hello in time, or went silent), ``busy``, ``internal``.

Rules for readers: unknown fields and unknown message types are ignored (so version 1 can grow
fields); a frame that is not a JSON object, lacks ``type`` or a required field, or has a field of
the wrong type is malformed: the reader raises :class:`MalformedMessage` naming what was wrong, and
the connection is closed.
"""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import struct
import time
from typing import Any

PROTOCOL_VERSION = 1
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_MESSAGE_BYTES = 65_536
HEADER = struct.Struct(">I")

PHASES = ("waiting", "fade-in", "playing", "caught", "escaped")
MINIGAME_PHASES = ("fade-in", "playing", "caught", "escaped")
END_PHASES = ("caught", "escaped")

# required fields of each message type and their JSON types (bool is not accepted as a number)
_NUM = (int, float)
REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "hello": {"protocol": (int,)},
    "state": {"tick": (int,), "minigame": (int,), "bar_tick": (int,), "phase": (str,)},
    "action": {"tick": (int,), "press": (bool,)},
    "reset": {},
    "bye": {},
    "error": {"code": (str,), "message": (str,)},
}
# further required fields of a state whose phase is a minigame phase
STATE_FIELDS: dict[str, tuple[type, ...]] = {
    "applied_tick": (int,),
    "applied_press": (bool,),
    "bobberBarPos": _NUM,
    "bobberBarSpeed": _NUM,
    "bobberBarHeight": (int,),
    "bobberPosition": _NUM,
    "distanceFromCatching": _NUM,
    "bobberInBar": (bool,),
    "buttonPressed": (bool,),
    "perfect": (bool,),
    "fishing_level": (int,),
    "difficulty": _NUM,
}
# fields of a minigame state that may be left out, checked when present: the env reads them into its observation
# and info, where a null became NaN and a string a bare ValueError naming no field
OPTIONAL_STATE_FIELDS: dict[str, tuple[type, ...]] = {
    "lastBobberPosition": _NUM,
    "bobberSpeed": _NUM,
    "bobberTargetPosition": _NUM,
    "floaterSinkerAcceleration": _NUM,
    "treasure": (bool,),
    "treasurePosition": _NUM,
    "treasureCatchLevel": _NUM,
    "treasureCaught": (bool,),
    "treasureAppearTimer": _NUM,
    "treasureScale": _NUM,
    "fadeInScale": _NUM,
    "motion_type": (str,),
    "fish": (str,),
    "fish_id": (int, str),
}
# the game holds its numbers as C# float and int: a value past these overflowed the env's arrays (1e39 became inf)
FLOAT32_MAX = 3.4028234663852886e38
INT64_RANGE = (-(2**63), 2**63 - 1)


class BridgeError(Exception):
    """Base of every error the bridge raises."""


class ProtocolError(BridgeError):
    """The peer broke the protocol (bad frame, bad JSON, missing field, unexpected message)."""


class MalformedMessage(ProtocolError):
    """A frame that is not a valid protocol message; the message says what was wrong."""


class ImpossibleState(MalformedMessage):
    """A well-formed ``state`` whose numbers no game can hold (a bar 0 px tall, progress 7...): the message names
    the field, its value and the game's range (:data:`envs.stardew.features.STATE_RANGES`)."""


class MessageTooLarge(ProtocolError):
    """A frame longer than :data:`MAX_MESSAGE_BYTES` (or empty)."""


class VersionMismatch(BridgeError):
    """The peer speaks another protocol version or runs another game version."""


class BridgeTimeout(BridgeError, TimeoutError):
    """Nothing arrived from the peer within the timeout."""


class ConnectionLost(BridgeError, ConnectionError):
    """The peer closed the connection or the socket failed."""


class RemoteError(BridgeError):
    """The peer sent an ``error`` message."""

    def __init__(self, code: str, message: str):
        super().__init__(f"peer reported {code!r}: {message}")
        self.code = code
        self.remote_message = message


def encode(msg: dict[str, Any]) -> bytes:
    """One frame for ``msg`` (raises :class:`MessageTooLarge` past the limit)."""
    body = json.dumps(msg, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"message of {len(body)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    return HEADER.pack(len(body)) + body


def encode_action(tick: int, press: bool) -> bytes:
    """The frame of an ``action`` message (the hot path of every step: no json.dumps)."""
    body = b'{"type":"action","tick":%d,"press":%s}' % (tick, b"true" if press else b"false")
    return HEADER.pack(len(body)) + body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode(body: bytes) -> dict[str, Any]:
    """Parse and validate one frame body; raises :class:`MalformedMessage` saying what was wrong."""
    try:
        msg = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise MalformedMessage(f"frame is not UTF-8: {e}") from None
    except ValueError as e:
        raise MalformedMessage(f"frame is not JSON: {e} (starts {body[:40]!r})") from None
    except RecursionError:
        raise MalformedMessage("frame nests JSON too deeply") from None
    if not isinstance(msg, dict):
        raise MalformedMessage(f"message must be a JSON object, got {type(msg).__name__}")
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise MalformedMessage(f"message has no string 'type' field (keys {sorted(msg)[:10]})")
    required = REQUIRED.get(kind)
    if required is None:
        return msg  # unknown message types are ignored by the caller
    _check_fields(msg, kind, required)
    if kind == "reset":
        seed = msg.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise MalformedMessage(f"reset message: field 'seed' must be an integer or null, got {seed!r}")
        if "options" in msg and msg["options"] is not None and not isinstance(msg["options"], dict):
            raise MalformedMessage(f"reset message: field 'options' must be an object, got {msg['options']!r}")
    if kind == "state":
        phase = msg["phase"]
        if phase not in PHASES:
            raise MalformedMessage(f"state: phase {phase!r} not one of {list(PHASES)}")
        if phase != "waiting":
            _check_fields(msg, f"state ({phase})", STATE_FIELDS)
            _check_fields(msg, f"state ({phase})", OPTIONAL_STATE_FIELDS, required=False)
    return msg


_ABSENT = object()


def _check_fields(msg: dict[str, Any], what: str, fields: dict[str, tuple[type, ...]], required: bool = True) -> None:
    # msg comes from json.loads, so each value's type is exactly one of int, float, bool, str, list, dict, None
    # (a bool is not an int here): one type lookup per field, on the path every state message takes
    for name, types in fields.items():
        v = msg.get(name, _ABSENT)
        t = type(v)
        if t in types:
            if t is float and not -FLOAT32_MAX <= v <= FLOAT32_MAX:  # NaN and inf fail the comparison too
                if not math.isfinite(v):
                    raise MalformedMessage(f"{what} message: field {name!r} is not finite")
                raise MalformedMessage(f"{what} message: field {name!r} = {v!r} is beyond a float's range")
            if t is int and not INT64_RANGE[0] <= v <= INT64_RANGE[1]:
                raise MalformedMessage(f"{what} message: field {name!r} = {v} is beyond a 64-bit integer")
            continue
        if v is _ABSENT:
            if required:
                raise MalformedMessage(f"{what} message lacks the required field {name!r}")
            continue
        if t is bool:
            raise MalformedMessage(f"{what} message: field {name!r} must be {_names(types)}, got a bool")
        raise MalformedMessage(f"{what} message: field {name!r} must be {_names(types)}, got {v!r}")


def _names(types: tuple[type, ...]) -> str:
    return " or ".join({int: "an integer", float: "a number", bool: "a boolean", str: "a string"}[t] for t in types)


class Connection:
    """A framed message connection over a connected TCP socket (either side).

    ``recv(timeout)`` returns the next message (unknown types included; the caller skips them) or
    raises :class:`BridgeTimeout`, :class:`ConnectionLost`, :class:`MessageTooLarge` or
    :class:`MalformedMessage`. ``poll()`` returns a message only if a whole one is already here.
    """

    def __init__(self, sock: socket.socket, peer: str = "peer"):
        self.sock = sock
        self.peer = peer
        self._buf = bytearray()
        self.closed = False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # non-blocking for good: a read tries recv first and waits (poll) only when nothing is there,
        # so the hot path costs no timeout bookkeeping syscalls
        sock.setblocking(False)
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(sock, select.POLLIN)

    def _wait(self, timeout: float | None, write: bool = False) -> bool:
        """Wait until the socket is readable (writable); False on timeout."""
        if self._poller is not None and not write:
            return bool(self._poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999))))
        r, w, _ = select.select([] if write else [self.sock], [self.sock] if write else [], [], timeout)
        return bool(r or w)

    # -- sending -------------------------------------------------------------------------------------
    def send(self, msg: dict[str, Any]) -> None:
        self.send_frame(encode(msg))

    def send_frame(self, frame: bytes, timeout: float = 5.0) -> None:
        if self.closed:
            raise ConnectionLost(f"connection to {self.peer} is closed")
        view = memoryview(frame)
        deadline = None
        try:
            while view:
                try:
                    n = self.sock.send(view)
                except BlockingIOError:
                    n = 0
                if n:
                    view = view[n:]
                    continue
                if deadline is None:
                    deadline = time.monotonic() + timeout
                left = deadline - time.monotonic()
                if left <= 0 or not self._wait(left, write=True):
                    raise BridgeTimeout(f"{self.peer} did not read for {timeout:g} s (send buffer full)")
        except OSError as e:
            self.closed = True
            raise ConnectionLost(f"connection to {self.peer} lost while sending: {e}") from None

    # -- receiving -----------------------------------------------------------------------------------
    def _take(self) -> dict[str, Any] | None:
        buf = self._buf
        if len(buf) < 4:
            return None
        (n,) = HEADER.unpack_from(buf)
        if n > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(
                f"{self.peer} announced a {n}-byte frame; the limit is {MAX_MESSAGE_BYTES} bytes"
            )
        if n == 0:
            raise MalformedMessage(f"{self.peer} sent an empty frame (length 0)")
        if len(buf) < 4 + n:
            return None
        body = bytes(buf[4:4 + n])
        del buf[:4 + n]
        try:
            return decode(body)
        except MalformedMessage as e:  # which peer sent it: a user may have the game and a reference server up
            raise MalformedMessage(f"{self.peer}: {e}") from None

    def _read(self) -> bool:
        """Append what has arrived to the buffer; False if nothing was there."""
        try:
            data = self.sock.recv(262_144)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as e:
            self.closed = True
            raise ConnectionLost(f"connection to {self.peer} lost: {e}") from None
        if not data:
            self.closed = True
            raise ConnectionLost(f"{self.peer} closed the connection")
        self._buf += data
        return True

    def recv(self, timeout: float | None) -> dict[str, Any]:
        """The next message, waiting at most ``timeout`` seconds (None: forever)."""
        msg = self._take()
        if msg is not None:
            return msg
        if self.closed:
            raise ConnectionLost(f"connection to {self.peer} is closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self._read():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise BridgeTimeout(f"no complete message from {self.peer} within {timeout:.3g} s")
                if not self._wait(left):
                    raise BridgeTimeout(f"no complete message from {self.peer} within {timeout:.3g} s")
                continue
            msg = self._take()
            if msg is not None:
                return msg

    def poll(self) -> dict[str, Any] | None:
        """A message if one can be had without waiting, else None."""
        msg = self._take()
        if msg is not None or self.closed:
            return msg
        if not self._read():
            return None
        return self._take()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


def check_hello(msg: dict[str, Any], expect_role: str, rules: str | None = None) -> None:
    """Check a peer's ``hello``: protocol version, and (agent side) the game's rules version."""
    if msg.get("type") == "error":
        raise RemoteError(str(msg.get("code")), str(msg.get("message")))
    if msg.get("type") != "hello":
        raise ProtocolError(f"expected a 'hello' message first, got {msg.get('type')!r}")
    if msg["protocol"] != PROTOCOL_VERSION:
        raise VersionMismatch(
            f"peer speaks bridge protocol version {msg['protocol']}, this side speaks {PROTOCOL_VERSION}"
        )
    if rules is not None:
        theirs = msg.get("rules") or msg.get("game_version")
        if not isinstance(theirs, str) or not _same_rules(theirs, rules):
            raise VersionMismatch(
                f"game runs version {msg.get('game_version')!r} (rules {msg.get('rules')!r}) but the env "
                f"was made with version={rules!r}; pass version= matching the game"
            )


def _same_rules(theirs: str, ours: str) -> bool:
    def major_minor(v: str) -> str:
        return ".".join(v.strip().split(".")[:2])

    return major_minor(theirs) == major_minor(ours)
