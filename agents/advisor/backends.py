"""The two ways to reach a vision-language model: the Anthropic Messages API and any OpenAI-compatible server.

Both go through the providers' official SDKs (``anthropic``, ``openai``), both send the same request: a fixed system
prompt, the frame(s) as base64 PNG images, a text with the task, the policy's proposal and its uncertainty, and one
tool whose input schema is the env's action space (:mod:`agents.advisor.schema`), which the model is told to call.

* :class:`AnthropicBackend`: ``client.messages.create`` with image blocks, ``tools`` + ``tool_choice`` naming the
  tool, and ``cache_control`` on the system prompt and the tool (Anthropic's prompt caching: the fixed part of every
  request is billed at the cache-read price once cached; it only takes effect from the model's minimum cacheable
  prompt length on). Key from ``api_key`` or ``ANTHROPIC_API_KEY``, base URL from ``base_url`` or
  ``ANTHROPIC_BASE_URL``.
* :class:`OpenAIBackend`: ``client.chat.completions.create`` with ``image_url`` data URLs and a ``function`` tool,
  which Ollama and vLLM serve locally. Key from ``api_key`` or ``OPENAI_API_KEY``, base URL from ``base_url`` or
  ``OPENAI_BASE_URL``; a local server needs no key.

The SDKs' own retries are switched off (``max_retries=0``): the Anthropic SDK sleeps for whatever ``retry-after`` a
server sends, with no upper bound, which a game loop cannot afford. :class:`~agents.advisor.advisor.Advisor` retries
itself, with each wait capped and never past the query's deadline. Every failure is raised as a
:class:`BackendError` whose ``kind`` names it (``timeout``, ``connection``, ``rate_limited`` (429), ``overloaded``
(529), ``server_error`` (other 5xx), ``http_<code>``, ``invalid_json``, ``auth``, ``error``); a reply without the
tool call comes back as a :class:`Reply` whose ``problem`` is ``text_only`` or ``no_tool_call``.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from agents.advisor.limits import Usage

TOOL_NAME = "act"
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
DEFAULT_OPENAI_MODEL = "qwen2.5vl:7b"
RETRYABLE = ("timeout", "connection", "rate_limited", "overloaded", "server_error")


class BackendError(Exception):
    """A request that got no usable reply; ``kind`` names why, ``retry_after`` is the server's wait (s) if any."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, usage: Usage | None = None):
        self.kind = kind
        self.retry_after = retry_after
        self.usage = usage or Usage()
        super().__init__(f"{kind}: {message}")

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass
class Reply:
    """A model's reply: the tool input (None when it made no tool call), its text, the tokens it used, and
    ``problem`` (``"text_only"``, ``"no_tool_call"``, ``"invalid_json"``) when there is no tool input."""

    tool_input: Any = None
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    problem: str | None = None


@dataclass
class Request:
    """What one query sends: the PNGs (oldest first), the user text, the system prompt and the tool's schema."""

    pngs: list[bytes]
    text: str
    system: str
    schema: dict[str, Any]
    tool_description: str
    max_tokens: int = 256


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        v = headers.get(name)
        if v is not None:
            try:
                return max(0.0, float(v) * scale)
            except ValueError:
                continue
    return None


def _status_kind(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 529:
        return "overloaded"
    if status in (401, 403):
        return "auth"
    if status >= 500 or status == 408:
        return "server_error"
    return f"http_{status}"


def _classify(e: Exception, sdk: Any) -> BackendError:
    """An SDK exception -> BackendError."""
    if isinstance(e, sdk.APITimeoutError):
        return BackendError("timeout", str(e) or "request timed out")
    if isinstance(e, sdk.APIConnectionError):
        return BackendError("connection", str(e) or "connection failed")
    if isinstance(e, sdk.APIStatusError):
        resp = getattr(e, "response", None)
        return BackendError(_status_kind(e.status_code), f"HTTP {e.status_code}: {str(e)[:200]}",
                            retry_after=_retry_after(getattr(resp, "headers", None)))
    if isinstance(e, (json.JSONDecodeError, sdk.APIResponseValidationError)):
        return BackendError("invalid_json", f"{type(e).__name__}: {str(e)[:200]}")
    return BackendError("error", f"{type(e).__name__}: {str(e)[:200]}")


class AnthropicBackend:
    """The Anthropic Messages API through the official ``anthropic`` SDK.

    Args:
        model: a model id (default :data:`DEFAULT_ANTHROPIC_MODEL`; the SDK's ``anthropic.types.Model`` lists them).
        api_key: default ``ANTHROPIC_API_KEY``; a server at an explicit base URL without a key gets a placeholder.
        base_url: default ``ANTHROPIC_BASE_URL``, else Anthropic's API.
        timeout: seconds one request may take.
    """

    name = "anthropic"

    def __init__(self, model: str | None = None, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 10.0):
        import anthropic

        self.sdk = anthropic
        self.model = model or DEFAULT_ANTHROPIC_MODEL
        base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        api_key = api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        if api_key is None and base_url is None:
            raise ValueError("anthropic backend: no API key (set ANTHROPIC_API_KEY or pass api_key) and no base URL "
                             "(ANTHROPIC_BASE_URL) of a local server")
        self.base_url = base_url
        self.client = anthropic.Anthropic(api_key=api_key or "no-key", base_url=base_url, timeout=timeout,
                                          max_retries=0)

    def send(self, req: Request) -> Reply:
        """One request; a :class:`BackendError` for any failure."""
        content: list[dict[str, Any]] = []
        for i, png in enumerate(req.pngs):
            if len(req.pngs) > 1:
                content.append({"type": "text", "text": f"Frame {i + 1} of {len(req.pngs)}"
                                                        + (" (now):" if i == len(req.pngs) - 1 else ":")})
            content.append({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                         "data": base64.b64encode(png).decode("ascii")}})
        content.append({"type": "text", "text": req.text})
        try:
            msg = self.client.messages.create(
                model=self.model, max_tokens=req.max_tokens,
                system=[{"type": "text", "text": req.system, "cache_control": {"type": "ephemeral"}}],
                tools=[{"name": TOOL_NAME, "description": req.tool_description, "input_schema": req.schema,
                        "cache_control": {"type": "ephemeral"}}],
                tool_choice={"type": "tool", "name": TOOL_NAME},
                messages=[{"role": "user", "content": content}])
        except Exception as e:  # noqa: BLE001 - every failure becomes a counted fallback
            raise _classify(e, self.sdk) from None
        try:
            u = msg.usage
            usage = Usage(int(getattr(u, "input_tokens", 0) or 0), int(getattr(u, "output_tokens", 0) or 0),
                          int(getattr(u, "cache_creation_input_tokens", 0) or 0),
                          int(getattr(u, "cache_read_input_tokens", 0) or 0))
            blocks = list(msg.content or [])
        except Exception as e:  # noqa: BLE001 - a body that is not a Message (a string, a list...)
            raise BackendError("invalid_json", f"not a Messages API reply: {type(e).__name__}: {e}") from None
        text = "".join(getattr(b, "text", "") or "" for b in blocks if getattr(b, "type", None) == "text")
        for b in blocks:
            if getattr(b, "type", None) == "tool_use" and getattr(b, "name", None) == TOOL_NAME:
                return Reply(tool_input=getattr(b, "input", None), text=text, usage=usage)
        return Reply(text=text, usage=usage, problem="text_only" if text.strip() else "no_tool_call")


class OpenAIBackend:
    """Any server of the Chat Completions API (OpenAI, Ollama, vLLM...) through the official ``openai`` SDK.

    Args:
        model: the server's model name (default :data:`DEFAULT_OPENAI_MODEL`, an Ollama vision model).
        api_key: default ``OPENAI_API_KEY``; a local server needs none.
        base_url: default ``OPENAI_BASE_URL``, else OpenAI's API.
        timeout: seconds one request may take.
    """

    name = "openai"

    def __init__(self, model: str | None = None, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 10.0):
        import openai

        self.sdk = openai
        self.model = model or os.environ.get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None and base_url is None:
            raise ValueError("openai backend: no API key (set OPENAI_API_KEY or pass api_key) and no base URL "
                             "(OPENAI_BASE_URL) of a local server such as Ollama or vLLM")
        self.base_url = base_url
        self.client = openai.OpenAI(api_key=api_key or "no-key", base_url=base_url, timeout=timeout, max_retries=0)

    def send(self, req: Request) -> Reply:
        """One request; a :class:`BackendError` for any failure."""
        content: list[dict[str, Any]] = []
        for png in req.pngs:
            content.append({"type": "image_url", "image_url": {
                "url": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}})
        content.append({"type": "text", "text": req.text})
        try:
            resp = self.client.chat.completions.create(
                model=self.model, max_tokens=req.max_tokens,
                messages=[{"role": "system", "content": req.system}, {"role": "user", "content": content}],
                tools=[{"type": "function", "function": {"name": TOOL_NAME, "description": req.tool_description,
                                                         "parameters": req.schema}}],
                tool_choice={"type": "function", "function": {"name": TOOL_NAME}})
        except Exception as e:  # noqa: BLE001 - every failure becomes a counted fallback
            raise _classify(e, self.sdk) from None
        try:
            u = resp.usage
            usage = Usage(int(getattr(u, "prompt_tokens", 0) or 0), int(getattr(u, "completion_tokens", 0) or 0))
            message = resp.choices[0].message
            calls = list(message.tool_calls or [])
            text = message.content or ""
        except Exception as e:  # noqa: BLE001 - a body that is not a chat completion
            raise BackendError("invalid_json", f"not a Chat Completions reply: {type(e).__name__}: {e}") from None
        for c in calls:
            fn = getattr(c, "function", None)
            if fn is not None and fn.name == TOOL_NAME:
                try:
                    return Reply(tool_input=json.loads(fn.arguments or ""), text=text, usage=usage)
                except (TypeError, json.JSONDecodeError):
                    return Reply(text=text, usage=usage, problem="invalid_json")
        return Reply(text=text, usage=usage, problem="text_only" if text.strip() else "no_tool_call")


BACKENDS = {"anthropic": AnthropicBackend, "openai": OpenAIBackend}


def make_backend(name: str, **kwargs: Any) -> AnthropicBackend | OpenAIBackend:
    """A backend by name (``anthropic`` or ``openai``)."""
    if name not in BACKENDS:
        raise ValueError(f"backend: {name!r} not one of {sorted(BACKENDS)}")
    return BACKENDS[name](**kwargs)
