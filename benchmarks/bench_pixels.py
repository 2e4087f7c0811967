"""make bench BENCH=pixels: end-to-end pixel training speed, the new way against the old way, and where the time goes.

**End to end** (first): the training commands themselves, in this process: ``python -m agents.hybrid.train ppo
--env pixels`` (the Makefile's PPO settings: 8 envs x 128 steps, minibatches of 256, 4 epochs, the Q head) and
``dagger`` (the shipped run's rounds: >= 4,000 env steps and 600 BC batches of 64; a teacher round, then a learner
round). Each runs ``--repeats`` times three ways, alternating:

- old: ``--chunk 1 --no-share-frames`` (SB3's and imitation's minibatches of single steps in random order, SB3's
  float32 rollout buffer, the CNN on every frame of every stack) and frames drawn with pygame (the old
  ``FishingPixelsEnv.frame``);
- new: the defaults (each distinct frame through the CNN once, channels-last convolutions, the last call's CNN
  codes reused when acting, uint8 rollouts, frames drawn into a NumPy array; PPO's minibatches as runs of 8
  consecutive steps, BC's of single steps);
- chunked: the new way with longer runs (PPO ``--chunk 32``, DAgger ``--chunk 4``), faster and, as measured in the
  docs, costing catch rate.

Prints env steps per second of each run's own wall time (``run.json``'s ``wall_s``: the training loop with its
one-fish evaluations, not the imports and set-up) and the ratio of the medians.

**Parts** (then): each part of a step timed alone, the old way and the new way, on 8 games' frames of real play:
2 game ticks, drawing the 600x168 frame, preprocessing to 84x84 + the frame stack, the policy's forward pass for 8
games, PPO's update (4 epochs) and BC's update (4.8 samples a label, as the shipped DAgger run), per env step.
Figures only; nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch as th


def per_call(fn, seconds: float = 2.0, warm_up: int = 5) -> float:
    """Seconds per call of ``fn``, over at least ``seconds`` after ``warm_up`` untimed calls."""
    for _ in range(warm_up):
        fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


OLD = ["--chunk", "1", "--no-share-frames"]
PPO = ["ppo", "--env", "pixels", "--n-envs", "8", "--n-steps", "128", "--batch-size", "256", "--norm-reward",
       "--eval-every", str(10**9), "--eval-episodes", "1"]
# the shipped run's proportions (make train-hybrid RUN=dagger): 600 BC batches per round of >= 4,000 env steps;
# two rounds, the first the teacher's (beta 1), the second the learner's (beta 0)
DAGGER = ["dagger", "--round-steps", "4000", "--batches-per-round", "600", "--beta-rounds", "1",
          "--eval-episodes", "1"]


@contextlib.contextmanager
def pygame_frames():
    """FishingPixelsEnv.frame as it was: the game drawn on a pygame surface and its bytes copied out."""
    import pygame

    from envs.games.fishing_pixels import FishingPixelsEnv

    def frame(self: FishingPixelsEnv) -> np.ndarray:
        surf = self.game._draw()
        return np.frombuffer(pygame.image.tobytes(surf, "RGB"), np.uint8).reshape(surf.get_height(),
                                                                                 surf.get_width(), 3)

    new = FishingPixelsEnv.frame
    FishingPixelsEnv.frame = frame
    try:
        yield
    finally:
        FishingPixelsEnv.frame = new


def train_speed(argv: list[str], work: Path) -> tuple[float, int]:
    """(env steps per second, env steps) of one training command run in this process: the run's own wall time
    (``run.json``'s ``wall_s``: the training loop with its evaluations, not the imports and set-up before it)."""
    from agents.hybrid.train import build_parser, run

    out = Path(tempfile.mkdtemp(dir=work))
    run(build_parser()[0].parse_args([*argv, "--out", str(out)]))
    record = json.loads((out / "run.json").read_text())
    steps = int(record["final"]["env_steps"])
    return steps / record["wall_s"], steps


def end_to_end(ppo_steps: int, dagger_rounds: int, repeats: int, only: str | None = None) -> None:
    print("end to end: env steps/s of training (median of runs; ratios to the old way)")
    ways = {"old": OLD, "new": [], "chunked": None}  # chunked: longer runs than the defaults
    runs = {"ppo": ("PPO (pixels)", [*PPO, "--steps", str(ppo_steps)], "32"),
            "dagger": ("DAgger (pixels)", [*DAGGER, "--rounds", str(dagger_rounds)], "4")}
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv, chunk in [run for key, run in runs.items() if only in (None, key)]:
            speeds: dict[str, list[float]] = {way: [] for way in ways}
            for _ in range(repeats):
                for way, extra in ways.items():
                    extra = ["--chunk", chunk] if extra is None else extra
                    with pygame_frames() if way == "old" else contextlib.nullcontext():
                        speed, steps = train_speed(argv + extra, Path(tmp))
                    speeds[way].append(speed)
            med = {way: statistics.median(v) for way, v in speeds.items()}
            print(f"  {name:16s} {steps:6d} env steps   old {med['old']:6.1f}/s   new {med['new']:6.1f}/s "
                  f"({med['new'] / med['old']:4.2f}x)   --chunk {chunk} {med['chunked']:6.1f}/s "
                  f"({med['chunked'] / med['old']:4.2f}x)   runs: "
                  + "; ".join(f"{way} {', '.join(f'{v:.1f}' for v in vs)}" for way, vs in speeds.items()),
                  flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_pixels.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--ppo-steps", type=int, default=4096, help="PPO's env steps a run (4 rollouts of 8 x 128)")
    p.add_argument("--dagger-rounds", type=int, default=2, help="DAgger rounds a run (>= 1,000 env steps each)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each way, alternating")
    p.add_argument("--parts-only", action="store_true", help="only the parts of one step")
    p.add_argument("--only", choices=["ppo", "dagger"], default=None, help="only this training command end to end")
    args = p.parse_args(argv)
    th.set_num_threads(int(os.environ.get("HYBRID_THREADS", "1")))
    if not args.parts_only:
        end_to_end(args.ppo_steps, args.dagger_rounds, args.repeats, args.only)
    if args.only is None:
        parts()


def parts() -> None:
    """Each part of a step timed alone, the old way and the new way, on frames of real play."""
    import pygame

    from agents.hybrid.layout import HybridBoxWrapper
    from agents.hybrid.policy import HybridActorCriticPolicy, policy_kwargs_for
    from envs.games.fishing_pixels import FishingPixelsEnv

    rng = np.random.default_rng(0)
    envs = [FishingPixelsEnv() for _ in range(8)]
    stream = []  # 8 games played side by side: stream[t] is the 8 observations of step t
    stream.append(np.stack([e.reset(seed=i)[0] for i, e in enumerate(envs)]))
    for _ in range(160):
        stream.append(np.stack([e.step(e.action_spec.make("key", keys=["c"]) if rng.random() < 0.5
                                       else e.action_spec.noop())[0] for e in envs]))
    stream = np.stack(stream)  # (T, 8, 4, 84, 84, 3)
    env = envs[0]
    layout = HybridBoxWrapper(env).layout
    space = env.observation_space
    th.manual_seed(0)
    new = HybridActorCriticPolicy(space, layout.box_space(), lambda _: 1e-3, **policy_kwargs_for(space, layout, small=True))
    old = HybridActorCriticPolicy(space, layout.box_space(), lambda _: 1e-3,
                                  **policy_kwargs_for(space, layout, small=True, share_frames=False))
    old.load_state_dict(new.state_dict())

    def tick() -> None:
        for _ in range(env.ticks_per_step):
            env.game.tick(bool(rng.integers(2)))
            if env.game.paused:
                env.game.new_minigame()

    def draw_pygame() -> None:
        pygame.image.tobytes(env.game._draw(), "RGB")

    frame = env.frame()

    def preprocess() -> None:
        env.stack.push(env.pre(frame))

    def forward(policy):
        t = [0]

        def call() -> None:  # the 8 games' next step, as SB3's rollout and DAgger's collector ask
            with th.no_grad():
                policy(th.as_tensor(stream[t[0] % len(stream)]))
            t[0] += 1
        return call

    def update(policy, batch: int, chunk: int, float_obs: bool):
        """One gradient step on ``batch`` samples drawn as runs of ``chunk`` consecutive steps of one game."""
        per_game = stream.transpose(1, 0, *range(2, stream.ndim))  # (8, T, ...)
        runs = [per_game[g, t:t + chunk] for g, t in zip(rng.integers(0, 8, batch // chunk),
                                                           rng.integers(0, len(stream) - chunk, batch // chunk),
                                                           strict=True)]
        obs = th.as_tensor(np.concatenate(runs))
        obs = obs.float() if float_obs else obs  # SB3's rollout buffer keeps float32
        acts = th.as_tensor(np.stack([layout.to_box({"type": int(rng.integers(2)) * 3}) for _ in range(batch)]))

        def step() -> None:
            _, logp, ent = policy.evaluate_actions(obs, acts)
            loss = -logp.mean() - 1e-3 * ent.mean()
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
        return step

    rows = {
        "game ticks (2)": (per_call(tick),) * 2,
        "draw the frame (pygame / NumPy)": (per_call(draw_pygame), per_call(env.frame)),
        "preprocess + stack": (per_call(preprocess),) * 2,
        "policy forward (8 games)": (per_call(forward(old)) / 8, per_call(forward(new)) / 8),
        "PPO update (4 epochs)": (4 * per_call(update(old, 256, 1, True), 4.0, 2) / 256,
                                  4 * per_call(update(new, 256, 8, False), 4.0, 2) / 256,
                                  4 * per_call(update(new, 256, 32, False), 4.0, 2) / 256),
        "BC update (4.8 per label)": (4.8 * per_call(update(old, 64, 1, False), 4.0, 2) / 64,
                                      4.8 * per_call(update(new, 64, 1, False), 4.0, 2) / 64,
                                      4.8 * per_call(update(new, 64, 4, False), 4.0, 2) / 64),
    }
    print(f"parts, microseconds per env step (torch threads {th.get_num_threads()}): old way, new way (PPO runs "
          "of 8, BC single steps), longer runs (PPO --chunk 32, DAgger --chunk 4)")
    for name, times in rows.items():
        times = times if len(times) == 3 else (*times, times[1])
        print(f"  {name:34s} " + " ".join(f"{t * 1e6:8.0f}" for t in times)
              + f"   {times[0] / times[1]:5.2f}x {times[0] / times[2]:5.2f}x")
    for algo, skip in (("PPO", "BC"), ("DAgger", "PPO")):
        sums = [sum((v if len(v) == 3 else (*v, v[1]))[i] for k, v in rows.items() if skip not in k) for i in range(3)]
        print(f"  {algo + ' step (sum of the parts)':34s} " + " ".join(f"{t * 1e6:8.0f}" for t in sums)
              + f"   {sums[0] / sums[1]:5.2f}x {sums[0] / sums[2]:5.2f}x")


if __name__ == "__main__":
    main()
