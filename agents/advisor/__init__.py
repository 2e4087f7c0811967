"""An LLM advisor for uncertain states: a vision-language model the policy consults when it is unsure.

The policy plays; when its uncertainty passes a calibrated threshold, the advisor sends the env's current frame(s)
as PNG, the task in words, and the policy's proposed action to a model (the Anthropic Messages API, or any
OpenAI-compatible server such as Ollama or vLLM), which answers through a tool whose JSON schema is the env's action
space. Advice replaces the policy's action for that step; anything else (an error, a late, malformed or
out-of-bounds reply, a spent budget) leaves the policy's action and is counted.

=========================  =====================================================================================
module                     what it holds
=========================  =====================================================================================
``advisor``                :class:`~agents.advisor.advisor.Advisor`, :class:`~agents.advisor.advisor.AdvisorSettings`:
                           cache, budget, rate limits, retries, fallbacks, the JSONL query log
``backends``               the Anthropic and OpenAI-compatible backends (official SDKs)
``schema``                 the tool's JSON schema from a ``Dict`` / ``Discrete`` / ``Box`` / ``MultiBinary`` space,
                           and replies read back into it
``gate``                   uncertainty measures (hybrid type entropy, Q-head margin, DQN Q margin, the scripted
                           controller's pixel margin) and the calibrated :class:`~agents.advisor.gate.Gate`
``cache``                  the SQLite cache of JSON replies, looked up by perceptual-hash distance
``limits``                 requests / tokens per minute (pyrate-limiter) and the run / episode budget
``wrapper``                :class:`~agents.advisor.wrapper.AdvisedPolicy`: any SB3-style ``predict`` behind the
                           advisor
``demos``                  advised episodes as BC demonstrations (the ``demos/`` format)
``servers``                loopback advice servers: scripted failures, the oracle, noisy and adversarial variants
``evaluate``               ``python -m agents.advisor.evaluate --backend anthropic|openai --episodes N --out F``
``measure``                the measurement on held-out fish (``make advisor-measure``)
=========================  =====================================================================================

Settings (:class:`~agents.advisor.advisor.AdvisorSettings`; command-line names in brackets):

========================  ========================  ==============================================================
setting                   default                   meaning
========================  ========================  ==============================================================
backend (``--advisor``)   anthropic                 ``anthropic`` or ``openai``
model (``--model``)       claude-haiku-4-5 /        the model id
                          qwen2.5vl:7b
base_url (``--base-url``) the env variables         ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``, else the
                                                    provider's API
timeout_s (``--timeout``) 10                        seconds per request
max_retries               1                         retries after a timeout, connection error, 429, 529, 5xx
max_retry_wait_s          2                         the longest wait before a retry, whatever ``retry-after`` says
context_frames            1 (commands: 2)           recent frames sent per query
region / hash_region      whole frame               (x, y, w, h) sent / hashed for the cache
cache_path (``--cache``)  in memory                 SQLite file, or ``off``
cache_distance            4 (commands: 0)           Hamming distance of a hit, in bits
requests / tokens per     600 / none                rate limits; a request over them is not sent (``throttled``)
minute (``--rpm/--tpm``)
budget                    none                      calls, tokens, estimated USD per run and per episode
log_path (``--log``)      none                      one JSON line per query
========================  ========================  ==============================================================

Counters (:meth:`Advisor.summary() <agents.advisor.advisor.Advisor.summary>`): ``queries``, ``advised``,
``cache_hits``, ``requests`` (attempts sent), ``fallbacks`` with ``fallback_reasons`` (``timeout``, ``connection``,
``rate_limited``, ``overloaded``, ``server_error``, ``http_<code>``, ``auth``, ``invalid_json``, ``text_only``,
``no_tool_call``, ``malformed``, ``out_of_bounds``, ``budget``, ``throttled``, ``busy``, ``late``, ``error``),
``late``, ``tokens`` (input, output, cache write, cache read) and the estimated ``cost_usd``.
"""
