"""The advisor: asks a vision-language model for an action when the policy is unsure, and never fails the game.

:class:`Advisor` takes the current frame(s), the policy's proposed action and its uncertainty, and returns an
:class:`Advice`: an action of the env's own action space, or none (the policy's action stands). In this order:

1. **cache**: the frames' perceptual hash is looked up (:class:`~agents.advisor.cache.AdviceCache`); a stored reply
   within the Hamming distance is the advice, and no request is sent;
2. **budget**: if a run or episode limit is spent (:class:`~agents.advisor.limits.Budget`), no request;
3. **rate limits**: if the requests or tokens per minute are used up now, no request (``throttled``);
4. **request** through the backend, retried on timeouts, connection errors, 429, 529 and other 5xx up to
   ``max_retries`` times, each wait the server's ``retry-after`` (or a doubling backoff) capped at
   ``max_retry_wait_s``, never past the query's deadline;
5. **reply**: the tool input is read back into the action space (:func:`~agents.advisor.schema.parse_action`); a
   reply that is text only, has no tool call, is not JSON, is malformed or out of bounds gives no advice.

Every way of getting no advice is counted under its reason in :attr:`Advisor.stats` (``fallbacks`` and
``fallback_reasons``), and nothing raises into the caller's loop. With ``wait_s`` (a live window), the request runs
in a worker thread beside the game loop and :meth:`Advisor.ask` waits at most ``wait_s`` for it: advice that comes
later is counted as ``late``, logged and cached, but not applied to a step it was not asked for.

Every query is one JSON line in the log (``log_path``): frame hash, uncertainty, proposal, advice, whether it was
applied, reason, latency, tokens, and, when the caller records demonstrations, the demo episode and step it belongs
to (:func:`agents.advisor.demos.load_advice_demos` turns such a log into BC demonstrations).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from agents.advisor.backends import BackendError, Reply, Request, make_backend
from agents.advisor.cache import AdviceCache
from agents.advisor.frames import Region, check_region, crop, encode_png, frame_hash
from agents.advisor.limits import Budget, RateLimits, Usage, load_prices
from agents.advisor.schema import AdviceError, action_to_json, parse_action, tool_input_schema

SYSTEM_PROMPT = (
    "You advise an agent that plays a game from its screen. The agent asks you only when it is unsure what to do. "
    "You get the current screen frame (and, when there are several, the frames just before it, oldest first), the "
    "task, the action the agent proposes and how unsure it is. Decide the single best action for this moment and "
    "answer only by calling the tool `act` with it; its input schema is the game's action space. Do not answer in "
    "text.")
DEFAULT_TASK = "Play the game shown in the frame as well as possible."


@dataclass
class AdvisorSettings:
    """Everything an :class:`Advisor` can be told; the defaults suit a live game.

    Attributes:
        backend: ``"anthropic"`` or ``"openai"``.
        model: the model id (default: the backend's, see :mod:`agents.advisor.backends`).
        base_url: the server (default: ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``, else the provider's API).
        api_key: default ``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY``.
        task: what the user wants done, in words (sent with every query).
        timeout_s: seconds one request may take.
        max_retries: further attempts after a retryable failure (0: none).
        max_retry_wait_s: the longest wait before a retry, whatever ``retry-after`` says.
        max_tokens: the reply's token limit.
        region: (x, y, w, h) of the frame that is sent (None: the whole frame).
        hash_region: (x, y, w, h) of the frame the cache key is computed from (None: ``region``).
        context_frames: how many recent frames are sent (1: only the current one).
        cache_path: the SQLite cache file; None keeps the cache in memory for this run; ``"off"`` disables it.
        cache_distance: the largest Hamming distance (bits) of a cache hit.
        hash_size: the perceptual hash's side (``hash_size**2`` bits a frame).
        requests_per_minute: rate limit (None: none).
        tokens_per_minute: rate limit (None: none).
        budget: calls, tokens and cost per run and per episode.
        price_in: US dollars per million input tokens (default: the price table's entry for the model, if any).
        price_out: US dollars per million output tokens (likewise).
        log_path: the JSONL query log (None: no log).
    """

    backend: str = "anthropic"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    task: str = DEFAULT_TASK
    timeout_s: float = 10.0
    max_retries: int = 1
    max_retry_wait_s: float = 2.0
    max_tokens: int = 256
    region: Region | None = None
    hash_region: Region | None = None
    context_frames: int = 1
    cache_path: str | None = None
    cache_distance: int = 4
    hash_size: int = 8
    requests_per_minute: int | None = 600
    tokens_per_minute: int | None = None
    budget: Budget = field(default_factory=Budget)
    price_in: float | None = None
    price_out: float | None = None
    log_path: str | None = None

    def __post_init__(self) -> None:
        self.region = check_region(self.region)
        self.hash_region = check_region(self.hash_region)
        for name, low in (("timeout_s", 1e-9), ("max_retry_wait_s", 0.0)):
            if not float(getattr(self, name)) >= low:
                raise ValueError(f"{name}: need >= {low:g}, got {getattr(self, name)!r}")
        for name, low in (("max_retries", 0), ("max_tokens", 1), ("context_frames", 1), ("cache_distance", 0),
                          ("hash_size", 2)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < low:
                raise ValueError(f"{name}: need an integer >= {low}, got {v!r}")


@dataclass
class Advice:
    """One query's outcome: ``action`` (of the env's action space) or None, where it came from (``"model"``,
    ``"cache"`` or ``"none"``), why there is none (``reason``), and what it took."""

    action: Any
    source: str
    reason: str | None = None
    latency_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    query: int = 0

    @property
    def advised(self) -> bool:
        return self.action is not None


def _zero_stats() -> dict[str, Any]:
    return {"queries": 0, "advised": 0, "cache_hits": 0, "requests": 0, "fallbacks": 0, "fallback_reasons": {},
            "late": 0, "tokens": 0, "input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 0,
            "cache_read_tokens": 0, "cost_usd": 0.0, "latency_s": 0.0}


class Advisor:
    """Advice for one env's action space (see the module doc).

    Args:
        action_space: the env's action space (``Dict``, ``Discrete``, ``Box``, ``MultiBinary``).
        settings: :class:`AdvisorSettings`.
        names: labels for parts of the action space (:func:`~agents.advisor.schema.tool_input_schema`).
        backend: a backend object with ``send(Request) -> Reply`` (default: made from the settings).
    """

    def __init__(self, action_space: spaces.Space, settings: AdvisorSettings | None = None,
                 names: Mapping[str, Sequence[str]] | None = None, backend: Any = None):
        self.settings = s = settings or AdvisorSettings()
        self.space = action_space
        self.names = dict(names or {})
        self.schema = tool_input_schema(action_space, self.names)
        self.backend = backend or make_backend(s.backend, model=s.model, api_key=s.api_key, base_url=s.base_url,
                                               timeout=s.timeout_s)
        self.model = getattr(self.backend, "model", s.model or "")
        price = None
        if s.price_in is not None or s.price_out is not None:
            pi, po = float(s.price_in or 0.0), float(s.price_out or 0.0)
            price = {"input": pi, "output": po, "cache_write": 1.25 * pi, "cache_read": 0.1 * pi}
        else:
            price = load_prices().get(self.model)
        self.price = price
        self.budget = s.budget
        self.limits = RateLimits(s.requests_per_minute, s.tokens_per_minute)
        ns = json.dumps({"backend": getattr(self.backend, "name", s.backend), "model": self.model, "task": s.task,
                         "schema": self.schema, "region": s.region, "frames": s.context_frames,
                         "hash": s.hash_size}, sort_keys=True)
        self.namespace = hashlib.sha256(ns.encode()).hexdigest()[:16]
        self.cache = None if s.cache_path == "off" else AdviceCache(
            s.cache_path or ":memory:", namespace=self.namespace, max_distance=s.cache_distance)
        self.stats = _zero_stats()
        self._lock = threading.Lock()
        self._log = None
        if s.log_path:
            Path(s.log_path).parent.mkdir(parents=True, exist_ok=True)
            self._log = open(s.log_path, "a", buffering=1)  # noqa: SIM115 - closed in close()
        self._pool: cf.ThreadPoolExecutor | None = None
        self._inflight: cf.Future | None = None
        self._queries = 0

    # ---- public -------------------------------------------------------------------------------------------------
    def new_episode(self) -> None:
        """The per-episode budget starts again."""
        with self._lock:
            self.budget.new_episode()

    def ask(self, frames: Sequence[np.ndarray] | np.ndarray, proposed: Any, uncertainty: float,
            measure: str = "", wait_s: float | None = None, context: Mapping[str, Any] | None = None) -> Advice:
        """Advice for the newest of ``frames`` (an (H, W, 3) frame or a list, oldest first; the last
        ``context_frames`` are sent, the oldest repeated when there are fewer). ``wait_s`` None: wait for the reply (offline play); a number: a live window,
        where the reply is awaited at most this long (see the module doc). ``context`` goes into the log line."""
        t0 = time.monotonic()
        with self._lock:
            self._queries += 1
            qid = self._queries
            self.stats["queries"] += 1
        entry: dict[str, Any] = {"query": qid, "t": round(time.time(), 3), "uncertainty": float(uncertainty),
                                 "measure": measure, **(dict(context) if context else {})}
        try:
            if isinstance(frames, np.ndarray) and frames.ndim in (2, 3) and frames.dtype == np.uint8:
                frames = [frames]
            frames = list(frames)[-self.settings.context_frames:]
            # at an episode's start fewer frames exist: the oldest repeats (as a frame stack does), so every query
            # sends, and hashes, the same number of frames
            frames = [frames[0]] * (self.settings.context_frames - len(frames)) + frames
            entry["proposed"] = _jsonable(action_to_json(self.space, proposed, self.names))
            s = self.settings
            hr = s.hash_region or s.region
            h = frame_hash([crop(f, hr) for f in frames], s.hash_size)
            entry["frame_hash"] = h.tobytes().hex()
            if self.cache is not None:
                hit = self.cache.get(h)
                if hit is not None:
                    value, dist = hit
                    try:
                        action = parse_action(self.space, value, self.names)
                    except AdviceError:
                        action = None
                    if action is not None:
                        self._count(cache_hits=1, advised=1)
                        return self._done(entry, Advice(action, "cache", latency_s=time.monotonic() - t0, query=qid),
                                          value, cache_distance=dist)
            with self._lock:
                spent = self.budget.exhausted()
            if spent is not None:
                return self._fallback(entry, qid, t0, "budget", detail=spent)
            if not self.limits.allow():
                return self._fallback(entry, qid, t0, "throttled")
            req = self._request(frames, proposed, uncertainty, measure)
            if wait_s is None:
                return self._finish(entry, qid, t0, h, *self._query(req, t0))
            return self._ask_live(entry, qid, t0, h, req, float(wait_s))
        except Exception as e:  # noqa: BLE001 - advice is optional: nothing raises into the env loop
            return self._fallback(entry, qid, t0, "error", detail=f"{type(e).__name__}: {e}")

    def close(self) -> None:
        """Wait for a query still running, then close the log and the cache."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.cache is not None:
            self.cache.close()

    def summary(self) -> dict[str, Any]:
        """The counters, with rates: ``query_rate`` needs ``steps`` set by the caller."""
        with self._lock:
            st = json.loads(json.dumps(self.stats))
        q = max(1, st["queries"])
        st["cache_hit_rate"] = st["cache_hits"] / q
        st["mean_latency_s"] = st["latency_s"] / q
        st["model"] = self.model
        st["backend"] = getattr(self.backend, "name", self.settings.backend)
        st["cost_usd"] = round(st["cost_usd"], 6)
        return st

    # ---- internals ----------------------------------------------------------------------------------------------
    def _request(self, frames: list[np.ndarray], proposed: Any, uncertainty: float, measure: str) -> Request:
        s = self.settings
        pngs = [encode_png(crop(f, s.region)) for f in frames]
        prop = json.dumps(_jsonable(action_to_json(self.space, proposed, self.names)))
        text = (f"Task: {s.task}\nThe agent proposes: {prop}\nIts uncertainty"
                f"{f' ({measure})' if measure else ''}: {float(uncertainty):.4g}\n"
                f"Call `act` with the action to take now.")
        return Request(pngs=pngs, text=text, system=SYSTEM_PROMPT, schema=self.schema,
                       tool_description="The action the agent takes now, in the game's action space.",
                       max_tokens=s.max_tokens)

    def _query(self, req: Request, t0: float) -> tuple[Reply | None, str | None, str, int]:
        """(reply, failure kind, detail, attempts): retries as the module doc says; never raises."""
        s = self.settings
        deadline = t0 + s.timeout_s * (s.max_retries + 1) + s.max_retry_wait_s * s.max_retries
        attempt = 0
        while True:
            attempt += 1
            self._count(requests=1)
            try:
                reply = self.backend.send(req)
            except BackendError as e:
                self._charge(e.usage)
                wait = e.retry_after if e.retry_after is not None else 0.25 * 2 ** (attempt - 1)
                wait = min(wait, s.max_retry_wait_s)
                if e.retryable and attempt <= s.max_retries and time.monotonic() + wait < deadline:
                    time.sleep(wait)
                    continue
                return None, e.kind, str(e), attempt
            except Exception as e:  # noqa: BLE001 - a backend's own bug is a fallback too
                return None, "error", f"{type(e).__name__}: {e}", attempt
            self._charge(reply.usage)
            return reply, None, "", attempt

    def _finish(self, entry: dict[str, Any], qid: int, t0: float, h: np.ndarray, reply: Reply | None,
                kind: str | None, detail: str, attempts: int, late: bool = False) -> Advice:
        entry["attempts"] = attempts
        if reply is None:
            return self._fallback(entry, qid, t0, kind or "error", detail=detail, late=late)
        entry["tokens"] = reply.usage.__dict__
        if reply.problem is not None:
            return self._fallback(entry, qid, t0, reply.problem, detail=reply.text[:200], usage=reply.usage,
                                  late=late)
        try:
            action = parse_action(self.space, reply.tool_input, self.names)
        except AdviceError as e:
            entry["reply"] = _jsonable(reply.tool_input)
            return self._fallback(entry, qid, t0, e.kind, detail=str(e), usage=reply.usage, late=late)
        if self.cache is not None:
            self.cache.put(h, reply.tool_input)
        if late:
            self._count(late=1, fallbacks=1, reason="late")
            entry.update(late=True)
            return self._done(entry, Advice(None, "none", "late", time.monotonic() - t0, reply.usage, qid),
                              reply.tool_input, count=False)
        self._count(advised=1)
        return self._done(entry, Advice(action, "model", None, time.monotonic() - t0, reply.usage, qid),
                          reply.tool_input)

    def _ask_live(self, entry: dict[str, Any], qid: int, t0: float, h: np.ndarray, req: Request,
                  wait_s: float) -> Advice:
        if self._inflight is not None and not self._inflight.done():
            return self._fallback(entry, qid, t0, "busy")
        if self._pool is None:
            self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="advisor")
        fut = self._pool.submit(self._query, req, t0)
        self._inflight = fut
        try:
            result = fut.result(timeout=wait_s)
        except cf.TimeoutError:
            # the answer is for a step that has been played: count it when it comes, keep it for the cache and log
            fut.add_done_callback(lambda f: self._finish(dict(entry), qid, t0, h, *f.result(), late=True))
            return Advice(None, "none", "pending", time.monotonic() - t0, Usage(), qid)
        return self._finish(entry, qid, t0, h, *result)

    def _charge(self, usage: Usage) -> None:
        cost = usage.cost(self.price)
        self.limits.observed(usage.total)
        with self._lock:  # a live window's query is charged from the worker thread
            self.budget.charge(1, usage.total, cost)
            st = self.stats
            st["tokens"] += usage.total
            st["input_tokens"] += usage.input
            st["output_tokens"] += usage.output
            st["cache_write_tokens"] += usage.cache_write
            st["cache_read_tokens"] += usage.cache_read
            st["cost_usd"] += cost

    def _count(self, reason: str | None = None, **inc: int) -> None:
        with self._lock:
            for k, v in inc.items():
                self.stats[k] += v
            if reason is not None:
                r = self.stats["fallback_reasons"]
                r[reason] = r.get(reason, 0) + 1

    def _fallback(self, entry: dict[str, Any], qid: int, t0: float, reason: str, detail: str = "",
                  usage: Usage | None = None, late: bool = False) -> Advice:
        if late:  # a late answer that was no good anyway: counted under its own reason, once
            entry["late"] = True
        self._count(fallbacks=1, reason=reason)
        if detail:
            entry["detail"] = detail[:300]
        return self._done(entry, Advice(None, "none", reason, time.monotonic() - t0, usage or Usage(), qid), None,
                          count=False)

    def _done(self, entry: dict[str, Any], advice: Advice, reply: Any, count: bool = True,
              cache_distance: int | None = None) -> Advice:
        with self._lock:
            self.stats["latency_s"] += advice.latency_s
        if self._log is not None:
            entry.update(advice=_jsonable(reply) if advice.action is not None else None, source=advice.source,
                         accepted=advice.action is not None, reason=advice.reason,
                         latency_s=round(advice.latency_s, 4))
            if cache_distance is not None:
                entry["cache_distance"] = cache_distance
            try:
                with self._lock:
                    if self._log is not None:
                        self._log.write(json.dumps(entry) + "\n")
            except (OSError, TypeError, ValueError):
                pass
        return advice


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x
