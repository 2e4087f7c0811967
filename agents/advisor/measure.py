"""What the advisor is worth: pixel policies on the same held-out fish of FishingPixels-v0, advisor off and on,
against an oracle advice server and its noisy and adversarial variants.

    python -m agents.advisor.measure --episodes 100 --out reports/advisor_measurement.json

Arms (each against its own :class:`~agents.advisor.servers.AdviceServer` process on 127.0.0.1, spoken to through
the Anthropic backend, so every query goes through the SDK, HTTP, PNG encoding and decoding as with a hosted model):
the policy alone; the oracle (right with p = 1.0) at each ``--rates``; the oracle right with p = 0.8 and 0.5, and
the adversarial server (always the opposite action), at the highest rate. The gate's threshold is calibrated once
per policy on ``--calibration-episodes`` fish of seeds 800000+ and capped at the arm's rate; the cache is in memory
per arm (exact frames only: Hamming distance 0 over a 16x16 phash of each of the two frames sent).

Written: ``--out`` (every arm's summary with per-seed outcomes) and the Markdown table beside it (``.md``): catch
rate with its 95% Wilson interval, the paired change against the policy alone (fish gained / lost on the same
seeds), query rate, cache hit rate, added latency per step, tokens.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agents.advisor.advisor import AdvisorSettings
from agents.advisor.evaluate import (
    EVAL_SEED,
    FISHING_HASH_REGION,
    FISHING_TASK,
    calibrate,
    evaluate,
    load_pixel_policy,
)
from agents.advisor.gate import Gate
from envs.cli.argtypes import int_at_least


class ServerProcess:
    """``python -m agents.advisor.servers`` in its own process (its own core on a 2-core machine)."""

    def __init__(self, mode: str, p: float = 1.0):
        self.proc = subprocess.Popen([sys.executable, "-m", "agents.advisor.servers", "--mode", mode, "--p", str(p),
                                      "--seconds", "3600"], stdout=subprocess.PIPE, text=True)
        self.url = (self.proc.stdout.readline() if self.proc.stdout else "").strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"advice server ({mode}) did not start: {self.url!r}")

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def arms(rates: list[float]) -> list[dict[str, Any]]:
    top = max(rates)
    out: list[dict[str, Any]] = [{"name": "off", "mode": None, "p": None, "rate": 0.0}]
    out += [{"name": f"oracle p=1.0 @{r:.0%}", "mode": "oracle", "p": 1.0, "rate": r} for r in sorted(rates)]
    out += [{"name": f"oracle p={p} @{top:.0%}", "mode": "oracle", "p": p, "rate": top} for p in (0.8, 0.5)]
    out.append({"name": f"adversarial @{top:.0%}", "mode": "adversarial", "p": 0.0, "rate": top})
    # the same arms with the trial: the advisor is asked on the held-out fish only if it did not make the
    # calibration fish worse
    out += [dict(a, name=a["name"] + " +trial", trial=True) for a in out[1:]]
    return out


def run_arm(policy: Any, arm: dict[str, Any], threshold: float, episodes: int, first_seed: int,
            trial_episodes: int = 10) -> dict[str, Any]:
    if arm["mode"] is None:
        return evaluate(policy, None, episodes, first_seed, Gate(), progress=False)
    with ServerProcess(arm["mode"], arm["p"]) as srv:
        settings = AdvisorSettings(backend="anthropic", base_url=srv.url, task=FISHING_TASK, timeout_s=5.0,
                                   max_retries=1, max_retry_wait_s=0.5, context_frames=2, cache_distance=0,
                                   hash_size=16, hash_region=FISHING_HASH_REGION, requests_per_minute=None)
        gate = Gate(threshold=threshold, target_rate=arm["rate"], max_rate=arm["rate"])
        return evaluate(policy, settings, episodes, first_seed, gate, progress=False,
                        trial_episodes=trial_episodes if arm.get("trial") else 0)


def table(results: dict[str, Any]) -> str:
    lines = ["| policy | arm | catch rate | 95% CI | vs alone: gained / lost | query rate | cache hits | "
             "added ms/step | tokens | fallbacks |", "|---|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for pol, arms_ in results.items():
        base = arms_["off"]["caught_per_seed"]
        for name, r in arms_.items():
            cps = r["caught_per_seed"]
            gained = sum(1 for a, b in zip(base, cps, strict=True) if b and not a)
            lost = sum(1 for a, b in zip(base, cps, strict=True) if a and not b)
            lo, hi = r["ci95"]
            lines.append(f"| {pol} | {name} | {100 * r['catch_rate']:.1f}% ({r['caught']}/{r['episodes']}) | "
                         f"{100 * lo:.1f}-{100 * hi:.1f} | {'-' if name == 'off' else f'+{gained} / -{lost}'} | "
                         f"{100 * r['query_rate']:.1f}% | {100 * r['cache_hit_rate']:.1f}% | "
                         f"{r['added_latency_ms_per_step']:.2f} | {r['tokens']:,} | {r['fallbacks']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agents.advisor.measure", description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int_at_least(1), default=100, help="held-out fish per arm")
    p.add_argument("--policy", action="append", default=None,
                   help="'scripted' or a saved hybrid pixel policy; repeat for several (default: scripted)")
    p.add_argument("--rates", default="0.05,0.1", help="query rates of the oracle arms, comma-separated")
    p.add_argument("--calibration-episodes", type=int_at_least(1), default=10)
    p.add_argument("--first-seed", type=int_at_least(0), default=EVAL_SEED)
    p.add_argument("--trial-episodes", type=int_at_least(1), default=10, help="fish of the '+trial' arms' trial")
    p.add_argument("--only", action="append", default=None,
                   help="run only the arm of this name (repeat for several; 'off' always runs)")
    p.add_argument("--out", default="reports/advisor_measurement.json")
    args = p.parse_args(argv)
    try:
        rates = [float(x) for x in args.rates.split(",")]
        if not all(0 < r <= 1 for r in rates):
            raise ValueError
    except ValueError:
        p.error(f"--rates: need fractions in (0, 1], comma-separated, got {args.rates!r}")
    out = Path(args.out)
    results: dict[str, Any] = json.loads(out.read_text()).get("results", {}) if out.exists() else {}
    from envs.games.fishing_pixels import FishingPixelsEnv

    for name in args.policy or ["scripted"]:
        try:
            policy = load_pixel_policy(name)
        except ValueError as e:
            p.error(f"--policy: {e}")
        gate = Gate()
        threshold = calibrate(policy, FishingPixelsEnv, gate, max(rates), args.calibration_episodes, "type_entropy")
        for arm in arms(rates):
            if args.only and arm["name"] not in args.only and arm["name"] != "off":
                continue
            have = results.get(name, {}).get(arm["name"])
            if have is not None and have["episodes"] == args.episodes and have["first_seed"] == args.first_seed:
                continue
            t0 = time.time()
            r = run_arm(policy, arm, threshold, args.episodes, args.first_seed, args.trial_episodes)
            r.update(arm=arm, threshold=threshold, calibration_episodes=args.calibration_episodes)
            results.setdefault(name, {})[arm["name"]] = r
            print(json.dumps({"policy": name, "arm": arm["name"], "catch_rate": r["catch_rate"],
                              "trusted": (r.get("trial") or {}).get("trusted"),
                              "query_rate": round(r["query_rate"], 4), "wall_s": round(time.time() - t0, 1)}),
                  flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)  # written after every arm: an interrupted run keeps them
            out.write_text(json.dumps({"results": results}, indent=1) + "\n")
    out.with_suffix(".md").write_text(table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
