"""Rate limits and the budget: how often the advisor may ask, and how much it may spend.

* :class:`RateLimits`: requests and tokens per minute through ``pyrate-limiter`` (a well-kept limiter with
  in-memory, SQLite and Redis buckets). A request the limits do not allow now is not sent, and not waited for: the
  game does not wait, the policy's own action is used and the query is counted as ``throttled``. The tokens a
  request will use are not known before it is sent; the last reply's count stands in for them.
* :class:`Budget`: calls, tokens and an estimated cost (US dollars) per episode and per run. Once one of them is
  spent, no request is sent until the next episode (the episode limits) or at all (the run limits).

Prices per million tokens come from ``agents/advisor/data/prices.json`` (list prices; check the provider's page)
or are given by the user; a model without a price costs nothing in the estimate (and says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("data") / "prices.json"


def load_prices(path: str | Path = PRICES_FILE) -> dict[str, dict[str, float]]:
    """Model id -> {"input", "output", "cache_write", "cache_read"} US dollars per million tokens."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the price table: {e}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ValueError(f"{path}: need an object with a 'models' object")
    out = {}
    for model, p in models.items():
        if not isinstance(p, dict) or not all(isinstance(p.get(k), (int, float)) for k in ("input", "output")):
            raise ValueError(f"{path}: models.{model}: need numbers 'input' and 'output' (USD per million tokens)")
        out[model] = {"input": float(p["input"]), "output": float(p["output"]),
                      "cache_write": float(p.get("cache_write", 1.25 * p["input"])),
                      "cache_read": float(p.get("cache_read", 0.1 * p["input"]))}
    return out


@dataclass
class Usage:
    """Tokens of one reply (Anthropic's names; an OpenAI reply fills ``input`` and ``output``)."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    def cost(self, price: dict[str, float] | None) -> float:
        """Estimated US dollars at ``price`` (per million tokens); 0 without a price."""
        if not price:
            return 0.0
        return (self.input * price["input"] + self.output * price["output"] + self.cache_write * price["cache_write"]
                + self.cache_read * price["cache_read"]) / 1e6


@dataclass
class Budget:
    """Limits per run and per episode; None is no limit. ``cost`` in estimated US dollars."""

    run_calls: int | None = None
    run_tokens: int | None = None
    run_cost: float | None = None
    episode_calls: int | None = None
    episode_tokens: int | None = None
    episode_cost: float | None = None
    spent: dict[str, float] = field(default_factory=lambda: {"calls": 0, "tokens": 0, "cost": 0.0})
    episode: dict[str, float] = field(default_factory=lambda: {"calls": 0, "tokens": 0, "cost": 0.0})

    def __post_init__(self) -> None:
        for name in ("run_calls", "run_tokens", "run_cost", "episode_calls", "episode_tokens", "episode_cost"):
            v = getattr(self, name)
            if v is not None and not v >= 0:
                raise ValueError(f"budget {name}: need >= 0 or None, got {v!r}")

    def exhausted(self) -> str | None:
        """Which limit is spent (``"run_calls"``...), or None while requests may still be sent."""
        for scope, used in (("run", self.spent), ("episode", self.episode)):
            for what in ("calls", "tokens", "cost"):
                limit = getattr(self, f"{scope}_{what}")
                if limit is not None and used[what] >= limit:
                    return f"{scope}_{what}"
        return None

    def charge(self, calls: int, tokens: int, cost: float) -> None:
        """Count a request (sent, whatever its outcome) and what its reply used."""
        for d in (self.spent, self.episode):
            d["calls"] += calls
            d["tokens"] += tokens
            d["cost"] += cost

    def new_episode(self) -> None:
        """The episode limits start again."""
        self.episode = {"calls": 0, "tokens": 0, "cost": 0.0}

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("run_calls", "run_tokens", "run_cost", "episode_calls",
                                              "episode_tokens", "episode_cost")}


class RateLimits:
    """Requests and tokens per minute (None: unlimited), never blocking: :meth:`allow` says whether a request may
    go now and takes its share if so."""

    def __init__(self, requests_per_minute: int | None = None, tokens_per_minute: int | None = None):
        from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate

        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        for name, v in (("requests_per_minute", self.rpm), ("tokens_per_minute", self.tpm)):
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"{name}: need an integer >= 1 or None, got {v!r}")
        self._req = Limiter(InMemoryBucket([Rate(self.rpm, Duration.MINUTE)])) if self.rpm else None
        self._tok = Limiter(InMemoryBucket([Rate(self.tpm, Duration.MINUTE)])) if self.tpm else None
        self.expected_tokens = 1

    def allow(self) -> bool:
        """Whether one more request fits both limits now (its request and expected tokens are then taken)."""
        if self._tok is not None:
            need = max(1, min(self.expected_tokens, self.tpm))
            if not self._tok.try_acquire("tokens", weight=need, blocking=False):
                return False
        return not (self._req is not None and not self._req.try_acquire("requests", blocking=False))

    def observed(self, tokens: int) -> None:
        """The tokens a reply used: the estimate for the next request."""
        if tokens > 0:
            self.expected_tokens = int(tokens)
