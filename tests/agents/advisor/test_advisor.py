"""The advisor against real HTTP servers on 127.0.0.1 speaking the Messages and Chat Completions APIs: every
scripted failure falls back to the policy's action and is counted; a cache hit, a spent budget and a throttled
query send nothing; each request carries the PNG and the tool schema. No key and no network needed."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import warnings

import numpy as np
import pytest
from gymnasium import spaces

from agents.advisor.advisor import Advisor, AdvisorSettings
from agents.advisor.cache import AdviceCache, CacheError
from agents.advisor.frames import decode_png, frame_hash, hamming
from agents.advisor.gate import Gate
from agents.advisor.limits import Budget
from agents.advisor.schema import AdviceError, parse_action, tool_input_schema
from agents.advisor.servers import AdviceServer
from envs.games.fishing_screen import FISHING_ACTIONS
from envs.screen.actions import HybridActionSpec

APIS = ("anthropic", "openai")
SPEC = HybridActionSpec.from_seed_dict(FISHING_ACTIONS)
NAMES = {"type": list(SPEC.type_names), "keys": list(SPEC.keys)}
GOOD = {"type": "key", "keys": [1, 0]}


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch):
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY",
                "OPENAI_BASE_URL", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", "/nonexistent-advisor-test")


def frame(seed: int = 0, h: int = 48, w: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((8, 8, 1), np.uint8))  # blocky: a real picture, not noise, for the phash


def make(server: AdviceServer, api: str, **kw) -> Advisor:
    url = server.url + ("/v1" if api == "openai" else "")
    opts = dict(backend=api, base_url=url, timeout_s=1.0, max_retries=1, max_retry_wait_s=0.1, cache_path="off")
    opts.update(kw)
    return Advisor(SPEC.space, AdvisorSettings(**opts), names=NAMES)


def proposed() -> dict:
    return SPEC.noop()


# ---- every failure mode falls back and is counted ---------------------------------------------------------------
FAILURES = [("rate_limited", "rate_limited", 2), ("overloaded", "overloaded", 2), ("server_error", "server_error", 2),
            ("slow", "timeout", 2), ("silent", "timeout", 2), ("malformed", "malformed", 1), ("text", "text_only", 1),
            ("no_tool", "no_tool_call", 1), ("invalid_json", "invalid_json", 1),
            ("out_of_bounds", "out_of_bounds", 1)]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("mode", "reason", "requests"), FAILURES)
def test_each_failure_mode_falls_back_to_the_policy_and_is_counted(api, mode, reason, requests):
    with AdviceServer(mode, delay_s=3.0) as srv:
        adv = make(srv, api)
        a = adv.ask(frame(), proposed(), 0.7, "type_entropy")
        st = adv.summary()
        adv.close()
    assert a.action is None and a.source == "none" and a.reason == reason
    assert st["fallbacks"] == 1 and st["fallback_reasons"] == {reason: 1} and st["advised"] == 0
    # retryable failures are tried once more (max_retries=1), the others are not
    assert st["requests"] == requests == srv.count


@pytest.mark.parametrize("api", APIS)
def test_a_good_reply_is_the_advice_and_the_request_carried_the_png_and_the_schema(api):
    with AdviceServer("good", answer=GOOD) as srv:
        adv = make(srv, api)
        f = frame(3)
        a = adv.ask(f, proposed(), 0.9, "type_entropy")
        st = adv.summary()
        adv.close()
    assert a.source == "model" and a.reason is None
    assert a.action["type"] == SPEC.type_index("key") and a.action["keys"].tolist() == [1, 0]
    assert st["advised"] == 1 and st["fallbacks"] == 0 and st["tokens"] > 0
    req = srv.requests[0]
    assert req["api"] == api
    assert len(req["pngs"]) == 1 and np.array_equal(decode_png(req["pngs"][0]), f)  # the frame, lossless
    assert req["schema"] == adv.schema == tool_input_schema(SPEC.space, NAMES)
    body = req["body"]
    if api == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "act"}
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][0]["cache_control"] == {"type": "ephemeral"}
        assert body["model"] == "claude-haiku-4-5"
    else:
        assert body["tool_choice"] == {"type": "function", "function": {"name": "act"}}
        assert body["messages"][0]["role"] == "system"


@pytest.mark.parametrize("api", APIS)
def test_a_429_is_retried_after_its_retry_after_and_then_succeeds(api):
    with AdviceServer("good", answer=GOOD, retry_after="0.2") as srv:
        srv.script = ["rate_limited"]
        adv = make(srv, api, max_retry_wait_s=1.0)
        t0 = time.monotonic()
        a = adv.ask(frame(), proposed(), 1.0)
        dt = time.monotonic() - t0
        adv.close()
    assert a.source == "model" and srv.count == 2
    assert dt >= 0.2  # waited what the server asked


@pytest.mark.parametrize("api", APIS)
def test_a_huge_retry_after_is_capped_and_the_query_falls_back_quickly(api):
    with AdviceServer("rate_limited", retry_after="3600") as srv:
        adv = make(srv, api, max_retry_wait_s=0.05)
        t0 = time.monotonic()
        a = adv.ask(frame(), proposed(), 1.0)
        dt = time.monotonic() - t0
        adv.close()
    assert a.reason == "rate_limited" and dt < 2.0


@pytest.mark.parametrize("api", APIS)
def test_a_server_that_is_not_there_is_a_connection_fallback(api):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    settings = AdvisorSettings(backend=api, base_url=f"http://127.0.0.1:{port}", timeout_s=0.5, max_retries=0,
                               cache_path="off")
    adv = Advisor(SPEC.space, settings, names=NAMES)
    a = adv.ask(frame(), proposed(), 1.0)
    adv.close()
    assert a.reason == "connection" and adv.stats["fallback_reasons"] == {"connection": 1}


# ---- cache, budget, rate limit: no request ----------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_a_cache_hit_sends_no_request_and_near_identical_frames_hit(api, tmp_path):
    db = tmp_path / "cache.sqlite"
    with AdviceServer("good", answer=GOOD) as srv:
        adv = make(srv, api, cache_path=str(db), cache_distance=6)
        f = frame(5)
        assert adv.ask(f, proposed(), 1.0).source == "model"
        near = f.copy()
        near[0:2, 0:2] = 255 - near[0:2, 0:2]  # a 2x2-pixel change
        a = adv.ask(near, proposed(), 1.0)
        assert a.source == "cache" and a.action["type"] == SPEC.type_index("key")
        assert srv.count == 1
        far = adv.ask(frame(99), proposed(), 1.0)  # another picture: a miss, one more request
        assert far.source == "model" and srv.count == 2
        st = adv.summary()
        adv.close()
        # the cache is on disk: a new advisor with the same settings answers from it
        again = make(srv, api, cache_path=str(db), cache_distance=6)
        assert again.ask(f, proposed(), 1.0).source == "cache" and srv.count == 2
        again.close()
    assert st["cache_hits"] == 1 and st["queries"] == 3 and st["requests"] == 2
    # the stored values are JSON text (never pickle)
    rows = sqlite3.connect(db).execute("SELECT value FROM advice").fetchall()
    assert [json.loads(v) for (v,) in rows] == [GOOD, GOOD]


def test_a_cache_file_that_is_not_sqlite_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match=str(bad)):
        AdviceCache(bad)
    assert bad.read_bytes().startswith(b"this is not a database")  # left as it was


def test_a_cache_row_whose_value_is_not_json_is_an_error_naming_the_row(tmp_path):
    db = tmp_path / "c.sqlite"
    c = AdviceCache(db, "ns")
    c.put(np.zeros(8, np.uint8), {"a": 1})
    c.close()
    con = sqlite3.connect(db)
    con.execute("UPDATE advice SET value = '{not json' WHERE id = 1")
    con.commit()
    con.close()
    with pytest.raises(CacheError, match="row 1"):
        AdviceCache(db, "ns")


@pytest.mark.parametrize("api", APIS)
def test_a_spent_budget_sends_no_request_until_the_next_episode(api):
    with AdviceServer("good", answer=GOOD) as srv:
        adv = make(srv, api, budget=Budget(episode_calls=1, run_calls=2))
        assert adv.ask(frame(1), proposed(), 1.0).source == "model"
        a = adv.ask(frame(2), proposed(), 1.0)
        assert a.reason == "budget" and srv.count == 1
        adv.new_episode()
        assert adv.ask(frame(3), proposed(), 1.0).source == "model" and srv.count == 2
        adv.new_episode()
        assert adv.ask(frame(4), proposed(), 1.0).reason == "budget" and srv.count == 2  # the run's 2 calls spent
        st = adv.summary()
        adv.close()
    assert st["fallback_reasons"] == {"budget": 2}


@pytest.mark.parametrize("api", APIS)
def test_a_token_and_cost_budget_stops_asking_once_spent(api):
    with AdviceServer("good", answer=GOOD) as srv:
        adv = make(srv, api, budget=Budget(run_cost=1e-9), price_in=1.0, price_out=5.0)
        assert adv.ask(frame(1), proposed(), 1.0).source == "model"
        assert adv.summary()["cost_usd"] > 0
        assert adv.ask(frame(2), proposed(), 1.0).reason == "budget" and srv.count == 1
        adv.close()
        adv = make(srv, api, budget=Budget(run_tokens=10))
        adv.ask(frame(1), proposed(), 1.0)
        assert adv.ask(frame(2), proposed(), 1.0).reason == "budget" and srv.count == 2
        adv.close()


@pytest.mark.parametrize("api", APIS)
def test_the_requests_per_minute_limit_throttles_without_sending(api):
    with AdviceServer("good", answer=GOOD) as srv:
        adv = make(srv, api, requests_per_minute=1)
        assert adv.ask(frame(1), proposed(), 1.0).source == "model"
        a = adv.ask(frame(2), proposed(), 1.0)
        adv.close()
    assert a.reason == "throttled" and srv.count == 1


# ---- a live window: the query runs beside the loop ---------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_on_a_live_window_a_late_answer_is_counted_not_applied(api, tmp_path):
    log = tmp_path / "q.jsonl"
    with AdviceServer("slow", answer=GOOD, delay_s=0.4) as srv:
        adv = make(srv, api, timeout_s=2.0, log_path=str(log))
        t0 = time.monotonic()
        a = adv.ask(frame(1), proposed(), 1.0, wait_s=0.05)
        assert time.monotonic() - t0 < 0.3  # the game loop did not wait for the reply
        assert a.action is None and a.reason == "pending"
        busy = adv.ask(frame(2), proposed(), 1.0, wait_s=0.05)  # one query at a time
        assert busy.reason == "busy"
        adv.close()  # waits for the reply still on its way
    st = adv.summary()
    assert st["late"] == 1 and st["fallback_reasons"] == {"busy": 1, "late": 1} and st["advised"] == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert any(x.get("late") and not x["accepted"] for x in lines)


@pytest.mark.parametrize("api", APIS)
def test_on_a_live_window_an_answer_in_time_is_applied(api):
    with AdviceServer("good", answer=GOOD) as srv:
        adv = make(srv, api, timeout_s=2.0)
        a = adv.ask(frame(1), proposed(), 1.0, wait_s=5.0)
        adv.close()
    assert a.source == "model" and a.action["type"] == SPEC.type_index("key")


# ---- settings that cannot work ----------------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_no_key_and_no_server_is_a_clear_error_at_construction(api):
    with pytest.raises(ValueError, match="no API key"):
        Advisor(SPEC.space, AdvisorSettings(backend=api), names=NAMES)


@pytest.mark.parametrize(("field", "value"), [("region", (0, 0, 0, 5)), ("timeout_s", 0), ("max_retries", -1),
                                              ("context_frames", 0)])
def test_bad_settings_name_the_setting(field, value):
    with pytest.raises(ValueError, match=field):
        AdvisorSettings(**{field: value})


# ---- the schema from the action space ---------------------------------------------------------------------------
def test_the_tool_schema_follows_discrete_box_and_dict_spaces():
    d = tool_input_schema(spaces.Discrete(3))
    assert d["properties"]["action"] == {"type": "integer", "minimum": 0, "maximum": 2}
    assert parse_action(spaces.Discrete(3), {"action": 2}) == 2
    named = tool_input_schema(spaces.Discrete(2), {"action": ["release", "hold"]})
    assert named["properties"]["action"]["enum"] == ["release", "hold"]
    assert parse_action(spaces.Discrete(2), {"action": "hold"}, {"action": ["release", "hold"]}) == 1
    box = spaces.Box(-1.0, 1.0, (2,), np.float32)
    b = tool_input_schema(box)["properties"]["action"]
    assert b["minItems"] == b["maxItems"] == 2 and b["items"] == {"type": "number", "minimum": -1.0, "maximum": 1.0}
    assert parse_action(box, {"action": [0.5, -1.0]}).tolist() == [0.5, -1.0]
    h = tool_input_schema(SPEC.space, NAMES)
    assert h["required"] == ["type"] and h["properties"]["type"]["enum"] == list(SPEC.type_names)
    a = parse_action(SPEC.space, {"type": "drag", "pointer": [0.1, 0.2], "drag_end": [-0.5, 0.5]}, NAMES)
    assert SPEC.space.contains(a) and a["type"] == SPEC.type_index("drag")


@pytest.mark.parametrize(("space", "reply", "kind"), [
    (spaces.Discrete(3), {"action": 7}, "out_of_bounds"),
    (spaces.Discrete(3), {"action": 1.5}, "malformed"),
    (spaces.Discrete(3), {"act": 1}, "malformed"),
    (spaces.Discrete(3), ["action", 1], "malformed"),
    (spaces.Box(-1.0, 1.0, (2,), np.float32), {"action": [0.0, 3.0]}, "out_of_bounds"),
    (spaces.Box(-1.0, 1.0, (2,), np.float32), {"action": [0.0]}, "malformed"),
    (spaces.Box(-1.0, 1.0, (2,), np.float32), {"action": [0.0, "up"]}, "malformed"),
    (SPEC.space, {"type": "jump"}, "malformed"),
    (SPEC.space, {"pointer": [0.0, 0.0]}, "malformed"),
    (SPEC.space, {"type": "click", "pointer": [1.5, 0.0]}, "out_of_bounds"),
    (SPEC.space, {"type": "key", "keys": [2, 0]}, "out_of_bounds"),
])
def test_replies_outside_the_space_are_refused_with_their_kind(space, reply, kind):
    with pytest.raises(AdviceError) as e:
        parse_action(space, reply, NAMES if space is SPEC.space else None)
    assert e.value.kind == kind


def test_the_perceptual_hash_moves_a_few_bits_for_a_small_change_and_many_for_another_picture():
    f = frame(7)
    near = f.copy()
    near[0:2, 0:2] = 0
    assert hamming(frame_hash([f]), frame_hash([near])) <= 6
    assert hamming(frame_hash([f]), frame_hash([frame(8)])) > 12


def test_the_gate_calibrates_its_threshold_to_the_target_query_rate():
    values = np.random.default_rng(0).normal(size=10_000)
    g = Gate()
    g.calibrate(values, 0.05)
    rate = np.mean([g.should_ask(v) for v in values])
    assert 0.045 <= rate <= 0.055
    assert not Gate().should_ask(1e9)  # no threshold: never asks


def test_a_query_with_fewer_frames_than_its_context_repeats_the_oldest_so_the_cache_key_keeps_its_size():
    with AdviceServer("good", answer=GOOD) as srv:
        adv = make(srv, "anthropic", context_frames=2, cache_path=None)
        assert adv.ask([frame(1), frame(2)], proposed(), 1.0).source == "model"
        a = adv.ask([frame(3)], proposed(), 1.0)  # an episode's first step: one frame so far
        assert a.source == "model" and len(srv.requests[-1]["pngs"]) == 2
        assert adv.ask([frame(3), frame(3)], proposed(), 1.0).source == "cache"
        st = adv.summary()
        adv.close()
    assert st["fallbacks"] == 0 and srv.count == 2


def test_deprecated_models_warn_nowhere_in_a_default_advisor():
    with AdviceServer("good", answer=GOOD) as srv, warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        adv = make(srv, "anthropic")
        assert adv.ask(frame(), proposed(), 1.0).source == "model"
        adv.close()
