"""make bench BENCH=pixels: where the time of pixel training goes, per env step, in one process.

Parts of one FishingPixels-v0 training step, each timed alone on the same machine in the same run:

1. the game: 2 simulator ticks (``FishingGame.tick``);
2. drawing the 600x168 frame with pygame and reading its bytes (``FishingPixelsEnv.frame``);
3. preprocessing it to 84x84 (``FramePreprocessor``) and pushing it on the frame stack;
4. the policy's forward pass (CNN+LSTM, the small network BC, DAgger and pixel PPO train), per env step of a
   batch of 8 envs (PPO's rollout, DAgger's collector);
5. PPO's update per env step: 4 epochs of forward + backward + Adam step over each sample;
6. BC's update (DAgger) per label: one forward + backward + Adam step over each sample.

Prints microseconds per env step and each part's share of a PPO step and of a DAgger step (one label per env
step, 600 batches of 64 per round of ~8,000 labels: ~4.8 updates per label). Figures only; nothing here is a test.
"""

from __future__ import annotations

import os
import time

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


def main() -> None:
    th.set_num_threads(int(os.environ.get("HYBRID_THREADS", "1")))
    from agents.hybrid.layout import HybridBoxWrapper
    from agents.hybrid.policy import HybridActorCriticPolicy, policy_kwargs_for
    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    frame = env.frame()

    def tick() -> None:
        for _ in range(env.ticks_per_step):
            env.game.tick(bool(rng.integers(2)))
            if env.game.paused:
                env.game.new_minigame()

    def preprocess() -> None:
        env.stack.push(env.pre(frame))

    layout = HybridBoxWrapper(env).layout
    obs_space = env.observation_space
    policy = HybridActorCriticPolicy(obs_space, layout.box_space(), lambda _: 1e-3,
                                     **policy_kwargs_for(obs_space, layout, small=True))
    obs8 = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(8)]))

    def forward8() -> None:
        with th.no_grad():
            policy(obs8)

    def update(batch: int):
        obs = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(batch)]))
        acts = th.as_tensor(np.stack([layout.to_box({"type": int(rng.integers(2)) * 3}) for _ in range(batch)]))

        def step() -> None:
            _, logp, ent = policy.evaluate_actions(obs, acts)
            loss = -logp.mean() - 1e-3 * ent.mean()
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
        return step

    parts = {
        "game ticks": per_call(tick),
        "draw (pygame) + bytes": per_call(env.frame),
        "preprocess + stack": per_call(preprocess),
        "policy forward (of 8)": per_call(forward8) / 8,
    }
    ppo_update = 4 * per_call(update(256), seconds=4.0, warm_up=2) / 256
    bc_sample = per_call(update(64), seconds=4.0, warm_up=2) / 64
    env_part = sum(parts.values())
    ppo = env_part + ppo_update
    dagger = env_part + 4.8 * bc_sample
    print(f"torch threads {th.get_num_threads()}; microseconds per env step, share of a PPO / DAgger step")
    for name, t in {**parts, "PPO update (4 epochs)": ppo_update, "BC update (4.8 per label)": 4.8 * bc_sample}.items():
        in_ppo = t / ppo if "BC" not in name else float("nan")
        in_dagger = t / dagger if "PPO" not in name else float("nan")
        print(f"  {name:28s} {t * 1e6:9.0f} us   {100 * in_ppo:5.1f}%   {100 * in_dagger:5.1f}%")
    print(f"  {'PPO env steps/s (parts)':28s} {1 / ppo:9.1f}")
    print(f"  {'DAgger labels/s (parts)':28s} {1 / dagger:9.1f}")


if __name__ == "__main__":
    main()
