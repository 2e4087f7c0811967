"""Tune trainables: a configuration trained over several training seeds, chunk by chunk.

Each trial trains every training seed of its plan round robin, ``chunk_steps`` transitions at a time; after each
chunk it reports the dev-seed figures (``dev_catch``, ``dev_perfect``, their counts for Wilson intervals, and
``dev_score`` = catch + 0.25 x perfect, the DQN's checkpoint choice) pooled over the seeds with ``tune.report``,
together with a Tune checkpoint: the trial's whole working folder (each seed's run). A trial restarted from a
checkpoint (a failure, or ``make sweep RESUME=1``) unpacks it and carries on from the next chunk; the DQN's own
``checkpoint.pt`` resumes each seed exactly where it stopped.

The dev seeds judge; the held-out test seeds are never played here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from agents.sweep.space import Plan

STATE = "sweep_state.json"  # in a trial's folder (and so in each checkpoint): the chunks done
# the pixel agent's dev seeds: above its training (seed x 1000 + env) and demonstration (100,000+) seeds and
# below its held-out evaluation seeds (900,000+)
PIXEL_DEV_SEED0 = 800_000


def _work_dir() -> Path:
    """The trial's local folder, filled from its last Tune checkpoint when it has one."""
    from ray import tune

    work = Path.cwd() / "trial_work"  # Tune runs each trial in its own working folder
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        shutil.rmtree(work, ignore_errors=True)
        ckpt.to_directory(str(work))
    work.mkdir(parents=True, exist_ok=True)
    return work


def _chunks_done(work: Path) -> int:
    path = work / STATE
    return json.loads(path.read_text())["chunks_done"] if path.exists() else 0


def _report(work: Path, chunk: int, steps: int, per_seed: dict[int, dict[str, Any]]) -> None:
    """One chunk's figures, pooled over the seeds, with the folder as the checkpoint."""
    import ray
    from ray import tune

    n = sum(s["episodes"] for s in per_seed.values())
    caught = sum(s["caught"] for s in per_seed.values())
    metrics: dict[str, Any] = {"dev_catch": caught / n, "dev_caught": caught, "dev_episodes": n, "chunk": chunk,
                               "steps_per_seed": steps, "node_id": ray.get_runtime_context().get_node_id()}
    if all("perfected" in s for s in per_seed.values()):  # the pixel agent's dev play has catches only
        perfected = sum(s["perfected"] for s in per_seed.values())
        metrics.update(dev_perfect=perfected / n, dev_score=(caught + 0.25 * perfected) / n,
                       dev_perfected=perfected)
    for seed, s in per_seed.items():
        metrics[f"seed{seed}_catch"] = s["caught"] / s["episodes"]
    (work / STATE).write_text(json.dumps({"chunks_done": chunk, "last": metrics}, indent=1))
    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(work)))


# ---- the DQN ----------------------------------------------------------------------------------------------
def dqn_config(plan: Plan, params: dict[str, Any], seed: int, name: str):
    """The DQNConfig of one training seed of a trial: the plan's base preset, its fixed settings and the
    trial's ``params``, run for the plan's whole budget, evaluated and saved once per chunk."""
    from agents.dqn.config import PRESETS

    return PRESETS[plan.base].replace(
        **plan.settings(params), name=name, seed=seed, total_steps=plan.chunks * plan.chunk_steps,
        eval_every=plan.chunk_steps, checkpoint_every=plan.chunk_steps, eval_episodes=plan.eval_episodes,
        final_dev_episodes=0, max_minutes=0.0, torch_threads=1)


def dqn_trainable(params: dict[str, Any], plan: Plan) -> None:
    """Tune trainable: the DQN (agents.dqn.train) under ``params``, each seed of ``plan.seeds`` a run of its
    own, ``plan.chunk_steps`` transitions per seed between reports. Reports the dev figures of each seed's kept
    network (``best.pt``: the best dev score at a chunk's end so far, as ``make train-dqn`` keeps it)."""
    import torch

    from agents.dqn.train import train

    torch.set_num_threads(1)
    work = _work_dir()
    for chunk in range(_chunks_done(work) + 1, plan.chunks + 1):
        per_seed = {}
        for seed in plan.seeds:
            cfg = dqn_config(plan, params, seed, f"seed{seed}")
            summary = train(cfg, out_dir=work / cfg.name, progress=False, stop_at=chunk * plan.chunk_steps)
            best = summary["best_dev"]
            per_seed[seed] = {"episodes": best["episodes"], "caught": round(best["catch"] * best["episodes"]),
                              "perfected": round(best["perfect"] * best["episodes"])}
        _report(work, chunk, chunk * plan.chunk_steps, per_seed)


# ---- the hybrid agent's PPO -------------------------------------------------------------------------------
def hybrid_settings(plan: Plan, params: dict[str, Any]) -> dict[str, Any]:
    """Every PPO setting of a trial: the plan's base, its fixed settings, the trial's ``params``."""
    return {**plan.base, **plan.settings(params)}


def _hybrid_model(s: dict[str, Any], seed: int, run: Path):
    """(HybridPPO, its VecEnv) for one training seed, loaded from ``run`` when a previous chunk saved it there."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from agents.hybrid.policy import HybridActorCriticPolicy, policy_kwargs_for
    from agents.hybrid.ppo import HybridPPO
    from agents.hybrid.train import TRAIN_SEED_STRIDE, _env_layout, load_policy_arg, load_weights_arg

    make, layout, obs_space = _env_layout(s["env"])
    seed0 = seed * TRAIN_SEED_STRIDE
    venv = DummyVecEnv([(lambda i=i: Monitor(make(seed0 + i))) for i in range(s["n_envs"])])
    venv.seed(seed0)
    if s["norm_reward"]:
        venv = (VecNormalize.load(str(run / "vecnormalize.pkl"), venv) if (run / "vecnormalize.pkl").exists()
                else VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=0.99))
    if (run / "ppo.zip").exists():
        return HybridPPO.load(run / "ppo.zip", env=venv, device="cpu"), venv
    model = HybridPPO(
        HybridActorCriticPolicy, venv, seed=seed, q_coef=s["q_coef"], critic_warmup=s["critic_warmup"],
        policy_kwargs=policy_kwargs_for(obs_space, layout, small=s["env"] == "pixels"),
        n_steps=s["n_steps"], batch_size=s["batch_size"], n_epochs=s["n_epochs"], learning_rate=s["lr"],
        gamma=0.99, gae_lambda=0.95, clip_range=s["clip"], ent_coef=s["ent_coef"], vf_coef=s["vf_coef"],
        verbose=0, device="cpu")
    model.env.seed(seed0)
    if s.get("init"):
        init = load_policy_arg("--init", s["init"], s["env"], obs_space)
        load_weights_arg("--init", s["init"], model.policy, init)
    return model, venv


def hybrid_dev(env: str, policy: Any, episodes: int) -> dict[str, int]:
    """The hybrid policy's greedy play on dev seeds: the protocol's dev seeds on the state env (catch and perfect
    from agents.evaluation.protocol), seeds from PIXEL_DEV_SEED0 on pixels (catch only)."""
    import numpy as np

    from agents.hybrid.evaluate import evaluate_pixels, policy_act_fn

    act = policy_act_fn(policy, deterministic=True)
    if env == "pixels":
        res = evaluate_pixels(act, range(PIXEL_DEV_SEED0, PIXEL_DEV_SEED0 + episodes), layout=policy.layout)
        return {"episodes": res["episodes"], "caught": res["caught"]}  # the pixel env does not say "perfect"
    from agents.evaluation.protocol import DEV_SEED0, protocol_config, run_episodes, summarize

    class _Greedy:
        def act(self, sim: Any) -> np.ndarray:
            a = act(np.asarray(sim.obs, np.float32))
            return np.clip(np.rint(a[:, 0]), 0, 1).astype(np.int64)

    s = summarize(run_episodes(_Greedy(), n=episodes, seed0=DEV_SEED0, config=protocol_config()))
    return {"episodes": s["episodes"], "caught": round(s["catch"] * s["episodes"]),
            "perfected": round(s["perfect"] * s["episodes"])}


def hybrid_trainable(params: dict[str, Any], plan: Plan) -> None:
    """Tune trainable: the hybrid agent's PPO (agents.hybrid.ppo) on the state or pixel env under ``params``,
    each seed of ``plan.seeds`` trained ``plan.chunk_steps`` env steps per chunk; reports the current policy's
    dev figures."""
    import torch

    from agents.hybrid.policy import save_policy

    torch.set_num_threads(1)
    s = hybrid_settings(plan, params)
    work = _work_dir()
    for chunk in range(_chunks_done(work) + 1, plan.chunks + 1):
        per_seed = {}
        for seed in plan.seeds:
            run = work / f"seed{seed}"
            run.mkdir(exist_ok=True)
            model, venv = _hybrid_model(s, seed, run)
            model.learn(total_timesteps=plan.chunk_steps, reset_num_timesteps=False, progress_bar=False)
            model.save(run / "ppo.zip")
            if s["norm_reward"]:
                venv.save(str(run / "vecnormalize.pkl"))
            save_policy(model.policy, run / "policy")
            model.policy.set_training_mode(False)
            per_seed[seed] = hybrid_dev(s["env"], model.policy, plan.eval_episodes)
            venv.close()
        _report(work, chunk, chunk * plan.chunk_steps, per_seed)


TRAINABLES = {"dqn": dqn_trainable, "hybrid-state": hybrid_trainable, "hybrid-pixels": hybrid_trainable}
__all__ = ["TRAINABLES", "dqn_trainable", "hybrid_trainable", "dqn_config", "hybrid_settings", "hybrid_dev",
           "PIXEL_DEV_SEED0"]
