"""One entry point for the hybrid agent: scripted demos, BC, PPO, BC-then-PPO, evaluation, on any Gymnasium env.

    python -m agents.hybrid.train ppo  --env MyGame-v0 --gym-packages my_games --steps 20000 --out runs/mygame/ppo
    python -m agents.hybrid.train bc   --env MyGame-v0 --gym-packages my_games --demos demos/mygame --out runs/mygame/bc
    python -m agents.hybrid.train eval --policy runs/mygame/ppo/policy --episodes 20

``--env`` takes any registered id (``--gym-packages`` imports the modules that register it, ``--env-kwargs``
passes ``gym.make`` arguments; see :mod:`agents.hybrid.env_source`), and ``pixels`` / ``state`` for the project's
fishing envs, whose commands follow:

    python -m agents.hybrid.train demos-scripted --out demos/scripted --episodes 40
    python -m agents.hybrid.train demos-teacher --out demos/teacher --episodes 40
    python -m agents.hybrid.train dagger --rounds 8 --out runs/hybrid/dagger
    python -m agents.hybrid.train bc  --demos demos/scripted --out runs/hybrid/bc
    python -m agents.hybrid.train ppo --env pixels --steps 30000 --out runs/hybrid/ppo
    python -m agents.hybrid.train ppo --env pixels --steps 30000 --init runs/hybrid/bc/policy --out runs/hybrid/bc_ppo
    python -m agents.hybrid.train ppo --env state --steps 200000 --out runs/hybrid/ppo_state
    python -m agents.hybrid.train eval --policy runs/hybrid/bc/policy --episodes 100

Every run writes ``policy.pt`` + ``policy.json`` (weights-only state_dict), ``curve.csv`` (env steps or BC epochs
against the evaluation catch rate), ``run.json`` (arguments, seeds, wall time, CPU count) and ``log/``, the
library's own training log: ``progress.csv`` (BC's losses, or PPO's per update), BC's ``log.txt``, and PPO's
TensorBoard events with ``--tensorboard``.
``eval --policy teacher`` plays the state teacher (:mod:`agents.hybrid.teacher`) on the held-out pixel fish.
Seeds: training envs ``seed*1000 + i``; scripted demos 100_000+; teacher demos 200_000+; evaluation (held out) 900_000+ (the state env's
5_000_000+). Every seed from 900_000 up is reserved for evaluation: a ``--seed`` that would train or record on one
is refused.

Bad input (a missing or corrupt policy, demo or record file, a policy for the other env, a seed in the evaluation
range) is a usage error naming the option and the file, raised before anything of the run is written.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from agents.hybrid.demos import (
    DemoFormatError,
    DemoWriter,
    check_demo_dir,
    load_trajectories,
    recorded_seeds,
    summarize,
)
from agents.hybrid.env_source import EnvArgError, EnvSource, add_env_args, evaluate_env, source_from_args
from agents.hybrid.evaluate import evaluate_pixels, evaluate_state, policy_act_fn
from agents.hybrid.layout import HybridBoxWrapper, HybridLayout
from agents.hybrid.policy import (
    HybridActorCriticPolicy,
    PolicyFileError,
    is_frame_stack,
    load_policy,
    policy_kwargs_for,
    save_policy,
)
from agents.hybrid.teacher import DEFAULT_TEACHER
from envs.cli.argtypes import float_above, int_at_least
from envs.cli.paths import file_in_the_way

DEMO_SEED = 100_000
TEACHER_DEMO_SEED = 200_000
EVAL_SEED = 900_000
STATE_EVAL_SEED = 5_000_000
# every seed from here up is held out for evaluation (pixels EVAL_SEED+, state STATE_EVAL_SEED+): no training env
# and no demonstration may use one, or the evaluation would measure episodes the agent has seen
RESERVED_SEED = min(EVAL_SEED, STATE_EVAL_SEED)
TRAIN_SEED_STRIDE = 1000  # training env i of --seed s starts on seed s*1000 + i; demo episode e on 100_000 + s*1000 + e


class InputError(Exception):
    """Bad input found after argparse (a file's content, a combination of options): ``main`` turns it into the
    subcommand's usage error, ``<option>: <message>``."""

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"{option}: {message}")


def policy_source(policy: HybridActorCriticPolicy) -> EnvSource:
    """The env a saved policy was trained on: the one its file names, else (files written before policies named
    their env) the fishing env its action says: the state env's is a plain Discrete(2), the pixel game's a Dict."""
    meta = getattr(policy, "env_meta", None)
    if meta:  # an env made in Python (no id) is an EnvArgError: the command needs --env
        return EnvSource.from_json(meta)
    return EnvSource("state" if policy.layout.discrete_only else "pixels")


def policy_env(policy: HybridActorCriticPolicy) -> str:
    """The name of the env a saved policy acts in (``pixels`` / ``state`` for the fishing envs, else its id)."""
    meta = getattr(policy, "env_meta", None)
    if meta and meta.get("name"):
        return str(meta["name"])
    return policy_source(policy).name


def load_policy_arg(option: str, path: str, env: str | EnvSource | None = None,
                    obs_space: Any = None) -> HybridActorCriticPolicy:
    """``load_policy`` for a command-line option: a bad file, or a policy for another env or other observations
    than ``env``/``obs_space`` (when given), is an :class:`InputError` naming ``option`` and the file."""
    try:
        policy = load_policy(path)
    except PolicyFileError as e:
        raise InputError(option, str(e)) from None
    name = env.name if isinstance(env, EnvSource) else env
    if name is not None and policy_env(policy) != name:
        raise InputError(option, f"{path}: a policy for env {policy_env(policy)!r}, this run is on {name!r}")
    if isinstance(env, EnvSource) and policy.layout != env.probe()[0]:
        raise InputError(option, f"{path}: a policy for other actions ({list(policy.layout.type_names)}) than "
                                 f"this run's env {env.name!r} has")
    if obs_space is not None and policy.observation_space.shape != obs_space.shape:
        raise InputError(option, f"{path}: a policy for observations {policy.observation_space.shape}, this run's "
                                 f"are {obs_space.shape}")
    return policy


def load_weights_arg(option: str, path: str, into: HybridActorCriticPolicy, init: HybridActorCriticPolicy) -> None:
    """Copy ``init``'s weights into the run's policy; other layer sizes (another architecture) are an
    :class:`InputError`, not torch's size-mismatch traceback."""
    try:
        into.load_state_dict(init.state_dict(), strict=True)
    except RuntimeError as e:
        lines = [t.strip() for t in str(e).splitlines() if t.strip()]
        raise InputError(option, f"{path}: its layers do not fit this run's policy ("
                                 f"{lines[1] if len(lines) > 1 else lines[0] if lines else e})") from None


def check_seed_range(seed: int, base: int, count: int, what: str) -> None:
    """An :class:`InputError` for ``--seed`` if the ``count`` seeds a run uses from ``base + seed*1000`` reach the
    evaluation seeds (the held-out episodes would then be ones the agent trained on)."""
    first = base + seed * TRAIN_SEED_STRIDE
    last = first + count - 1
    if last >= RESERVED_SEED:
        highest = (RESERVED_SEED - base - count) // TRAIN_SEED_STRIDE
        raise InputError("--seed", f"{seed} {what} would use seeds {first}..{last}; seeds from {RESERVED_SEED} up "
                                   f"are reserved for evaluation (pixels {EVAL_SEED}+, state {STATE_EVAL_SEED}+): "
                                   + (f"use --seed {highest} or lower" if highest >= 0 else f"no --seed fits {what}"))


def check_out_dir(option: str, path: str | Path) -> None:
    """An output folder must be a folder (or not exist yet): a file there is an :class:`InputError`."""
    if Path(path).exists() and not Path(path).is_dir():
        raise InputError(option, f"{path}: exists and is not a directory")


def _env_layout(env: str | EnvSource):
    """(make_env(seed) -> wrapped env, layout, observation space) of an env name or :class:`EnvSource`."""
    source = env if isinstance(env, EnvSource) else EnvSource(env)

    def make(seed: int = 0) -> HybridBoxWrapper:
        return source.make(seed)

    layout, obs_space = source.probe()
    return make, layout, obs_space


def _source(args: argparse.Namespace) -> EnvSource:
    try:
        return source_from_args(args)
    except EnvArgError as e:
        raise InputError(e.option, str(e)) from None


def _probe(source: EnvSource) -> tuple[HybridLayout, Any]:
    try:
        return source.probe()
    except EnvArgError as e:
        raise InputError(e.option, str(e)) from None


def _write_curve(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _read_curve(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path) as f:
        return [dict(r) for r in csv.DictReader(f)]


BC_CURVE_FIELDS = ("epoch", "demo_samples_seen", "env_steps", "catch_rate", "ci_lo", "ci_hi", "wall_s")
BC_CURVE_REQUIRED = ("epoch", "demo_samples_seen", "env_steps", "wall_s")  # the rest: the env's evaluation


def _read_bc_curve(path: Path) -> list[dict[str, Any]]:
    """The curve of the BC run ``--init`` continues (none if it has no curve.csv); one this run could not extend
    (another run's columns, a non-numeric epoch or wall time) is an :class:`InputError`, found before training."""
    try:
        rows = _read_curve(path)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError("--init", f"{path}: cannot be read: {type(e).__name__}: {e}") from None
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        if not set(BC_CURVE_REQUIRED) <= set(row) or None in row:
            raise InputError("--init", f"{path}: line {i}: columns {sorted(k for k in row if k)}, a BC curve has "
                                       f"{list(BC_CURVE_REQUIRED)} and the evaluation's (is this the policy of a BC "
                                       "run?)")
        try:
            int(row["epoch"]), float(row["wall_s"])
        except (TypeError, ValueError):
            raise InputError("--init", f"{path}: line {i}: epoch {row['epoch']!r} / wall_s {row['wall_s']!r} "
                                       "are not numbers") from None
    return rows


def _eval(env: str | EnvSource, policy: Any, episodes: int, deterministic: bool = True) -> dict[str, Any]:
    """The policy on the held-out seeds of its env; ``first_seed`` says which. The fishing envs report their
    catch rate; any other env its return, episode length, and a success rate where its ``info`` has one."""
    act = policy_act_fn(policy, deterministic=deterministic)
    source = env if isinstance(env, EnvSource) else EnvSource(env)
    env_name = source.alias
    if env_name is None:
        return dict(evaluate_env(act, source, range(EVAL_SEED, EVAL_SEED + episodes)), first_seed=EVAL_SEED)
    if env_name == "pixels":
        seed0 = EVAL_SEED
        res = evaluate_pixels(act, range(seed0, seed0 + episodes), layout=policy.layout)
    else:
        seed0 = STATE_EVAL_SEED
        res = evaluate_state(lambda o: np.clip(np.rint(act(o)[:, 0]), 0, 1).astype(np.int64),
                             range(seed0, seed0 + episodes))
    return dict(res, first_seed=seed0)


def _curve_fields(ev: dict[str, Any]) -> dict[str, Any]:
    """The evaluation's columns of a learning curve: the catch rate and its interval for the fishing envs, else
    the mean return and episode length (and the success rate where the env reports one)."""
    if "catch_rate" in ev:
        return {"catch_rate": ev["catch_rate"], "ci_lo": ev["ci95"][0], "ci_hi": ev["ci95"][1]}
    out = {"mean_return": round(ev["mean_return"], 4), "mean_length": round(ev["mean_length"], 2)}
    if "success_rate" in ev:
        out["success_rate"] = ev["success_rate"]
    return out


def balance_indices(types: np.ndarray, how: str, rng: np.random.Generator) -> np.ndarray | None:
    """Indices of a resampled demonstration set of the same size whose action types are weighted ``how``:
    ``balanced`` (every type seen equally often, as scikit-learn's ``class_weight="balanced"``), ``sqrt`` (by the
    square root of its count) or ``none`` (None: the demonstrations as recorded)."""
    if how == "none" or len(types) == 0:
        return None
    kinds, inverse, counts = np.unique(types, return_inverse=True, return_counts=True)
    if len(kinds) < 2:
        return None
    power = 1.0 if how == "balanced" else 0.5
    w = (1.0 / counts.astype(np.float64) ** power)[inverse]
    return rng.choice(len(types), size=len(types), replace=True, p=w / w.sum())


# ---- demonstrations on FishingPixels-v0: the scripted controller's and the state teacher's ----------------
def _pixel_demo_header(env: Any, layout: HybridLayout, source: str, controller: str, **extra: Any) -> dict[str, Any]:
    """The demo header of a FishingPixels-v0 demonstrator: what recorded it, and the env, actions and frames."""
    from envs.games.fishing_pixels import DEFAULT_ACTIONS

    spec = env.action_spec
    return {"source": source, "controller": controller,
            "env": "FishingPixels-v0", "env_options": {"ticks_per_step": env.ticks_per_step},
            "action_spec": DEFAULT_ACTIONS, "type_names": list(spec.type_names), "keys": list(spec.keys),
            "layout": layout.to_json(), "preprocess": repr(env.pre), "frame_stack": env.stack.depth,
            "ticks_per_step": env.ticks_per_step, **extra}


def _record_pixel_demos(out: str, env: Any, header: dict[str, Any], seeds: list[int], act: Any) -> None:
    """Record the episodes of ``seeds`` not already in ``out``, ``act(new_episode)`` choosing each step's action."""
    try:  # the episodes already in --out: one this code cannot read is reported, not skipped or overwritten
        have = recorded_seeds(out, header)
    except DemoFormatError as e:
        raise InputError("--out", str(e)) from None
    todo = [s for s in seeds if s not in have]
    if len(todo) < len(seeds):
        print(f"{out}: {len(seeds) - len(todo)} of the {len(seeds)} episodes are already there; "
              f"recording the other {len(todo)}", file=sys.stderr)
    writer = DemoWriter(out, header)
    for seed in todo:
        obs, _ = env.reset(seed=seed)
        writer.start(obs)
        new = True
        while True:
            a = act(new)
            new = False
            obs, r, term, trunc, info = env.step(a)
            writer.add(a, r, obs)
            if term or trunc:
                break
        writer.end(terminal=term, outcome="caught" if info["caught"] else "escaped" if term else "truncated",
                   seed=seed)
    print(json.dumps(summarize(out)))


def _pixels_env() -> tuple[Any, HybridLayout]:
    from envs.games.fishing_pixels import FishingPixelsEnv

    env = FishingPixelsEnv()
    spec = env.action_spec
    return env, HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used)


def cmd_demos_scripted(args: argparse.Namespace) -> None:
    from envs.games.fishing_screen import scripted_action

    env, layout = _pixels_env()
    header = _pixel_demo_header(env, layout, "scripted", "envs.games.fishing_screen.scripted_action: hold C while "
                                "the fish is above the bar centre (read from pixels)")
    check_out_dir("--out", args.out)
    seeds = [DEMO_SEED + args.seed * TRAIN_SEED_STRIDE + ep for ep in range(args.episodes)]
    _record_pixel_demos(args.out, env, header, seeds, lambda new: scripted_action(env.action_spec, env.render()))


def _check_teacher(model: str) -> None:
    from agents.dqn.onnx_io import OnnxFileError, OnnxPolicy

    try:
        OnnxPolicy(model)
    except (OnnxFileError, ValueError) as e:
        raise InputError("--teacher", str(e)) from None


def cmd_demos_teacher(args: argparse.Namespace) -> None:
    from agents.hybrid.teacher import StateTeacher, teacher_action

    check_out_dir("--out", args.out)
    _check_teacher(args.teacher)
    env, layout = _pixels_env()
    header = _pixel_demo_header(env, layout, "teacher", f"agents.hybrid.teacher.StateTeacher: {args.teacher} (the "
                                "state DQN) on the game's true state", teacher=args.teacher)
    seeds = [TEACHER_DEMO_SEED + args.seed * TRAIN_SEED_STRIDE + ep for ep in range(args.episodes)]
    teacher = StateTeacher(args.teacher)
    _record_pixel_demos(args.out, env, header, seeds, lambda new: teacher_action(teacher, env, new_episode=new))


# ---- DAgger: the pixel policy labelled by the state teacher on the states it visits ------------------------
def cmd_dagger(args: argparse.Namespace) -> None:
    from imitation.algorithms import bc
    from imitation.algorithms.dagger import LinearBetaSchedule
    from imitation.data import rollout
    from imitation.util import logger as imitation_logger
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.dagger import FrameDAggerTrainer, episodes_of
    from agents.hybrid.teacher import TeacherPolicy

    out = Path(args.out)
    check_out_dir("--out", out)
    source = EnvSource("pixels")
    layout, obs_space = _probe(source)
    _check_teacher(args.teacher)
    init = load_policy_arg("--init", args.init, source, obs_space) if args.init else None
    rounds_dir = out / "rounds"
    if rounds_dir.exists() and any(rounds_dir.iterdir()):
        raise InputError("--out", f"{rounds_dir}: holds an earlier DAgger run's rounds; use another --out or move "
                                  "it away (nothing there is overwritten)")
    initial = []
    if args.demos:
        try:
            check_demo_dir(args.demos)
        except (FileNotFoundError, ValueError) as err:
            raise InputError("--demos", str(err)) from None
        initial = episodes_of(args.demos, layout)
    th.manual_seed(args.seed)
    seed0 = args.seed * TRAIN_SEED_STRIDE
    venv = DummyVecEnv([(lambda i=i: Monitor(source.make(seed0 + i))) for i in range(args.n_envs)])
    venv.seed(seed0)  # env i plays the fish stream of seed s*1000 + i, round after round
    teacher = TeacherPolicy(venv.observation_space, venv.action_space, [e for e in venv.envs], layout,
                            model=args.teacher)
    policy = HybridActorCriticPolicy(obs_space, layout.box_space(), lambda _: args.lr,
                                     **policy_kwargs_for(obs_space, layout, small=True,
                                                         share_frames=args.share_frames))
    policy.env_meta = source.to_json()
    if init is not None:
        load_weights_arg("--init", args.init, policy, init)
    out.mkdir(parents=True, exist_ok=True)
    logger = imitation_logger.configure(out / "log", ["log", "csv"])
    rng = np.random.default_rng(args.seed)
    trainer_bc = bc.BC(observation_space=obs_space, action_space=layout.box_space(), rng=rng, policy=policy,
                       batch_size=args.batch_size, optimizer_kwargs={"lr": args.lr}, ent_weight=1e-3,
                       l2_weight=0.0, device="cpu", custom_logger=logger)
    raw = source.make_raw()
    header = _pixel_demo_header(raw.unwrapped, layout, "teacher", f"DAgger: the learner or the teacher "
                                f"({args.teacher}) acting, every step labelled with the teacher's action",
                                teacher=args.teacher)
    raw.close()
    dagger = FrameDAggerTrainer(venv=venv, scratch_dir=rounds_dir, expert_policy=teacher, rng=rng,
                                beta_schedule=LinearBetaSchedule(args.beta_rounds), bc_trainer=trainer_bc,
                                custom_logger=logger, header=header, layout=layout,
                                depth=obs_space.shape[0], initial=initial, chunk=args.chunk)
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    env_steps = episodes = 0
    for r in range(args.rounds):
        beta = float(dagger.beta_schedule(dagger.round_num))
        collector = dagger.create_trajectory_collector()
        policy.set_training_mode(False)
        trajs = rollout.generate_trajectories(
            policy=teacher, venv=collector, deterministic_policy=True, rng=collector.rng,
            sample_until=rollout.make_sample_until(min_timesteps=max(args.round_steps, args.batch_size),
                                                   min_episodes=1))
        episodes += len(trajs)
        env_steps += collector.steps
        dagger.extend_and_update({"n_batches": args.batches_per_round, "log_rollouts_venv": None,
                                  "progress_bar": False, "log_interval": 10**9})
        policy.set_training_mode(False)
        ev = _eval(source, policy, args.eval_episodes)
        rows.append({"round": r + 1, "beta": round(beta, 4), "expert_labels": len(dagger.data),
                     "episodes": episodes, "env_steps": env_steps, **_curve_fields(ev),
                     "wall_s": round(time.time() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)
        _write_curve(out / "curve.csv", rows)
        save_policy(policy, out / "policy", env=source.to_json())  # every round: a cut-off run keeps the last
    (out / "run.json").write_text(json.dumps({
        "args": _args_json(args), "final": rows[-1], "initial_demo_steps": dagger.initial_steps,
        "train_seeds": [seed0, seed0 + args.n_envs - 1], "eval_first_seed": EVAL_SEED, "cpus": os.cpu_count(),
        "wall_s": round(time.time() - t0, 1)}, indent=1))


# ---- behavioural cloning -----------------------------------------------------------------------------------
def cmd_bc(args: argparse.Namespace) -> None:
    from imitation.algorithms import bc
    from imitation.data import rollout
    from imitation.util import logger as imitation_logger

    out = Path(args.out)
    check_out_dir("--out", out)
    source = _source(args)
    layout, obs_space = _probe(source)
    # every input is read and checked before the run's folder is touched: a bad one loses nothing recorded there
    init = load_policy_arg("--init", args.init, source, obs_space) if args.init else None
    prior = _read_bc_curve(Path(args.init).parent / "curve.csv") if args.init else []
    th.manual_seed(args.seed)
    trajs = load_trajectories(args.demos, layout, **_demo_shape(obs_space))
    if args.max_episodes:
        trajs = trajs[:args.max_episodes]
    transitions = rollout.flatten_trajectories(trajs)
    del trajs
    idx = balance_indices(np.rint(transitions.acts[:, 0]).astype(np.int64), args.balance,
                          np.random.default_rng(args.seed))
    if idx is not None:  # a rare action is seen as often as a common one: BC does not settle on the majority
        import dataclasses

        from imitation.data.types import dataclass_quick_asdict
        transitions = dataclasses.replace(transitions, **{k: v[idx] for k, v in
                                                          dataclass_quick_asdict(transitions).items()})
    policy = HybridActorCriticPolicy(obs_space, layout.box_space(), lambda _: args.lr,
                                     **policy_kwargs_for(obs_space, layout, small=True,
                                                         share_frames=args.share_frames))
    policy.env_meta = source.to_json()
    if init is not None:  # continue a BC run: its weights and its curve
        load_weights_arg("--init", args.init, policy, init)
    out.mkdir(parents=True, exist_ok=True)
    trainer = bc.BC(observation_space=obs_space, action_space=layout.box_space(), rng=np.random.default_rng(args.seed),
                    policy=policy, demonstrations=transitions, batch_size=args.batch_size,
                    optimizer_kwargs={"lr": args.lr}, ent_weight=1e-3, l2_weight=0.0,
                    device="cpu",  # as measured (one thread); imitation's "auto" takes a GPU where there is one
                    # BC's loss log in the run, not in a fresh directory under /tmp (imitation's default)
                    custom_logger=imitation_logger.configure(out / "log", ["stdout", "log", "csv"]))
    demo = summarize(args.demos)
    rows = list(prior)
    e0 = int(prior[-1]["epoch"]) if prior else 0
    t0 = time.time() - (float(prior[-1]["wall_s"]) if prior else 0.0)
    for epoch in range(e0 + (1 if prior else 0), e0 + args.epochs + 1):
        if epoch > 0:
            trainer.train(n_epochs=1, log_interval=10**9, progress_bar=False)
        if epoch % args.eval_every == 0 or epoch == e0 + args.epochs:
            policy.set_training_mode(False)
            ev = _eval(source, policy, args.eval_episodes)
            rows.append({"epoch": epoch, "demo_samples_seen": epoch * len(transitions), "env_steps": 0,
                         **_curve_fields(ev), "wall_s": round(time.time() - t0, 1)})
            print(json.dumps(rows[-1]), flush=True)
            _write_curve(out / "curve.csv", rows)
    save_policy(policy, out / "policy", env=source.to_json())
    (out / "run.json").write_text(json.dumps({"args": _args_json(args), "demos": demo, "transitions": len(transitions),
                                              "final": rows[-1], "cpus": os.cpu_count()}, indent=1))


# ---- PPO (from scratch or from BC's weights) -------------------------------------------------------------
def cmd_ppo(args: argparse.Namespace) -> None:
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.ppo import HybridPPO

    out = Path(args.out)
    check_out_dir("--out", out)
    source = _source(args)
    layout, obs_space = _probe(source)
    make = source.make
    # --init is read and checked before anything of the run is written: SB3's logger truncates log/progress.csv
    init = load_policy_arg("--init", args.init, source, obs_space) if args.init else None
    th.manual_seed(args.seed)
    from stable_baselines3.common.monitor import Monitor

    seed0 = args.seed * TRAIN_SEED_STRIDE
    venv = DummyVecEnv([(lambda i=i: Monitor(make(seed0 + i))) for i in range(args.n_envs)])
    venv.seed(seed0)
    if args.norm_reward:
        # the meter reward (100 x change, +-10 at the end) gives returns of tens: unscaled, the critic's loss
        # dominates the gradient of the CNN+LSTM it shares with the policy and erases what BC taught it
        from stable_baselines3.common.vec_env import VecNormalize
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=0.99)
    pixels = is_frame_stack(obs_space)
    demos = None
    if args.bc_coef > 0:
        trajs = load_trajectories(args.demos, layout, **_demo_shape(obs_space))
        demos = (np.concatenate([t.obs[:-1] for t in trajs]), np.concatenate([t.acts for t in trajs]))
        del trajs
    model = HybridPPO(
        HybridActorCriticPolicy, venv, seed=args.seed, q_coef=args.q_coef, critic_warmup=args.critic_warmup,
        demos=demos, bc_coef=args.bc_coef,
        chunk=(8 if pixels else 1) if args.chunk is None else args.chunk, uint8_rollouts=args.share_frames,
        policy_kwargs={**policy_kwargs_for(obs_space, layout, small=pixels, share_frames=args.share_frames),
                       **({} if args.log_std_init is None else {"log_std_init": args.log_std_init})},
        n_steps=args.n_steps, batch_size=args.batch_size, n_epochs=args.n_epochs,
        learning_rate=(lambda progress: args.lr * progress) if args.lr_anneal else args.lr,
        gamma=0.99, gae_lambda=0.95, clip_range=args.clip, ent_coef=args.ent_coef, vf_coef=args.vf_coef, verbose=0,
        target_kl=args.target_kl,
        device="cpu")  # as measured (one thread); SB3's "auto" takes a GPU where there is one
    # SB3 seeds the env with --seed itself (set_random_seed: env.seed(seed), i.e. env i on seed s + i, shared
    # between training seeds); the documented seeds s*1000 + i go in again for the first reset, in learn()
    model.env.seed(seed0)
    if init is not None:
        load_weights_arg("--init", args.init, model.policy, init)
        print(f"initialised from {args.init}")
    out.mkdir(parents=True, exist_ok=True)
    # PPO's per-update figures in the run; SB3's default makes an empty directory under /tmp on every learn()
    model.set_logger(configure(str(out / "log"), ["csv", "tensorboard"] if args.tensorboard else ["csv"]))
    rows: list[dict[str, Any]] = []
    t0 = time.time()

    def evaluate(steps: int) -> None:
        model.policy.set_training_mode(False)
        ev = _eval(source, model.policy, args.eval_episodes)
        eps = list(model.ep_info_buffer or [])
        rows.append({"env_steps": steps, **_curve_fields(ev), "wall_s": round(time.time() - t0, 1),
                     "train_ep_return": round(float(np.mean([e["r"] for e in eps])), 2) if eps else float("nan"),
                     "train_episodes": len(eps)})
        print(json.dumps(rows[-1]), flush=True)
        _write_curve(out / "curve.csv", rows)

    class Every(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next = args.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                evaluate(self.num_timesteps)
                self.next += args.eval_every
            return True

        def _on_rollout_end(self) -> None:
            # SB3 collects this rollout before it trains on it: the logger still holds the last update's figures,
            # made on the rollout that ended one rollout's steps ago
            record_q(self.num_timesteps - self.model.n_steps * self.model.n_envs)

    def record_q(env_steps: int) -> None:
        logs = model.logger.name_to_value
        if "train/q_explained_variance" in logs:
            rows_q.append({"env_steps": env_steps, "q_ev": logs["train/q_explained_variance"],
                           "v_ev": logs.get("train/explained_variance", float("nan"))})

    rows_q: list[dict[str, Any]] = []
    evaluate(0)
    model.learn(total_timesteps=args.steps, callback=Every(), progress_bar=False)
    record_q(model.num_timesteps)  # the last update's, which no later rollout reads
    if rows[-1]["env_steps"] < model.num_timesteps:
        evaluate(model.num_timesteps)
    save_policy(model.policy, out / "policy", env=source.to_json())
    model.save(out / "ppo.zip")
    if rows_q:
        _write_curve(out / "q_head.csv", rows_q)
    (out / "run.json").write_text(json.dumps({"args": _args_json(args), "final": rows[-1], "cpus": os.cpu_count(),
                                              "wall_s": round(time.time() - t0, 1)}, indent=1))


def _demo_shape(obs_space: Any) -> dict[str, Any]:
    """What load_trajectories checks the demonstrations against: one frame of a frame stack, or the whole
    observation of a vector env."""
    if is_frame_stack(obs_space):
        return {"frame_shape": obs_space.shape[1:]}
    return {"obs_shape": obs_space.shape}


def _args_json(args: argparse.Namespace) -> dict[str, Any]:
    """The run's arguments for run.json (an env made in Python is written as its JSON description)."""
    out = {k: v for k, v in vars(args).items() if k != "env_source"}
    if getattr(args, "env_source", None) is not None:
        out["env_source"] = args.env_source.to_json()
    return out


def evaluate_scripted(episodes: int, seed0: int = EVAL_SEED) -> dict[str, Any]:
    """The naive scripted controller on the evaluation seeds (it reads the raw frame, like the demos)."""
    from agents.evaluation.protocol import wilson
    from envs.games.fishing_pixels import FishingPixelsEnv
    from envs.games.fishing_screen import scripted_action

    env = FishingPixelsEnv()
    per_seed = []
    for s in range(seed0, seed0 + episodes):
        env.reset(seed=s)
        while True:
            _, _, term, trunc, info = env.step(scripted_action(env.action_spec, env.render()))
            if term or trunc:
                break
        per_seed.append(int(info["caught"]))
    caught = sum(per_seed)
    return {"episodes": episodes, "caught": caught, "catch_rate": caught / episodes, "ci95": wilson(caught, episodes),
            "caught_per_seed": per_seed, "first_seed": seed0}


def cmd_eval(args: argparse.Namespace) -> None:
    if args.record:  # before the evaluation: a record it could not be added to would cost the whole run
        try:
            read_record(Path(args.record))
        except ValueError as e:
            raise InputError("--record", str(e)) from None
    if args.advisor != "none":  # the policy behind the advisor, one fish at a time (agents.advisor.evaluate)
        from agents.advisor.evaluate import evaluate_from_args

        policy = "scripted" if args.policy == "scripted" else load_policy_arg("--policy", args.policy, "pixels")
        try:
            res = evaluate_from_args(policy, args, args.episodes, EVAL_SEED)
        except ValueError as err:
            raise InputError("--advisor", str(err)) from None
    elif args.policy == "scripted":
        res = evaluate_scripted(args.episodes)
    elif args.policy == "teacher":
        from agents.hybrid.teacher import evaluate_teacher

        _check_teacher(args.teacher)
        res = dict(evaluate_teacher(range(EVAL_SEED, EVAL_SEED + args.episodes), args.teacher),
                   first_seed=EVAL_SEED)
    else:
        policy = load_policy_arg("--policy", args.policy)
        if args.env is None and getattr(args, "env_source", None) is None:
            try:
                source = policy_source(policy)
            except EnvArgError as e:
                raise InputError(e.option, f"{args.policy}: {e}") from None
        else:
            source = _source(args)
            _, obs_space = _probe(source)
            if policy.observation_space.shape != obs_space.shape or policy.layout != source.probe()[0]:
                raise InputError("--policy", f"{args.policy}: a policy for observations "
                                             f"{policy.observation_space.shape} and actions "
                                             f"{list(policy.layout.type_names)}; env {source.name!r} has "
                                             f"{obs_space.shape} and {list(source.probe()[0].type_names)}")
        th.manual_seed(0)
        res = _eval(source, policy, args.episodes, deterministic=not args.stochastic)
    print(json.dumps({k: v for k, v in res.items() if k not in ("caught_per_seed", "first_seed", "returns",
                                                                "lengths")}), flush=True)
    if args.record:  # with the outcome of every seed, for paired comparisons between policies
        key = args.policy + (" (stochastic)" if args.stochastic else "") + (
            f" + {args.advisor} advisor" if args.advisor != "none" else "")
        try:
            record_result(Path(args.record), key, res)
        except (OSError, ValueError) as e:  # the file changed (or the disk failed) during the evaluation
            # the result is not lost: it goes to stderr whole, under its key, ready to be added by hand
            print(json.dumps({key: res}), file=sys.stderr, flush=True)
            raise InputError("--record", f"{e}; not recorded there: the result is printed above") from None


def read_record(path: Path) -> dict[str, Any]:
    """The JSON object of results at ``path`` ({} if there is none yet); ValueError naming the file if it is not
    one (not JSON, not an object, a directory, a parent that is a file)."""
    if path.is_dir():
        raise ValueError(f"{path}: a directory, not a JSON file of results")
    blocker = file_in_the_way(path)
    if blocker is not None:
        raise ValueError(f"{path}: {blocker} is not a directory")
    if not path.exists():
        return {}
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}: not JSON ({e.msg}); move it away to start a new record") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot be read: {type(e).__name__}: {e}") from None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: not a JSON object of results (a {type(table).__name__})")
    return table


def record_result(path: Path, key: str, result: dict[str, Any]) -> None:
    """Sets ``key`` in the JSON object at ``path`` (created if missing), keeping every other entry; the file is
    replaced whole, so an interrupted write leaves the old one."""
    table = read_record(path)
    table[key] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    os.replace(tmp, path)


def add_share_frames_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--share-frames", action=argparse.BooleanOptionalAction, default=True,
                   help="compute the CNN once per distinct frame of a batch (not once per frame of every stack), "
                        "reuse the last step's CNN codes when acting, keep PPO's rollouts as uint8 (the same "
                        "function; --no-share-frames is the slower way, for comparison)")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The command line: the parser and its subcommands' parsers (each subcommand takes the env options of
    :func:`~agents.hybrid.env_source.add_env_args`; another command adds its own options to these parsers)."""
    p = argparse.ArgumentParser(prog="python -m agents.hybrid.train")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demos-scripted")
    d.add_argument("--out", default="demos/scripted")
    d.add_argument("--episodes", type=int_at_least(1), default=40)
    d.add_argument("--seed", type=int_at_least(0), default=0)
    t = sub.add_parser("demos-teacher")
    t.add_argument("--out", default="demos/teacher")
    t.add_argument("--episodes", type=int_at_least(1), default=40)
    t.add_argument("--seed", type=int_at_least(0), default=0)
    t.add_argument("--teacher", default=DEFAULT_TEACHER, help="the teacher's ONNX Q-network")
    g = sub.add_parser("dagger")
    g.add_argument("--out", default="runs/hybrid/dagger")
    g.add_argument("--teacher", default=DEFAULT_TEACHER, help="the teacher's ONNX Q-network")
    g.add_argument("--demos", default=None, help="teacher demonstrations to train on from the first round")
    g.add_argument("--init", default=None, help="a saved pixel policy to start from")
    g.add_argument("--rounds", type=int_at_least(1), default=8)
    g.add_argument("--round-steps", type=int_at_least(1), default=4000,
                   help="env steps collected a round (at least; finished episodes only are kept)")
    g.add_argument("--beta-rounds", type=int_at_least(1), default=3,
                   help="rounds over which the teacher's share of the actions falls from 1 to 0 (imitation's "
                        "LinearBetaSchedule)")
    g.add_argument("--batches-per-round", type=int_at_least(1), default=600)
    g.add_argument("--batch-size", type=int_at_least(1), default=64)
    g.add_argument("--lr", type=float_above(0.0), default=1e-3)
    g.add_argument("--chunk", type=int_at_least(1), default=1,
                   help="BC's batches as runs of this many consecutive labelled steps: each frame is computed once "
                        "a batch (16: 3.4x less CNN work), but the batches are less varied (default 1: single steps "
                        "in random order; see the docs for what 16 cost the catch rate)")
    add_share_frames_arg(g)
    g.add_argument("--n-envs", type=int_at_least(1), default=8)
    g.add_argument("--eval-episodes", type=int_at_least(1), default=48)
    g.add_argument("--seed", type=int_at_least(0), default=0)
    b = sub.add_parser("bc")
    add_env_args(b)
    b.add_argument("--balance", choices=["balanced", "sqrt", "none"], default="balanced",
                   help="resample the demonstrations so each action type counts equally (balanced, the default), "
                        "by the square root of its count (sqrt), or as recorded (none)")
    b.add_argument("--demos", default="demos/scripted")
    b.add_argument("--out", default="runs/hybrid/bc")
    add_share_frames_arg(b)
    b.add_argument("--epochs", type=int_at_least(0), default=12)
    b.add_argument("--eval-every", type=int_at_least(1), default=2)
    b.add_argument("--eval-episodes", type=int_at_least(1), default=48)
    b.add_argument("--max-episodes", type=int_at_least(0), default=0)
    b.add_argument("--batch-size", type=int_at_least(1), default=64)
    b.add_argument("--lr", type=float_above(0.0), default=1e-3)
    b.add_argument("--init", default=None, help="continue from a saved BC policy (and its curve.csv)")
    b.add_argument("--seed", type=int_at_least(0), default=0)
    q = sub.add_parser("ppo")
    add_env_args(q)
    q.add_argument("--out", default="runs/hybrid/ppo")
    q.add_argument("--init", default=None, help="a saved policy (BC's) to start from")
    q.add_argument("--steps", type=int_at_least(1), default=30_000)
    q.add_argument("--n-envs", type=int_at_least(1), default=8)
    q.add_argument("--n-steps", type=int_at_least(1), default=128)
    q.add_argument("--batch-size", type=int_at_least(1), default=256)
    q.add_argument("--n-epochs", type=int_at_least(1), default=4)
    q.add_argument("--chunk", type=int_at_least(1), default=None,
                   help="minibatches as runs of this many consecutive steps of one env, so each frame is computed "
                        "once a minibatch: fewer, less varied runs are faster (default 8 for frame stacks: 2.9x less "
                        "CNN work; 1 for vectors, SB3's single steps in random order)")
    add_share_frames_arg(q)
    q.add_argument("--lr", type=float_above(0.0), default=2.5e-4)
    q.add_argument("--lr-anneal", action=argparse.BooleanOptionalAction, default=False,
                   help="decay the learning rate linearly from --lr to 0 over --steps (the last policy, not one "
                        "caught in an oscillation)")
    q.add_argument("--log-std-init", type=float, default=None,
                   help="the continuous parameters' initial log standard deviation (default SB3's 0: std 1)")
    q.add_argument("--clip", type=float_above(0.0), default=0.2)
    q.add_argument("--target-kl", type=float_above(0.0), default=None,
                   help="end an update's epochs early once the approximate KL passes 1.5 x this (SB3's target_kl)")
    q.add_argument("--ent-coef", type=float_above(0.0, inclusive=True), default=0.01)
    q.add_argument("--q-coef", type=float_above(0.0, inclusive=True), default=0.5)
    q.add_argument("--critic-warmup", type=int_at_least(0), default=0)
    q.add_argument("--vf-coef", type=float_above(0.0, inclusive=True), default=0.5)
    q.add_argument("--bc-coef", type=float_above(0.0, inclusive=True), default=0.0, help="BC loss on --demos after each PPO update")
    q.add_argument("--demos", default="demos/scripted")
    q.add_argument("--norm-reward", action=argparse.BooleanOptionalAction, default=False,
                   help="scale rewards by the running std of the return (SB3's VecNormalize)")
    q.add_argument("--eval-every", type=int_at_least(1), default=10_000)
    q.add_argument("--eval-episodes", type=int_at_least(1), default=48)
    q.add_argument("--tensorboard", action="store_true")
    q.add_argument("--seed", type=int_at_least(0), default=0)
    e = sub.add_parser("eval")
    e.add_argument("--policy", required=True, help="a saved policy, 'scripted' for the scripted demonstrator or "
                                                   "'teacher' for the state teacher")
    e.add_argument("--teacher", default=DEFAULT_TEACHER, help="the teacher's ONNX Q-network (--policy teacher)")
    add_env_args(e, default=None, help_extra="; default: the env the policy was trained on")
    e.add_argument("--episodes", type=int_at_least(1), default=100)
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of the mode")
    e.add_argument("--record", default=None, help="also keep the result in this JSON file, under the policy's name")
    from agents.advisor.evaluate import add_advisor_args

    add_advisor_args(e)
    return p, {"demos-scripted": d, "demos-teacher": t, "dagger": g, "bc": b, "ppo": q, "eval": e}


def main(argv: list[str] | None = None) -> None:
    # one thread: on 2 shared cores torch's default (2 threads) spins against the other processes and runs ~30x slower
    th.set_num_threads(int(os.environ.get("HYBRID_THREADS", "1")))
    p, parsers = build_parser()
    args = p.parse_args(argv)
    try:
        run(args)
    except InputError as err:
        parsers[args.cmd].error(str(err))


def run(args: argparse.Namespace) -> None:
    """Run a parsed command; bad input is an :class:`InputError` naming the option (``main`` prints it as a
    usage error; the Python API of :mod:`agents.hybrid.api` raises it)."""
    if args.cmd == "demos-scripted":  # before anything is recorded on a held-out seed
        check_seed_range(args.seed, DEMO_SEED, args.episodes, f"with --episodes {args.episodes}")
    if args.cmd == "demos-teacher":
        check_seed_range(args.seed, TEACHER_DEMO_SEED, args.episodes, f"with --episodes {args.episodes}")
    if args.cmd in ("ppo", "dagger"):
        check_seed_range(args.seed, 0, args.n_envs, f"with --n-envs {args.n_envs}")
    if args.cmd == "bc" or (args.cmd == "ppo" and args.bc_coef > 0):
        try:  # before any env or model is built: a mistyped path fails here, not inside imitation
            check_demo_dir(args.demos)
        except (FileNotFoundError, ValueError) as err:
            raise InputError("--demos", str(err)) from None
    try:
        {"demos-scripted": cmd_demos_scripted, "demos-teacher": cmd_demos_teacher, "dagger": cmd_dagger,
         "bc": cmd_bc, "ppo": cmd_ppo, "eval": cmd_eval}[args.cmd](args)
    except DemoFormatError as err:  # a demo file found bad while loading: bc's and ppo's come from --demos
        raise InputError("--out" if args.cmd.startswith("demos-") else "--demos", str(err)) from None
    except EnvArgError as err:
        raise InputError(err.option, str(err)) from None


if __name__ == "__main__":
    main()
