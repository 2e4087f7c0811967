"""A trained hybrid policy plays the real game window through ScreenGame-v0 (the transfer measurement).

    python -m agents.hybrid.play --policy runs/hybrid/bc_ppo/policy --episodes 20 --xvfb
    python -m agents.hybrid.play --policy scripted --episodes 20 --xvfb     # the demonstrator, same window
    python -m agents.hybrid.play --policy runs/mygame/bc/policy --episodes 5  # any env: the one it trained on
    python -m agents.hybrid.play --policy runs/mygame/bc/policy --env MyGame-v0 --gym-packages my_games \
        --env-kwargs window_title:"'My Game'"                                   # ... or another one

A policy trained on any other env than the fishing pixels plays that env (made again from its policy file, or
from ``--env`` / ``--gym-packages`` / ``--env-kwargs``), and the result is its return and episode length per
episode (and the success rate where the env reports one in ``info``). A ScreenGame-v0 env keeps its stop switch
(``<ctrl>+<shift>+<f12>`` by default): pressed, everything is released and the run stops with what it has.

``--xvfb`` starts a private X server and the game window (``python -m envs.games.fishing``, the full fish
population, levels 0..10, seeded) and reads catches back from the game process itself; without it the policy
plays whatever window of class ``stardew-fishing`` is on ``$DISPLAY``. Frames come through the same
FramePreprocessor options the policy was trained with (colour 84x84, INTER_AREA); 30 steps/s, as offscreen.

The policy moves your real pointer and presses your keys: press **Ctrl+Shift+F12** (ScreenGame-v0's stop switch) and
everything held is released at once and the run stops with what it has counted so far. Only ``--xvfb``, where
there is no desktop of yours to take over, plays without the stop switch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from agents.evaluation.protocol import wilson
from agents.hybrid.env_source import EnvArgError, EnvSource, add_env_args, episode_success, source_from_args
from envs.cli.argtypes import float_above, int_at_least
from envs.screen.inputs import DEFAULT_STOP_HOTKEY


def play_window(policy: Any, episodes: int, env: Any = None, max_seconds: float = 600.0,
                gif_frames: list | None = None, stop_hotkey: str | None = DEFAULT_STOP_HOTKEY,
                advise: Any = None) -> dict[str, Any]:
    """Play ``episodes`` minigames on the window (``policy``: a HybridActorCriticPolicy or "scripted").

    ``advise(policy, env)``, when given, returns the policy behind an advisor
    (:func:`agents.advisor.evaluate.live_policy_from_args`); its counters come back under ``"advisor"``.

    ``stop_hotkey`` is the env's stop switch (when ``env`` is None): pressing it releases all input and ends the
    run early with ``"stopped": True``. Pass None only where no person's desktop is driven (a private Xvfb).
    """
    from envs.games.fishing_screen import make_fishing_screen_env, meter_probe, scripted_action
    from envs.screen.screen_env import StopRequested

    own = env is None
    env = env or make_fishing_screen_env(grayscale=False, stop_hotkey=stop_hotkey)
    layout = None if policy == "scripted" else policy.layout
    if layout is not None and env.observation_space.shape != policy.observation_space.shape:
        raise ValueError(f"window frames {env.observation_space.shape} != policy {policy.observation_space.shape}")
    out = {"episodes": 0, "caught": 0, "escaped": 0, "truncated": 0, "steps": 0, "overruns": 0,
           "stopped": False, "step_time_ms": [], "step_gaps": []}
    t_end = time.monotonic() + max_seconds
    advised = advise(policy, env) if advise is not None else None
    try:
        obs, _ = env.reset()
        last_frame = None
        while out["episodes"] < episodes and time.monotonic() < t_end:
            if advised is not None:
                act = advised.to_env(advised.predict(obs, deterministic=True)[0])
            elif layout is None:
                act = scripted_action(env.action_spec, env.render())
            else:
                with th.no_grad():
                    box, _ = policy.predict(obs[None], deterministic=True)
                act = layout.to_dict(box[0])
            obs, _, term, trunc, info = env.step(act)
            out["steps"] += 1
            out["step_time_ms"].append(1000 * info["step_time_s"])
            if last_frame is not None:
                out["step_gaps"].append(info["frame_time"] - last_frame)
            last_frame = info["frame_time"]
            if gif_frames is not None and len(gif_frames) < 600:
                gif_frames.append(env.render())
            if term or trunc:
                out["episodes"] += 1
                if term:
                    full = meter_probe().value(env.render()) >= 0.999
                    out["caught" if full else "escaped"] += 1
                else:
                    out["truncated"] += 1
                out["overruns"] += info["overruns"]
                obs, _ = env.reset()
                if advised is not None:
                    advised.new_episode()
                last_frame = None  # the rate is measured within episodes, not across the resets
    except StopRequested:
        out["stopped"] = True
        print("stop switch pressed: all input released, stopping (the counts cover the finished episodes)",
              flush=True)
    finally:
        if advised is not None and advised.advisor is not None:
            advised.advisor.close()
            out["advisor"] = dict(advised.advisor.summary(), query_rate=advised.asked / max(1, out["steps"]))
        if own:
            env.close()
    st = out.pop("step_time_ms")
    gaps = out.pop("step_gaps")
    n = max(1, out["episodes"])
    out.update(catch_rate=out["caught"] / n, ci95=wilson(out["caught"], n),
               step_time_ms_median=float(np.median(st)) if st else None,
               steps_per_s=len(gaps) / float(np.sum(gaps)) if gaps else None)
    return out


def play_env(policy: Any, source: EnvSource, episodes: int, max_seconds: float = 600.0,
             deterministic: bool = True) -> dict[str, Any]:
    """Play ``episodes`` episodes of the env ``source`` names with ``policy``: the return and length of each,
    their means, and the success rate where the env reports one. A ScreenGame-v0 env's stop switch ends the run
    early (``"stopped": True``) with what it has counted."""
    from envs.screen.screen_env import StopRequested

    env = source.make()
    if env.observation_space.shape != policy.observation_space.shape or env.layout != policy.layout:
        env.close()
        raise ValueError(f"env {source.name!r} has observations {env.observation_space.shape} and actions "
                         f"{list(env.layout.type_names)}; the policy {policy.observation_space.shape} and "
                         f"{list(policy.layout.type_names)}")
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[int] = []
    stopped = False
    t_end = time.monotonic() + max_seconds
    try:
        while len(returns) < episodes and time.monotonic() < t_end:
            obs, _ = env.reset()
            total, n = 0.0, 0
            while True:
                with th.no_grad():
                    box, _ = policy.predict(np.asarray(obs)[None], deterministic=deterministic)
                obs, r, term, trunc, info = env.step(box[0])
                total += float(r)
                n += 1
                if term or trunc or time.monotonic() >= t_end:
                    break
            returns.append(total)
            lengths.append(n)
            found = episode_success(info)
            if found is not None:
                successes.append(int(found[1]))
    except StopRequested:
        stopped = True
        print("stop switch pressed: all input released, stopping (the counts cover the finished episodes)",
              flush=True)
    finally:
        env.close()
    out: dict[str, Any] = {"env": source.name, "episodes": len(returns), "stopped": stopped,
                           "mean_return": float(np.mean(returns)) if returns else None,
                           "mean_length": float(np.mean(lengths)) if lengths else None,
                           "returns": returns, "lengths": lengths}
    if successes and len(successes) == len(returns):
        out["success_rate"] = sum(successes) / len(successes)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m agents.hybrid.play")
    add_env_args(p, default=None, help_extra="; default: the env the policy was trained on (the fishing window "
                                             "for a pixels policy)")
    p.add_argument("--policy", required=True, help="a saved policy (policy.pt/.json) or 'scripted'")
    p.add_argument("--episodes", type=int_at_least(1), default=20)
    p.add_argument("--max-seconds", type=float_above(0.0), default=600)
    p.add_argument("--seed", type=int, default=900_000)
    p.add_argument("--xvfb", action="store_true", help="start Xvfb and the game window here")
    p.add_argument("--out", default=None, help="write the result JSON here")
    from agents.advisor.evaluate import add_advisor_args, live_policy_from_args

    add_advisor_args(p)
    args = p.parse_args(argv)
    advise = None
    if args.advisor != "none":
        from agents.advisor.backends import make_backend
        from agents.advisor.evaluate import settings_from_args

        try:  # the settings, the key and the server's URL are checked before the window is driven
            settings = settings_from_args(args, args.advisor)
            make_backend(args.advisor, model=settings.model, base_url=settings.base_url, timeout=settings.timeout_s)
        except ValueError as e:
            p.error(f"--advisor: {e}")

        def advise(policy: Any, env: Any) -> Any:
            return live_policy_from_args(policy, env, args)
    # everything is checked before the window is driven: a bad --out found afterwards would cost the whole run
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            p.error(f"--out: {out}: a directory, not a file for the result JSON")
        if not out.parent.is_dir():
            p.error(f"--out: {out}: its folder {out.parent} does not exist")
    th.set_num_threads(1)
    policy: Any = "scripted"
    if args.policy != "scripted":
        from agents.hybrid.policy import PolicyFileError, load_policy

        try:
            policy = load_policy(args.policy)
        except PolicyFileError as e:
            p.error(f"--policy: {e}")
        from agents.hybrid.train import policy_source

        try:
            source = source_from_args(args) if args.env is not None else policy_source(policy)
        except EnvArgError as e:
            p.error(f"{e.option}: {e}")
        if args.env is not None or source.alias is None:  # any env but the fishing window
            if args.xvfb:
                p.error("--xvfb: only for the fishing window (a pixels policy); start your game's display yourself")
            try:
                res = play_env(policy, source, args.episodes, args.max_seconds)
            except (EnvArgError, ValueError) as e:
                p.error(f"--env: {e}")
            _finish(p, res, args)
            return
        if policy.layout.discrete_only:  # a state-env policy: it has no pointer or keys to play the window with
            p.error(f"--policy: {args.policy}: a policy for env 'state' (StardewFishing-v0); the window needs a "
                    "policy for env 'pixels'")
    if args.xvfb:
        from envs.screen.testing import GameWindow, Xvfb

        with Xvfb() as x, GameWindow(x.display, ("--seed", str(args.seed), "--pause", "20"),
                                     max_seconds=args.max_seconds + 60) as g:
            before = g.state()
            # a private X server: no desktop of the user's to take over, so no stop switch is needed
            res = play_window(policy, args.episodes, max_seconds=args.max_seconds, stop_hotkey=None,
                              advise=advise)
            time.sleep(0.3)
            after = g.state()
            res["game_counted"] = {"caught": after["caught_total"] - before["caught_total"],
                                   "escaped": after["escaped_total"] - before["escaped_total"]}
    else:
        print("playing on $DISPLAY: the policy drives your pointer and keys; press Ctrl+Shift+F12 to stop", flush=True)
        res = play_window(policy, args.episodes, max_seconds=args.max_seconds, advise=advise)
    _finish(p, res, args)


def _finish(p: argparse.ArgumentParser, res: dict[str, Any], args: argparse.Namespace) -> None:
    res["policy"] = args.policy
    print(json.dumps(res), flush=True)  # first: if --out cannot be written after all, the result is still here
    if args.out:
        try:
            with open(args.out, "w") as f:
                json.dump(res, f, indent=1)
        except OSError as e:
            print(f"{p.prog}: error: --out: {args.out}: not written ({type(e).__name__}: {e}); the result is the "
                  "JSON line above", file=sys.stderr)
            sys.exit(1)



if __name__ == "__main__":
    main()
