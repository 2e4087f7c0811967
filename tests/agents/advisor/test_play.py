"""The advisor wired to policies and commands: the scripted pixel controller and the hybrid policy behind it on
FishingPixels-v0, advised episodes recorded as BC demonstrations, and the evaluation command against loopback
servers that answer well, or 529 to everything."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from agents.advisor.advisor import Advisor, AdvisorSettings
from agents.advisor.demos import load_advice_demos
from agents.advisor.evaluate import evaluate, main
from agents.advisor.gate import Gate
from agents.advisor.servers import AdviceServer
from agents.advisor.wrapper import advise_hybrid, names_for
from agents.hybrid.layout import HybridLayout
from envs.games.fishing_pixels import FishingPixelsEnv

KEY = {"type": "key", "keys": [1, 0]}


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch):
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY",
                "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", "/nonexistent-advisor-test")


def test_advised_episodes_load_back_as_bc_demonstrations_with_the_advice_as_their_actions(tmp_path):
    log, demos = tmp_path / "q.jsonl", tmp_path / "demos"
    with AdviceServer("good", answer=KEY) as srv:
        settings = AdvisorSettings(base_url=srv.url, timeout_s=2.0, log_path=str(log), cache_path="off")
        res = evaluate("scripted", settings, 2, first_seed=900_000, gate=Gate(threshold=-0.3, max_rate=0.2),
                       record_dir=str(demos), progress=False)
    assert res["queries"] > 0 and res["advised"] == res["queries"] == srv.count
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == res["queries"]
    assert all({"frame_hash", "uncertainty", "proposed", "advice", "accepted", "latency_s", "tokens",
                "demo_episode", "demo_step"} <= set(x) for x in lines)
    trajs, masks = load_advice_demos(log)
    assert len(trajs) == 2 and sum(int(m.sum()) for m in masks) == res["advised"]
    key_type = FishingPixelsEnv().action_spec.type_index("key")
    for t, m in zip(trajs, masks, strict=True):
        assert t.obs.shape[1:] == (4, 84, 84, 3) and len(t.acts) == len(m)
        assert (t.acts[m, 0] == key_type).all()  # the advised steps carry the advice
    by_step = {(x["demo_episode"], x["demo_step"]) for x in lines}
    assert by_step == {(e, int(s)) for e, m in enumerate(masks) for s in np.nonzero(m)[0]}


def test_the_hybrid_policy_behind_the_advisor_takes_the_advice_in_its_box_layout():
    from agents.hybrid.policy import HybridActorCriticPolicy, policy_kwargs_for

    env = FishingPixelsEnv()
    spec = env.action_spec
    layout = HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used)
    th.manual_seed(0)
    policy = HybridActorCriticPolicy(env.observation_space, layout.box_space(), lambda _: 1e-3,
                                     **policy_kwargs_for(env.observation_space, layout, small=True))
    obs, _ = env.reset(seed=800_000)
    with AdviceServer("good", answer=KEY) as srv:
        adv = Advisor(env.action_space, AdvisorSettings(base_url=srv.url, cache_path="off"), names=names_for(env))
        for measure in ("type_entropy", "q_head_margin"):
            p = advise_hybrid(policy, env, adv, Gate(threshold=-np.inf), measure=measure)
            p.new_episode()
            box, _ = p.predict(obs, deterministic=True)
            assert p.last_advice is not None and p.last_advice.source == "model"
            assert np.isfinite(p.uncertainty(obs))
            assert box.shape == (layout.dim,) and int(box[0]) == spec.type_index("key") and box[-2:].tolist() == [1, 0]
            assert env.action_space.contains(layout.to_dict(box))
        adv.close()
    # the policy alone: its own action, nothing asked
    alone = advise_hybrid(policy, env, None, Gate(threshold=-np.inf))
    box2, _ = alone.predict(obs, deterministic=True)
    own = policy.predict(obs, deterministic=True)[0]
    # the same action: its type and keys exactly, its parameters to float precision (the policy reuses CNN codes
    # computed in another batch, whose last bits may differ)
    assert alone.asked == 0 and box2[0] == own[0] and np.allclose(box2, own, rtol=1e-5, atol=1e-7)


def test_the_evaluate_command_finishes_against_a_server_that_answers_529_to_everything(tmp_path, monkeypatch):
    out = tmp_path / "eval.json"
    with AdviceServer("overloaded") as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        rc = main(["--backend", "anthropic", "--episodes", "2", "--out", str(out), "--query-rate", "0.1",
                   "--calibration-episodes", "1", "--trial-episodes", "1", "--max-retry-wait", "0.01",
                   "--no-progress"])
    assert rc == 0
    r = json.loads(out.read_text())
    assert {"episodes", "catch_rate", "queries", "cache_hits", "fallbacks", "tokens"} <= set(r)
    assert r["episodes"] == 2 and r["queries"] > 0 and r["fallbacks"] == r["queries"]
    assert r["fallback_reasons"] == {"overloaded": r["queries"]} and r["advised"] == 0 and r["tokens"] == 0
    assert r["query_rate"] <= 0.1 + 3 / r["steps"]  # the gate's cap
    assert r["trial"]["trusted"] and r["trial"]["fallbacks"] == r["trial"]["queries"]  # no advice: no harm


def test_the_evaluate_command_with_the_openai_backend_applies_good_advice(tmp_path, monkeypatch):
    out = tmp_path / "eval.json"
    with AdviceServer("good", answer=KEY) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url + "/v1")
        rc = main(["--backend", "openai", "--episodes", "1", "--out", str(out), "--threshold", "-0.2",
                   "--trial-episodes", "0", "--no-progress"])
    r = json.loads(out.read_text())
    assert rc == 0 and r["advised"] == r["queries"] > 0 and r["tokens"] > 0 and r["model"] == "qwen2.5vl:7b"
    assert r["requests"] == srv.count


def test_the_evaluate_command_without_a_key_or_server_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--backend", "anthropic", "--episodes", "1", "--out", str(tmp_path / "x.json")])
    assert e.value.code == 2 and "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_the_hybrid_eval_command_takes_the_advisor(tmp_path, monkeypatch, capsys):
    from agents.hybrid.train import main as train_main

    record = tmp_path / "rec.json"
    with AdviceServer("good", answer=KEY) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        train_main(["eval", "--policy", "scripted", "--episodes", "1", "--advisor", "anthropic", "--threshold", "-0.2",
                    "--trial-episodes", "0", "--record", str(record)])
    rec = json.loads(record.read_text())
    r = rec["scripted + anthropic advisor"]
    assert r["advised"] == r["queries"] == srv.count > 0


def test_the_play_command_refuses_an_advisor_without_key_or_server(capsys):
    from agents.hybrid.play import main as play_main

    with pytest.raises(SystemExit) as e:
        play_main(["--policy", "scripted", "--advisor", "openai"])
    assert e.value.code == 2 and "OPENAI_API_KEY" in capsys.readouterr().err


def test_a_dqn_on_stardew_fishing_asks_with_its_rendered_frame_when_its_q_margin_is_small():
    from agents.advisor.wrapper import advise_dqn
    from envs.stardew.fishing_env import StardewFishingEnv

    env = StardewFishingEnv(render_mode="rgb_array")
    obs, _ = env.reset(seed=800_000)

    def q_values(o: np.ndarray) -> np.ndarray:  # a margin of 0.01: unsure; of 5: sure
        return np.stack([np.zeros(len(o)), np.full(len(o), 0.01 if unsure else 5.0)], axis=1)

    with AdviceServer("good", answer={"action": "release"}) as srv:
        adv = Advisor(env.action_space, AdvisorSettings(base_url=srv.url, cache_path="off"),
                      names={"action": ["release", "hold"]})
        gate = Gate(threshold=-0.5)
        p = advise_dqn(q_values, env, adv, gate)
        p.new_episode()
        unsure = False
        assert p.predict(obs)[0] == 1 and srv.count == 0  # sure: its own action, nothing sent
        unsure = True
        a, _ = p.predict(obs)
        assert a == 0 and srv.count == 1  # unsure: asked, and the advice (release) taken
        png = srv.requests[0]["pngs"][0]
        adv.close()
    from agents.advisor.frames import decode_png

    assert decode_png(png).shape == env.render().shape  # the env's own rendered frame was sent
    env.close()


def test_the_measurement_plays_every_arm_on_the_same_fish_and_tables_the_paired_change(tmp_path):
    from agents.advisor.measure import main as measure_main

    out = tmp_path / "m.json"
    assert measure_main(["--episodes", "1", "--rates", "0.5", "--calibration-episodes", "1", "--only", "adversarial @50%",
                         "--out", str(out)]) == 0
    r = json.loads(out.read_text())["results"]["scripted"]
    assert set(r) == {"off", "adversarial @50%"}
    adv = r["adversarial @50%"]
    assert adv["caught_per_seed"] and adv["first_seed"] == r["off"]["first_seed"] == 900_000
    assert adv["queries"] > 0 and adv["advised"] > 0 and adv["fallbacks"] == 0
    md = out.with_suffix(".md").read_text()
    assert "| scripted | adversarial @50% |" in md and "| scripted | off |" in md


def test_an_advisor_that_makes_the_trial_fish_worse_is_not_asked_on_the_held_out_ones():
    with AdviceServer("adversarial") as srv:
        settings = AdvisorSettings(base_url=srv.url, timeout_s=2.0, context_frames=2, cache_path="off")
        res = evaluate("scripted", settings, 1, first_seed=900_000, gate=Gate(threshold=-0.5, max_rate=0.5),
                       progress=False, trial_episodes=1)
        trial_requests = srv.count
    t = res["trial"]
    assert t["queries"] > 0 and trial_requests >= t["queries"]  # the trial asked, on the calibration fish
    assert t["meter_advised"] < t["meter_alone"] and t["trusted"] is False
    assert res["queries"] == 0 and res["advised"] == 0, (t, res["queries"])  # then nothing on the held-out fish
