"""Held-out fish of FishingPixels-v0 played by a pixel policy with the advisor, against whatever server the
backend's base URL points to.

    python -m agents.advisor.evaluate --backend anthropic --episodes 20 --out runs/advisor/eval.json
    ANTHROPIC_BASE_URL=http://127.0.0.1:8000 python -m agents.advisor.evaluate --backend anthropic ...
    OPENAI_BASE_URL=http://127.0.0.1:11434/v1 python -m agents.advisor.evaluate --backend openai ...

The policy (``--policy``) is the scripted pixel controller by default, the one pixel policy that ships (the
hybrid agent's pixel policies are trained with ``make train-bc`` / ``make train-bc-ppo`` and are not shipped); a
saved hybrid policy (``runs/hybrid/bc_ppo/policy``) is taken as well. The gate's threshold is calibrated first on
``--calibration-episodes`` fish of seeds 800000+ (never the held-out 900000+) to ``--query-rate`` of the steps,
unless ``--threshold`` is given. Every episode is one held-out fish, seeds ``--first-seed`` on (900000: the hybrid
evaluation's seeds). The summary JSON (``--out``) holds at least ``episodes``, ``catch_rate``, ``queries``,
``cache_hits``, ``fallbacks`` and ``tokens``; a server that answers with errors, garbage or nothing only adds
fallbacks: the run finishes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.advisor.advisor import Advisor, AdvisorSettings
from agents.advisor.gate import Gate
from agents.advisor.limits import Budget
from agents.advisor.wrapper import AdvisedPolicy, advise_hybrid, advise_scripted, names_for
from agents.evaluation.protocol import wilson
from envs.cli.argtypes import float_above, int_at_least

EVAL_SEED = 900_000
CALIBRATION_SEED = 800_000
FISHING_TASK = ("The Stardew Valley fishing minigame. Keep the fish (orange) inside the green bar: holding the reel "
                "(the 'key' action with 'c' held) pushes the bar up, releasing ('none') lets it fall; the bar has "
                "momentum. The catch meter on the right fills while the fish is in the bar.")
# the track column the bar and fish move in (x 30..82 of the 168-pixel-wide picture), for the cache's hash
FISHING_HASH_REGION = (30, 0, 52, 600)


def add_advisor_args(p: argparse.ArgumentParser, default: str = "none") -> None:
    """The advisor's command-line options (shared by the play and evaluation commands)."""
    g = p.add_argument_group("advisor")
    g.add_argument("--advisor", choices=["anthropic", "openai", "none"], default=default,
                   help="ask a vision-language model when the policy is unsure (default %(default)s)")
    g.add_argument("--model", default=None, help="model id (anthropic: claude-haiku-4-5; openai: qwen2.5vl:7b)")
    g.add_argument("--base-url", default=None, help="the server (default ANTHROPIC_BASE_URL / OPENAI_BASE_URL)")
    g.add_argument("--query-rate", type=float_above(0.0), default=0.05,
                   help="fraction of steps that ask, calibrated on a short run (default %(default)s)")
    g.add_argument("--threshold", type=float, default=None, help="the gate's threshold instead of calibrating")
    g.add_argument("--no-rate-cap", action="store_true",
                   help="let the threshold alone decide (by default at most --query-rate of the steps ask)")
    g.add_argument("--calibration-episodes", type=int_at_least(1), default=5)
    g.add_argument("--trial-episodes", type=int_at_least(0), default=10,
                   help="fish of the calibration seeds the advisor must not make worse before it is trusted "
                        "(0: trust it untried; offscreen commands only)")
    g.add_argument("--measure", choices=["type_entropy", "q_head_margin"], default="type_entropy",
                   help="a hybrid policy's uncertainty (the scripted controller uses its pixel margin)")
    g.add_argument("--timeout", type=float_above(0.0), default=10.0, help="seconds a request may take")
    g.add_argument("--max-retries", type=int_at_least(0), default=1)
    g.add_argument("--max-retry-wait", type=float_above(0.0, inclusive=True), default=2.0)
    g.add_argument("--context-frames", type=int_at_least(1), default=2, help="recent frames sent per query")
    g.add_argument("--cache", default=None, help="SQLite cache file (default: in memory; 'off': none)")
    g.add_argument("--cache-distance", type=int_at_least(0), default=0, help="Hamming distance of a cache hit")
    g.add_argument("--hash-size", type=int_at_least(2), default=16)
    g.add_argument("--rpm", type=int_at_least(1), default=None, help="requests per minute")
    g.add_argument("--tpm", type=int_at_least(1), default=None, help="tokens per minute")
    g.add_argument("--budget-calls", type=int_at_least(0), default=None, help="requests per run")
    g.add_argument("--budget-tokens", type=int_at_least(0), default=None, help="tokens per run")
    g.add_argument("--budget-usd", type=float_above(0.0, inclusive=True), default=None, help="estimated USD per run")
    g.add_argument("--episode-calls", type=int_at_least(0), default=None, help="requests per episode")
    g.add_argument("--log", default=None, help="JSONL query log")
    g.add_argument("--task", default=FISHING_TASK, help="the task, in words")
    g.add_argument("--live-wait", type=float_above(0.0, inclusive=True), default=0.02,
                   help="on a live window: seconds a step waits for its advice (default %(default)s)")


def settings_from_args(args: argparse.Namespace, backend: str) -> AdvisorSettings:
    """AdvisorSettings from :func:`add_advisor_args`' options (ValueError naming a bad one)."""
    return AdvisorSettings(
        backend=backend, model=args.model, base_url=args.base_url, task=args.task, timeout_s=args.timeout,
        max_retries=args.max_retries, max_retry_wait_s=args.max_retry_wait, context_frames=args.context_frames,
        cache_path=args.cache, cache_distance=args.cache_distance, hash_size=args.hash_size,
        hash_region=FISHING_HASH_REGION, requests_per_minute=args.rpm, tokens_per_minute=args.tpm,
        budget=Budget(run_calls=args.budget_calls, run_tokens=args.budget_tokens, run_cost=args.budget_usd,
                      episode_calls=args.episode_calls), log_path=args.log)


def gate_from_args(args: argparse.Namespace) -> Gate:
    """The gate of :func:`add_advisor_args`' options (the threshold still to calibrate when not given)."""
    return Gate(threshold=args.threshold, max_rate=None if args.no_rate_cap else min(1.0, args.query_rate))


def advised_policy(policy: Any, env: Any, advisor: Advisor | None, gate: Gate, measure: str = "type_entropy",
                   wait_s: float | None = None) -> AdvisedPolicy:
    """``policy`` ("scripted" or a hybrid policy) on ``env`` behind the advisor."""
    if policy == "scripted":
        return advise_scripted(env, advisor, gate, wait_s=wait_s)
    return advise_hybrid(policy, env, advisor, gate, measure=measure, wait_s=wait_s)


def play_fish(env: Any, advised: AdvisedPolicy, seeds: Any, recorder: Any = None, bar: Any = None) -> dict[str, Any]:
    """Each seed one fish, played with ``advised``; per-seed outcomes, steps and the advisor's time."""
    caught, steps, returns, meters = [], 0, [], []
    for s in seeds:
        obs, _ = env.reset(seed=int(s))
        advised.new_episode()
        ret, meter = 0.0, 0.0
        if recorder is not None:
            recorder.start(obs)
        n = 0
        while True:
            advised.context = recorder.context() if recorder is not None else {"seed": int(s), "step": n}
            a, _ = advised.predict(obs, deterministic=True)
            act = advised.to_env(a)
            obs, r, term, trunc, info = env.step(act)
            ret += float(r)
            meter += float(info["distanceFromCatching"])
            if recorder is not None:
                recorder.add(act, r, obs, advised=advised.last_advice is not None and advised.last_advice.advised)
            n += 1
            if term or trunc:
                break
        if recorder is not None:
            recorder.end(terminal=term, outcome="caught" if info["caught"] else "escaped" if term else "truncated",
                         seed=int(s))
        caught.append(int(info["caught"]))
        returns.append(ret)
        meters.append(meter / max(1, n))
        steps += n
        if bar is not None:
            bar.update(1)
            st = advised.advisor.stats if advised.advisor is not None else {}
            bar.set_postfix(catch=f"{np.mean(caught):.0%}", queries=st.get("queries", 0),
                            cache_hits=st.get("cache_hits", 0), fallbacks=st.get("fallbacks", 0), refresh=False)
    return {"caught_per_seed": caught, "steps": steps, "returns": returns, "mean_meter": meters}


def calibrate(policy: Any, make_env: Any, gate: Gate, rate: float, episodes: int, measure: str) -> float:
    """The gate's threshold for ``rate`` of the steps, from ``episodes`` fish of the calibration seeds."""
    env = make_env()
    probe = advised_policy(policy, env, None, Gate(), measure)
    probe.uncertainties = []
    play_fish(env, probe, range(CALIBRATION_SEED, CALIBRATION_SEED + episodes))
    env.close()
    return gate.calibrate(probe.uncertainties, rate)


def trial(policy: Any, settings: AdvisorSettings, gate: Gate, episodes: int, measure: str = "type_entropy",
          backend: Any = None) -> dict[str, Any]:
    """Does this advisor help? ``policy`` plays ``episodes`` fish of the calibration seeds alone and then with the
    advisor (a gate like ``gate``, no cache, no log); ``trusted`` when the catch meter, averaged over each fish's
    steps and then over the fish, is at least as high advised as alone on the same fish. (The meter's mean over
    the steps, not the return: a fish's return, 100 x the meter's change +-10, depends on its outcome alone.)"""
    from envs.games.fishing_pixels import FishingPixelsEnv

    seeds = range(CALIBRATION_SEED, CALIBRATION_SEED + episodes)
    env = FishingPixelsEnv()
    alone = play_fish(env, advised_policy(policy, env, None, Gate(), measure), seeds)
    s = dataclasses.replace(settings, cache_path="off", log_path=None, budget=Budget())
    advisor = Advisor(env.action_space, s, names=names_for(env), backend=backend)
    g = Gate(gate.threshold, gate.target_rate, gate.max_rate, gate.burst)
    try:
        advised = play_fish(env, advised_policy(policy, env, advisor, g, measure), seeds)
    finally:
        advisor.close()
        env.close()
    st = advisor.summary()
    m_alone, m_advised = float(np.mean(alone["mean_meter"])), float(np.mean(advised["mean_meter"]))
    return {"episodes": episodes, "first_seed": CALIBRATION_SEED, "meter_alone": m_alone,
            "meter_advised": m_advised, "caught_alone": int(sum(alone["caught_per_seed"])),
            "caught_advised": int(sum(advised["caught_per_seed"])), "queries": st["queries"],
            "tokens": st["tokens"], "fallbacks": st["fallbacks"], "trusted": m_advised >= m_alone}


def evaluate(policy: Any, settings: AdvisorSettings | None, episodes: int, first_seed: int = EVAL_SEED,
             gate: Gate | None = None, measure: str = "type_entropy", record_dir: str | None = None,
             progress: bool = True, backend: Any = None, trial_episodes: int = 0) -> dict[str, Any]:
    """``policy`` ("scripted" or a hybrid policy) with the advisor of ``settings`` (None: alone) on ``episodes``
    held-out fish of FishingPixels-v0; the summary of :mod:`agents.advisor.evaluate`'s doc. With
    ``trial_episodes``, the advisor is first tried (:func:`trial`) and, if it made those fish worse, not asked on
    the held-out ones (``"trial"`` in the summary says so)."""
    from envs.games.fishing_pixels import FishingPixelsEnv

    tried = None
    if settings is not None and trial_episodes > 0:
        tried = trial(policy, settings, gate or Gate(), trial_episodes, measure, backend)
        if not tried["trusted"]:
            settings = None
    env = FishingPixelsEnv()
    advisor = Advisor(env.action_space, settings, names=names_for(env), backend=backend) if settings else None
    gate = gate or Gate()
    advised = advised_policy(policy, env, advisor, gate, measure)
    recorder = None
    if record_dir is not None:
        from agents.advisor.demos import AdviceRecorder
        from agents.hybrid.layout import HybridLayout

        spec = env.action_spec
        recorder = AdviceRecorder(record_dir, {
            "controller": "advised " + ("scripted" if policy == "scripted" else "hybrid policy"),
            "env": "FishingPixels-v0", "env_options": {"ticks_per_step": env.ticks_per_step},
            "type_names": list(spec.type_names), "keys": list(spec.keys),
            "layout": HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used).to_json(),
            "preprocess": repr(env.pre), "frame_stack": env.stack.depth, "ticks_per_step": env.ticks_per_step})
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=episodes, desc="fish", unit="fish", file=sys.stderr, dynamic_ncols=True)
    t0 = time.time()
    try:
        res = play_fish(env, advised, range(first_seed, first_seed + episodes), recorder, bar)
    finally:
        if bar is not None:
            bar.close()
        if advisor is not None:
            advisor.close()
        env.close()
    wall = time.time() - t0
    k, n = int(sum(res["caught_per_seed"])), episodes
    steps = res["steps"]
    st = advisor.summary() if advisor is not None else {}
    out = {"episodes": n, "caught": k, "catch_rate": k / n, "ci95": wilson(k, n), "steps": steps,
           "queries": st.get("queries", 0), "query_rate": st.get("queries", 0) / max(1, steps),
           "cache_hits": st.get("cache_hits", 0), "cache_hit_rate": st.get("cache_hit_rate", 0.0),
           "fallbacks": st.get("fallbacks", 0), "fallback_reasons": st.get("fallback_reasons", {}),
           "advised": st.get("advised", 0), "late": st.get("late", 0), "requests": st.get("requests", 0),
           "tokens": st.get("tokens", 0), "input_tokens": st.get("input_tokens", 0),
           "output_tokens": st.get("output_tokens", 0), "cost_usd": st.get("cost_usd", 0.0),
           "added_latency_ms_per_step": 1000 * advised.advice_time_s / max(1, steps),
           "mean_query_latency_ms": 1000 * st.get("mean_latency_s", 0.0),
           "gate": gate.to_json(), "measure": advised.measure,
           "backend": st.get("backend"), "model": st.get("model"),
           "base_url": getattr(advisor.backend, "base_url", None) if advisor is not None else None,
           "first_seed": first_seed, "wall_s": round(wall, 1), "trial": tried,
           "mean_return": float(np.mean(res["returns"])), "caught_per_seed": res["caught_per_seed"]}
    return out


def evaluate_from_args(policy: Any, args: argparse.Namespace, episodes: int, first_seed: int = EVAL_SEED,
                       progress: bool = True) -> dict[str, Any]:
    """The advised evaluation of :func:`evaluate` from :func:`add_advisor_args`' options (``--advisor`` names the
    backend): the gate calibrated unless ``--threshold`` is given. ValueError for settings that cannot work."""
    from envs.games.fishing_pixels import FishingPixelsEnv

    settings = settings_from_args(args, args.advisor)
    gate = gate_from_args(args)
    if args.threshold is None:
        calibrate(policy, FishingPixelsEnv, gate, args.query_rate, args.calibration_episodes, args.measure)
    return evaluate(policy, settings, episodes, first_seed, gate, args.measure, progress=progress,
                    trial_episodes=args.trial_episodes)


def live_policy_from_args(policy: Any, env: Any, args: argparse.Namespace) -> AdvisedPolicy:
    """For a live window: ``policy`` on ``env`` with the advisor of the options, each reply awaited at most
    ``--live-wait`` seconds (later ones are counted as late, not applied); the gate calibrated offscreen on
    FishingPixels-v0 (the window's picture) unless ``--threshold`` is given."""
    from envs.games.fishing_pixels import FishingPixelsEnv

    gate = gate_from_args(args)
    if args.threshold is None:
        calibrate(policy, FishingPixelsEnv, gate, args.query_rate, args.calibration_episodes, args.measure)
    advisor = Advisor(env.action_space, settings_from_args(args, args.advisor), names=names_for(env))
    return advised_policy(policy, env, advisor, gate, args.measure, wait_s=args.live_wait)


def load_pixel_policy(arg: str) -> Any:
    """``"scripted"`` or a saved hybrid pixel policy (ValueError naming the file otherwise)."""
    if arg == "scripted":
        return "scripted"
    import torch as th

    from agents.hybrid.policy import PolicyFileError, load_policy

    th.set_num_threads(int(os.environ.get("HYBRID_THREADS", "1")))
    try:
        policy = load_policy(arg)
    except PolicyFileError as e:
        raise ValueError(str(e)) from None
    if policy.layout.discrete_only:
        raise ValueError(f"{arg}: a policy for the state env; FishingPixels-v0 needs a pixel policy")
    return policy


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agents.advisor.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["anthropic", "openai"], required=True)
    p.add_argument("--episodes", type=int_at_least(1), required=True, help="held-out fish to play")
    p.add_argument("--out", required=True, help="the summary JSON")
    p.add_argument("--policy", default="scripted", help="'scripted' (default) or a saved hybrid pixel policy")
    p.add_argument("--first-seed", type=int_at_least(0), default=EVAL_SEED)
    p.add_argument("--record-demos", default=None, help="also record the advised episodes as BC demos here")
    p.add_argument("--no-progress", action="store_true")
    add_advisor_args(p)
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.is_dir():
        p.error(f"--out: {out}: a directory, not a file for the summary JSON")
    try:
        policy = load_pixel_policy(args.policy)
    except ValueError as e:
        p.error(f"--policy: {e}")
    try:
        settings = settings_from_args(args, args.backend)
        from agents.advisor.backends import make_backend

        # the backend is built (key and URL checked) before any fish is played

        backend = make_backend(args.backend, model=settings.model, api_key=None, base_url=settings.base_url,
                               timeout=settings.timeout_s)
    except ValueError as e:
        p.error(str(e))
    gate = gate_from_args(args)
    if args.threshold is None:
        from envs.games.fishing_pixels import FishingPixelsEnv

        calibrate(policy, FishingPixelsEnv, gate, args.query_rate, args.calibration_episodes, args.measure)
    res = evaluate(policy, settings, args.episodes, args.first_seed, gate, args.measure, args.record_demos,
                   progress=not args.no_progress, backend=backend, trial_episodes=args.trial_episodes)
    res["policy"] = args.policy
    print(json.dumps({k: v for k, v in res.items() if k != "caught_per_seed"}), flush=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1) + "\n")
    except OSError as e:
        print(f"{p.prog}: error: --out: {out}: not written ({e}); the summary is the JSON line above",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
