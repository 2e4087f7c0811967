"""Advice servers on 127.0.0.1 that speak the Anthropic Messages API and the OpenAI Chat Completions API: scripted
failure modes for the tests, and an oracle that reads the frames it is sent for the measurement.

One :class:`AdviceServer` answers ``POST /v1/messages`` (Anthropic) and ``POST /v1/chat/completions`` (OpenAI) with
the standard library's ``http.server`` in a thread. It keeps every request it got (``requests``: the parsed body,
the PNGs it carried, the tool schema) and answers according to ``mode``:

=================  ===============================================================================================
mode               reply
=================  ===============================================================================================
``good``           a tool call with ``answer`` (default: the smallest valid input of the tool's schema)
``rate_limited``   HTTP 429 with ``retry-after: <retry_after>``
``overloaded``     HTTP 529 (Anthropic's overloaded error)
``server_error``   HTTP 500
``slow``           ``good`` after ``delay_s`` seconds
``silent``         nothing until ``delay_s`` seconds have passed (or the server stops)
``malformed``      a tool call whose input has an unknown key and lacks the required ones
``text``           a text-only reply, no tool call
``no_tool``        an empty reply: no text, no tool call
``invalid_json``   a 200 whose body is not JSON
``out_of_bounds``  a tool call with a number past its schema's maximum
``oracle``         reads the PNGs (bar and fish rows, and their motion between the last two frames) and answers
                   the fishing game's best hand-written rule (:class:`envs.stardew.controllers.LeadController`),
                   right with probability ``p`` and the opposite action otherwise
``adversarial``    the oracle's opposite, always
=================  ===============================================================================================

``script`` (a list of modes) overrides ``mode`` for the first requests, one each (e.g. ``["rate_limited", "good"]``).
Token counts in the replies follow Anthropic's published estimate for images (width x height / 750 tokens each)
plus one token per 4 characters of text, so the budget and cost figures of a run against these servers are of the
size a hosted model would bill.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from agents.advisor.frames import decode_png

MODES = ("good", "rate_limited", "overloaded", "server_error", "slow", "silent", "malformed", "text", "no_tool",
         "invalid_json", "out_of_bounds", "oracle", "adversarial")


# ---- the oracle: the fishing game read back from its picture ----------------------------------------------------
def read_game(frame: np.ndarray) -> tuple[float, float, float] | None:
    """(bar top, bar height, fish position) in the game's track coordinates from an RGB frame of the fishing game
    (``envs.stardew.render``'s picture), or None when the bar or the fish is not in it."""
    from envs.stardew.render import BAR, FISH, FISH_OFFSET, TRACK_W, TRACK_X, TRACK_Y

    f = frame[..., :3].astype(np.int16)
    edge = f[:, TRACK_X + 4:TRACK_X + 8]
    bar = np.nonzero((np.abs(edge - BAR) <= 12).all(axis=2).any(axis=1))[0]
    cx = TRACK_X + TRACK_W // 2
    col = f[:, cx - 8:cx + 4]
    fish = np.nonzero((np.abs(col - FISH) <= 12).all(axis=2).any(axis=1))[0]
    if bar.size == 0 or fish.size == 0:
        return None
    top = bar.min() - 2  # the bar's 2-pixel edge is another green
    height = bar.max() - bar.min() + 5
    fish_centre = (fish.min() + fish.max()) / 2.0
    return float(top - TRACK_Y), float(height), float(fish_centre - TRACK_Y - FISH_OFFSET)


def oracle_press(frames: Sequence[np.ndarray], ticks_between: int = 2) -> bool | None:
    """Whether the reel should be held now, by :class:`~envs.stardew.controllers.LeadController` on what the frames
    show (speeds from the last two frames, ``ticks_between`` game ticks apart); None when the game is not seen."""
    from envs.stardew.controllers import LeadController, Visible

    now = read_game(frames[-1])
    if now is None:
        return None
    prev = read_game(frames[-2]) if len(frames) > 1 else None
    bar, h, fish = now
    if prev is not None:
        bar_speed, fish_vel = (bar - prev[0]) / ticks_between, (fish - prev[2]) / ticks_between
    else:
        bar_speed = fish_vel = 0.0
    v = Visible(np.array([bar]), np.array([bar_speed]), np.array([h]), np.array([fish]), np.array([fish_vel]),
                np.array([0.5]))
    return bool(LeadController()(v)[0])


def press_input(schema: dict[str, Any], press: bool) -> dict[str, Any]:
    """The tool input that holds (``press``) or releases the reel, in the schema's action space: a hybrid Dict
    (``type`` names with ``key`` / ``hold`` / ``none``) or a Discrete(2) ``action`` (0 release, 1 hold)."""
    props = schema.get("properties", {})
    if "type" in props:
        names = props["type"].get("enum") or []
        if not press:
            return {"type": "none" if "none" in names else 0}
        if "key" in names:
            return {"type": "key", "keys": [1] + [0] * (props.get("keys", {}).get("minItems", 1) - 1)}
        if "hold" in names:
            return {"type": "hold", "pointer": [0.0, 0.0]}
        raise ValueError("press_input: the action space has no 'key' or 'hold' type")
    p = props.get("action", {})
    if p.get("enum"):
        return {"action": p["enum"][1 if press else 0]}
    return {"action": 1 if press else 0}


def smallest_input(schema: dict[str, Any]) -> dict[str, Any]:
    """The smallest valid input of a tool schema (first enum value, minimum, arrays of minimums)."""
    out = {}
    for k in schema.get("required", []):
        p = schema["properties"][k]
        out[k] = _smallest(p)
    return out


def _smallest(p: dict[str, Any]) -> Any:
    if "enum" in p:
        return p["enum"][0]
    if p.get("type") == "integer":
        return int(p.get("minimum", 0))
    if p.get("type") == "number":
        return float(p.get("minimum", 0.0))
    if p.get("type") == "array":
        return [_smallest(p["items"])] * int(p.get("minItems", 1))
    return None


def out_of_bounds_input(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool input with one number past its schema's maximum (an index past a Discrete's last)."""
    out = smallest_input(schema)
    for k, p in schema.get("properties", {}).items():
        if p.get("type") == "array" and "maximum" in p.get("items", {}):
            out[k] = [p["items"]["maximum"] + 5.0] * int(p.get("minItems", 1))
            return out
        if p.get("type") == "integer" and "maximum" in p:
            out[k] = int(p["maximum"]) + 90
            return out
    raise ValueError("out_of_bounds_input: the schema has no bounded number")


def _tokens(pngs: Sequence[bytes], text: str) -> int:
    n = len(text) // 4
    for png in pngs:
        # width and height from the PNG's IHDR chunk
        w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        n += max(1, w * h // 750)
    return n


# ---- the server -----------------------------------------------------------------------------------------------
class AdviceServer:
    """An advice server on 127.0.0.1 (see the module doc); a context manager that starts and stops it.

    Args:
        mode: one of :data:`MODES`.
        answer: the ``good`` mode's tool input (default: the smallest valid input of the request's schema).
        retry_after: the ``rate_limited`` mode's ``retry-after`` header (seconds, as text).
        delay_s: the ``slow`` and ``silent`` modes' wait.
        p: the ``oracle`` mode's probability of the right action.
        seed: the oracle's noise.
        ticks_between: game ticks between two frames the advisor sends (FishingPixels-v0: 2).
        keep: how many request bodies ``requests`` keeps (the newest).
    """

    def __init__(self, mode: str = "good", answer: dict[str, Any] | None = None, retry_after: str = "0.05",
                 delay_s: float = 2.0, p: float = 1.0, seed: int = 0, ticks_between: int = 2, keep: int = 64):
        if mode not in MODES:
            raise ValueError(f"mode: {mode!r} not one of {MODES}")
        self.mode, self.answer, self.retry_after, self.delay_s = mode, answer, retry_after, delay_s
        self.p, self.ticks_between, self.keep = float(p), int(ticks_between), int(keep)
        self.rng = np.random.default_rng(seed)
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.count = 0
        self.oracle_calls = {"right": 0, "wrong": 0, "unseen": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> AdviceServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AdviceServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # what the handler calls
    def next_mode(self) -> str:
        with self._lock:
            self.count += 1
            return self.script.pop(0) if self.script else self.mode

    def record(self, api: str, body: Any, pngs: list[bytes], schema: Any) -> None:
        with self._lock:
            self.requests.append({"api": api, "body": body, "pngs": pngs, "schema": schema})
            del self.requests[:-self.keep]

    def oracle_input(self, schema: dict[str, Any], pngs: list[bytes], adversarial: bool) -> dict[str, Any]:
        frames = [decode_png(p) for p in pngs[-2:]]
        press = oracle_press(frames, self.ticks_between)
        with self._lock:
            if press is None:
                self.oracle_calls["unseen"] += 1
                press = False
            elif adversarial or self.rng.random() >= self.p:
                self.oracle_calls["wrong"] += 1
                press = not press
            else:
                self.oracle_calls["right"] += 1
        return press_input(schema, press)


def _handler(server: AdviceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): nothing to answer

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            n = int(self.headers.get("content-length", "0") or 0)
            raw = self.rfile.read(n)
            if self.path.rstrip("/").endswith("/messages"):
                api = "anthropic"
            elif self.path.rstrip("/").endswith("/chat/completions"):
                api = "openai"
            else:
                self._send(404, b'{"error": {"type": "not_found_error", "message": "no such path"}}')
                return
            try:
                body = json.loads(raw)
                pngs, schema, text = _parse(api, body)
            except (ValueError, KeyError, TypeError, IndexError) as e:
                self._send(400, json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                                       "message": str(e)}}).encode())
                return
            server.record(api, body, pngs, schema)
            mode = server.next_mode()
            model = body.get("model", "")
            if mode in ("slow", "silent"):
                if server._stop.wait(server.delay_s) or mode == "silent":
                    self._send(504, b'{"error": "gave up"}')
                    return
                mode = "good"
            if mode == "rate_limited":
                self._send(429, json.dumps({"type": "error", "error": {
                    "type": "rate_limit_error", "message": "rate limited"}}).encode(),
                    {"retry-after": server.retry_after})
                return
            if mode == "overloaded":
                self._send(529, b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}')
                return
            if mode == "server_error":
                self._send(500, b'{"type": "error", "error": {"type": "api_error", "message": "Internal error"}}')
                return
            if mode == "invalid_json":
                self._send(200, b'{"id": "msg_1", "content": [ this is not JSON')
                return
            tokens_in = _tokens(pngs, text + json.dumps(schema))
            if mode in ("text", "no_tool"):
                say = "I think you should hold the button." if mode == "text" else ""
                self._send(200, json.dumps(_reply(api, model, None, say, tokens_in, 12 if say else 1)).encode())
                return
            if mode == "malformed":
                tool_input: Any = {"bogus": "jump", "velocity": "fast"}
            elif mode == "out_of_bounds":
                tool_input = out_of_bounds_input(schema)
            elif mode in ("oracle", "adversarial"):
                tool_input = server.oracle_input(schema, pngs, mode == "adversarial")
            else:
                tool_input = server.answer if server.answer is not None else smallest_input(schema)
            self._send(200, json.dumps(_reply(api, model, tool_input, "", tokens_in, 20)).encode())

    return Handler


def _parse(api: str, body: dict[str, Any]) -> tuple[list[bytes], dict[str, Any], str]:
    """(PNGs, tool schema, text) of a request body."""
    pngs: list[bytes] = []
    text = ""
    if api == "anthropic":
        content = body["messages"][-1]["content"]
        for block in content:
            if block.get("type") == "image":
                src = block["source"]
                if src.get("media_type") != "image/png":
                    raise ValueError(f"image media_type {src.get('media_type')!r}, expected image/png")
                pngs.append(base64.b64decode(src["data"]))
            elif block.get("type") == "text":
                text += block["text"]
        schema = body["tools"][0]["input_schema"]
        sys_blocks = body.get("system") or []
        text += "".join(b.get("text", "") for b in sys_blocks) if isinstance(sys_blocks, list) else str(sys_blocks)
    else:
        for m in body["messages"]:
            c = m["content"]
            if isinstance(c, str):
                text += c
                continue
            for part in c:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    head, _, data = url.partition(",")
                    if head != "data:image/png;base64":
                        raise ValueError(f"image_url {head!r}, expected data:image/png;base64")
                    pngs.append(base64.b64decode(data))
                elif part.get("type") == "text":
                    text += part["text"]
        schema = body["tools"][0]["function"]["parameters"]
    for png in pngs:
        if png[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError("an image that is not a PNG")
    return pngs, schema, text


def _reply(api: str, model: str, tool_input: Any, text: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    now = int(time.time())
    if api == "anthropic":
        content: list[dict[str, Any]] = []
        if text:
            content.append({"type": "text", "text": text})
        if tool_input is not None:
            content.append({"type": "tool_use", "id": "toolu_01", "name": "act", "input": tool_input})
        return {"id": f"msg_{now}", "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": "tool_use" if tool_input is not None else "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_input is not None:
        message["tool_calls"] = [{"id": "call_01", "type": "function",
                                  "function": {"name": "act", "arguments": json.dumps(tool_input)}}]
    return {"id": f"chatcmpl-{now}", "object": "chat.completion", "created": now, "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if tool_input is not None else "stop"}],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                      "total_tokens": tokens_in + tokens_out}}


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.advisor.servers --mode oracle``: serve on 127.0.0.1 until interrupted; prints the URL."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m agents.advisor.servers", description=main.__doc__)
    p.add_argument("--mode", choices=MODES, default="oracle")
    p.add_argument("--p", type=float, default=1.0, help="the oracle's probability of the right action")
    p.add_argument("--delay", type=float, default=2.0, help="seconds of the slow and silent modes")
    p.add_argument("--seconds", type=float, default=None, help="quit after this long")
    args = p.parse_args(argv)
    with AdviceServer(args.mode, p=args.p, delay_s=args.delay) as srv:
        print(srv.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            srv._stop.wait(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
