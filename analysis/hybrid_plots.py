"""Figures for the README's hybrid-agent section: learning curves (PNG) and a GIF of the trained agent playing.

    python -m analysis.hybrid_plots curves --runs runs/hybrid --out docs/hybrid
    python -m analysis.hybrid_plots gif --policy runs/hybrid/bc_ppo/policy --out docs/hybrid/agent.gif [--window]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from envs.cli.argtypes import int_at_least

# the runs the figures draw, as ``train`` names them in the README (runs/hybrid/<name>/curve.csv)
PIXEL_RUNS = {"ppo": "PPO from scratch (Q head on)", "bc_ppo": "BC then PPO (Q head on)",
              "bc_ppo_noq": "BC then PPO (Q head off)",
              "bc_ppo_unscaled": "BC then PPO, rewards not scaled (lr 1e-4, Q on)"}
RUN_NAMES = ("bc", *PIXEL_RUNS, "ppo_state_1m", "ppo_state")


class RunsError(ValueError):
    """``--runs`` is not a folder of runs, or one of its curves cannot be read; the message names the path."""


def _read(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RunsError(f"{path}: cannot be read: {type(e).__name__}: {e}") from None
    out = []
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            out.append({k: float(v) for k, v in row.items()})
        except (TypeError, ValueError):  # a short row gives None, a stray one text
            raise RunsError(f"{path}: line {i}: not a row of numbers: {row}") from None
    return out


def read_runs(runs: Path) -> dict[str, list[dict[str, float]]]:
    """The curve of every run the figures draw, by name (empty where a run is missing); :class:`RunsError` if
    ``runs`` does not exist or holds none of them (an empty figure would look like a result)."""
    if not runs.is_dir():
        raise RunsError(f"{runs}: no such directory")
    found = {name: _read(runs / name / "curve.csv") for name in RUN_NAMES}
    if not any(found.values()):
        raise RunsError(f"{runs}: no runs in it (looked for {', '.join(f'{n}/curve.csv' for n in RUN_NAMES)})")
    return found


def curves(runs: Path, out: Path, demonstrator_episodes: int = 0) -> Path:
    """The BC and PPO learning curves of the runs under ``runs``; with ``demonstrator_episodes`` (the curves'
    evaluation episodes), the scripted demonstrator's catch rate on those same seeds as a reference line.
    :class:`RunsError` (before anything is written) if there are no runs to draw."""
    found = read_runs(runs)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, (ax_bc, ax) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 2]})
    bc = found["bc"]
    if bc:
        ax_bc.errorbar([r["epoch"] for r in bc], [100 * r["catch_rate"] for r in bc],
                       yerr=[[100 * (r["catch_rate"] - r["ci_lo"]) for r in bc],
                             [100 * (r["ci_hi"] - r["catch_rate"]) for r in bc]], marker="o", capsize=3, label="BC")
    for name, label in PIXEL_RUNS.items():
        rows = found[name]
        if rows:
            ax.errorbar([r["env_steps"] for r in rows], [100 * r["catch_rate"] for r in rows],
                        yerr=[[100 * (r["catch_rate"] - r["ci_lo"]) for r in rows],
                              [100 * (r["ci_hi"] - r["catch_rate"]) for r in rows]], marker="o", capsize=3,
                        label=label)
    if bc:
        ax.axhline(100 * bc[-1]["catch_rate"], color="grey", ls=":", label="BC alone (0 env steps)")
    demonstrator = None
    if demonstrator_episodes:
        from agents.hybrid.train import evaluate_scripted

        demonstrator = evaluate_scripted(demonstrator_episodes)["catch_rate"]
    for a in (ax_bc, ax):
        if demonstrator is not None:
            a.axhline(100 * demonstrator, color="k", ls="--", label="scripted demonstrator")
        a.set_ylabel("catch rate, % (held-out seeds, 95% CI)")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    ax_bc.set_xlabel("BC epochs over the scripted demos")
    ax.set_xlabel("environment steps (FishingPixels-v0, 30 steps/s)")
    ax_bc.set_title("Behavioural cloning")
    ax.set_title("PPO vs BC then PPO")
    fig.tight_layout()
    path = out / "learning_curves.png"
    fig.savefig(path, dpi=110)
    state = found["ppo_state_1m"] or found["ppo_state"]
    if state:
        fig, a = plt.subplots(figsize=(5, 3.5))
        a.errorbar([r["env_steps"] for r in state], [100 * r["catch_rate"] for r in state],
                   yerr=[[100 * (r["catch_rate"] - r["ci_lo"]) for r in state],
                         [100 * (r["ci_hi"] - r["catch_rate"]) for r in state]], marker="o", capsize=3)
        a.set_xlabel("environment steps (StardewFishing-v0, 60 Hz)")
        a.set_ylabel("catch rate, %")
        a.set_title("Hybrid PPO, MLP variant, state env")
        a.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "ppo_state_curve.png", dpi=110)
    return path


def write_gif(frames: list[np.ndarray], path: Path, fps: int = 15, scale: float = 0.5, every: int = 2) -> Path:
    from PIL import Image

    if not frames:  # PIL would fail on imgs[0] with an IndexError that says nothing
        raise ValueError(f"{path}: no frames to write")
    imgs = []
    for f in frames[::every]:
        im = Image.fromarray(np.asarray(f)[..., :3])
        imgs.append(im.resize((int(im.width * scale), int(im.height * scale)), Image.BILINEAR)
                    .convert("P", palette=Image.ADAPTIVE, colors=32))
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0, optimize=True)
    return path


def gif(policy_path: Any, out: Path, steps: int = 300, window: bool = False, seed: int = 900_003,
        episodes: int = 3, fish: str | None = None, level: int | None = None) -> dict[str, Any]:
    import torch as th

    from agents.hybrid.policy import load_policy

    # a path (PolicyFileError names a bad file) or the policy itself, already loaded and checked by main
    policy = load_policy(policy_path) if isinstance(policy_path, (str, Path)) else policy_path
    frames: list[np.ndarray] = []
    if window:
        from agents.hybrid.play import play_window
        from envs.screen.testing import GameWindow, Xvfb

        args = ("--seed", str(seed), "--pause", "20") + (("--fish", fish) if fish else ()) \
            + (("--level", str(level)) if level is not None else ())
        with Xvfb() as x, GameWindow(x.display, args, max_seconds=120):
            res = play_window(policy, episodes=episodes, max_seconds=40, gif_frames=frames, stop_hotkey=None)
    else:
        from envs.games.fishing_pixels import FishingPixelsEnv

        env = FishingPixelsEnv()
        obs, _ = env.reset(seed=seed)
        res = {"episodes": 0, "caught": 0}
        for _ in range(steps):
            with th.no_grad():
                a, _ = policy.predict(obs[None], deterministic=True)
            obs, _, term, trunc, info = env.step(policy.layout.to_dict(a[0]))
            frames.append(env.render().copy())
            if term or trunc:
                res["episodes"] += 1
                res["caught"] += int(info["caught"])
                obs, _ = env.reset()
    write_gif(frames, out)
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m analysis.hybrid_plots")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curves")
    c.add_argument("--runs", default="runs/hybrid")
    c.add_argument("--out", default="docs/hybrid")
    c.add_argument("--demonstrator-episodes", type=int_at_least(0), default=0,
                   help="draw the scripted demonstrator's catch rate on the curves' first N evaluation seeds")
    g = sub.add_parser("gif")
    g.add_argument("--policy", required=True)
    g.add_argument("--out", default="docs/hybrid/agent.gif")
    g.add_argument("--window", action="store_true", help="record the real window under Xvfb")
    g.add_argument("--steps", type=int_at_least(1), default=300)
    g.add_argument("--seed", type=int_at_least(0), default=900_003)
    g.add_argument("--episodes", type=int_at_least(1), default=3)
    g.add_argument("--fish", default=None, help="window only: one fish (default: the population)")
    g.add_argument("--level", type=int, default=None)
    args = p.parse_args(argv)
    if args.cmd == "curves":
        try:
            read_runs(Path(args.runs))
        except RunsError as e:
            c.error(f"--runs: {e}")
        print(curves(Path(args.runs), Path(args.out), args.demonstrator_episodes))
    else:
        from agents.hybrid.policy import PolicyFileError, load_policy

        try:  # before the game (or Xvfb) starts
            policy = load_policy(args.policy)
        except PolicyFileError as e:
            g.error(f"--policy: {e}")
        if policy.layout.discrete_only:
            g.error(f"--policy: {args.policy}: a policy for env 'state' (StardewFishing-v0); the gif is of the "
                    "pixel game, which needs a policy for env 'pixels'")
        print(json.dumps(gif(policy, Path(args.out), args.steps, args.window, args.seed, args.episodes,
                                     args.fish, args.level)))


if __name__ == "__main__":
    main()
