"""DQN on StardewFishing-v0's batched simulator, CleanRL style: one file, top to bottom.

    python -m agents.dqn.train --preset best          # the richer visible observation
    python -m agents.dqn.train --preset seed          # the seed mod's three raw inputs
    python -m agents.dqn.train --preset smoke         # a minute, for tests
    python -m agents.dqn.train --preset smoke --total-steps 300000 --level 5 10 --hidden 128 128

Each vector step acts in all ``num_games`` games at once (epsilon-greedy on the online network),
turns the rewards into n-step transitions, and does ``gradient_steps`` double-DQN updates (Huber
loss, Polyak-averaged target network, dueling head). Every ``eval_every`` transitions the greedy
policy plays the dev seeds; the best one is kept as ``best.pt``. ``checkpoint.pt`` (network,
optimiser, replay memory, counters) is written every ``checkpoint_every`` transitions and at the
end, and a run started again with the same name resumes from it, under the settings it was trained
with (only the run length, time limit, evaluation/checkpoint/log cadence, threads may change; else
``--fresh``). ``max_minutes`` bounds each invocation; Ctrl-C stops after the current step with a
checkpoint. ``--check`` checks the settings and the resume, and exits. Logs go to TensorBoard
(``runs/dqn/<name>/tb``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import numpy as np
import torch
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agents.dqn.config import (
    PRESETS,
    RESUMABLE_FIELDS,
    RESUME_SEED_OFFSET,
    TRAIN_SEED_BLOCK,
    ConfigError,
    DQNConfig,
    check_game_split,
    game_split,
    load_config_file,
    parse_cli,
    resume_conflicts,
    validate,
)
from agents.dqn.model import FrameStack, QNetwork
from agents.dqn.replay import CSVFormatError, NStepCollector, ReplayBuffer, csv_transitions, load_seed_csv
from agents.evaluation.protocol import DEV_SEED0, act_on_active, protocol_config, run_episodes, summarize
from envs.stardew import features as feats
from envs.stardew import rules as R
from envs.stardew.controllers import Visible, make_controller
from envs.stardew.fish import fish_table
from envs.stardew.sim import FishingSim

RUNS = Path("runs/dqn")


class GreedyPolicy:
    """act(sim): argmax of a Q-network on the simulator's observations (stacked as it was trained).

    Holds the frame history; call ``reset()`` before a new set of episodes (run_episodes does).
    """

    def __init__(self, q: QNetwork):
        self.q = q
        self.features = q.feature_names
        self.frames = FrameStack(q.stack)

    def reset(self) -> None:
        self.frames.reset()

    supports_active = True  # run_episodes passes the games still playing; the network skips the ended ones

    @torch.no_grad()
    def act(self, sim: FishingSim, active: np.ndarray | None = None) -> np.ndarray:
        """Greedy actions (0 for the games not ``active``); the history of every game advances."""
        return act_on_active(lambda x: self.q(torch.from_numpy(x)).argmax(dim=1).numpy(),
                             self.frames.push(sim.obs), active)


class Games:
    """The training games: ``num_games`` FishingSims' games side by side, a ``hard_fraction`` of them
    playing only fish of difficulty >= ``hard_min_difficulty`` (a curriculum weight on hard fish).

    After ``step`` the arrays ``obs, reward, terminated, truncated, final_obs, outcome`` cover all
    games; ``reward`` includes ``perfect_loss_penalty`` on the tick a game loses its perfect catch.
    """

    def __init__(self, cfg: DQNConfig, names: tuple[str, ...]):
        game = protocol_config(fish=cfg.fish, level=tuple(cfg.level), frame_skip=cfg.frame_skip,
                               reward="shaped", reward_weights=dict(cfg.reward_weights))
        check_game_split(cfg)
        n_main, n_hard, n_low, self.n_demo = game_split(cfg)
        self.sims = [FishingSim(n_main, game, names)]
        if n_hard:
            hard = [f.id for f in fish_table() if f.difficulty >= cfg.hard_min_difficulty]
            self.sims.append(FishingSim(n_hard, dataclasses.replace(game, fish=hard), names))
        if n_low:
            self.sims.append(FishingSim(n_low, dataclasses.replace(game, level=tuple(cfg.low_levels)), names))
        self.penalty = cfg.perfect_loss_penalty
        self.n = cfg.num_games
        self.frames = FrameStack(cfg.stack)
        self.demonstrator = make_controller(cfg.demo_controller) if self.n_demo else None
        self.is_demo = np.zeros(cfg.num_games, dtype=bool)
        self.is_demo[:self.n_demo] = True

    def demo_actions(self) -> np.ndarray:
        """The demonstrator's actions for the first ``n_demo`` games (main simulator)."""
        v = Visible.from_sim(self.sims[0])
        return self.demonstrator(v)[: self.n_demo]

    def reset(self, seed0: int) -> None:
        k = 0
        for s in self.sims:
            s.reset(seeds=seed0 + k + np.arange(s.num_games))
            k += s.num_games
        self.frames.reset()
        self._gather()
        self.obs = self.frames.push(self.obs)
        self.perfect = self._perfect()

    def _perfect(self) -> np.ndarray:
        return np.concatenate([s.I[:, R.I_PERFECT] != 0 for s in self.sims])

    def _gather(self) -> None:
        cat = np.concatenate if len(self.sims) > 1 else (lambda xs: xs[0].copy())
        self.obs = cat([s.obs for s in self.sims])
        self.reward = cat([s.reward for s in self.sims])
        self.terminated = cat([s.terminated for s in self.sims])
        self.truncated = cat([s.truncated for s in self.sims])
        self.final_obs = cat([s.final_obs for s in self.sims])
        self.outcome = cat([s.outcome for s in self.sims])

    def step(self, action: np.ndarray) -> None:
        k = 0
        for s in self.sims:
            s.step(action[k:k + s.num_games])
            k += s.num_games
        self._gather()
        ended = self.terminated | self.truncated
        self.final_obs = self.frames.peek(self.final_obs)
        self.obs = self.frames.push(self.obs, ended)
        perfect = self._perfect()
        if self.penalty:
            lost = self.perfect & ~perfect & ~ended
            self.reward = self.reward - self.penalty * lost
        self.perfect = perfect


def evaluate_dev(q: QNetwork, cfg: DQNConfig) -> dict:
    """Greedy play on the dev seeds (never the held-out test seeds), on the trained level range."""
    # the fish it trains on too: a run trained on one fish was judged (and its checkpoints chosen) on all 60
    ep = run_episodes(GreedyPolicy(q), n=cfg.eval_episodes, seed0=DEV_SEED0,
                      config=protocol_config(fish=cfg.fish, level=tuple(cfg.level), frame_skip=cfg.frame_skip))
    return summarize(ep)


def dev_score(s: dict) -> float:
    return s["catch"] + 0.25 * s["perfect"]


class _StopSignals:
    """SIGINT or SIGTERM during training. In the training loop the first one stops the run after the current
    vector step, with a checkpoint to resume from; elsewhere, or a second time, it interrupts at once as it
    always does. SIGTERM is how ``make train-dqn`` stops its background runs on Ctrl-C: a background job
    (``cmd &``) starts with SIGINT ignored, and an ignored SIGINT stays ignored."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.in_loop = False
        self.requested = False
        self.old: dict[int, object] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                old = signal.getsignal(sig)
                if old is not signal.SIG_IGN:
                    self.old[sig] = old
                    signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.in_loop and not self.requested:
            self.requested = True
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            tqdm.write(f"{name}: stopping after this step with a checkpoint to resume from (Ctrl-C again: quit "
                       "at once, without it)")
            return
        old = self.old.get(signum)
        if callable(old):
            old(signum, frame)
        else:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for sig, old in self.old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def train(cfg: DQNConfig, out_dir: Path | None = None, progress: bool = True, stop_at: int | None = None) -> dict:
    """Train (or resume) the run ``cfg`` in ``out_dir`` (default runs/dqn/<name>) and return its summary.

    Stops at ``total_steps``, or after ``max_minutes`` of this call, or once ``stop_at`` transitions are done (a
    chunk of the run: its schedules still span ``total_steps``), with ``best.pt`` and ``checkpoint.pt``;
    Ctrl-C (or SIGTERM) stops it with ``checkpoint.pt`` saved and raises KeyboardInterrupt (call again to resume)."""
    with _StopSignals() as stop:
        return _train(cfg, out_dir, progress, stop, stop_at)


def _train(cfg: DQNConfig, out_dir: Path | None, progress: bool, stop: _StopSignals,
           stop_at: int | None = None) -> dict:
    validate(cfg)
    out = out_dir or RUNS / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    names = feats.resolve(cfg.features)

    # -- the games: training seeds lie below the dev and test ranges --------------------------------
    sim = Games(cfg, names)
    sim.reset(cfg.seed * TRAIN_SEED_BLOCK)
    n = cfg.num_games

    # -- networks, optimiser, memory --------------------------------------------------------------
    q = QNetwork(names, cfg.hidden, cfg.dueling, cfg.stack)
    q_target = QNetwork(names, cfg.hidden, cfg.dueling, cfg.stack)
    q_target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=cfg.lr, eps=1e-5)
    rb = ReplayBuffer(cfg.buffer_size, len(names) * cfg.stack, seed=cfg.seed)
    nstep = NStepCollector(cfg.n_step, cfg.gamma)
    step, updates, best_score, best_eval = 0, 0, -1.0, None
    elapsed_before = 0.0

    obs = sim.obs.copy()
    ep_ret_acc = np.zeros(n)
    next_log, next_eval, next_ckpt = cfg.log_every, cfg.eval_every, cfg.checkpoint_every
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():  # resume
        st = load_run_file(ckpt, RESUME_KEYS)
        check_resume(cfg, st["config"], ckpt)
        q.load_state_dict(st["q"])
        q_target.load_state_dict(st["q_target"])
        opt.load_state_dict(st["opt"])
        rb.load_state(st["replay"])
        step, updates, best_score, best_eval = st["step"], st["updates"], st["best_score"], st["best_eval"]
        elapsed_before = st["elapsed"]
        if "loop" in st:
            # everything the loop carries from one vector step to the next: the run goes on exactly as if it
            # had not stopped (the games in flight, their frame histories, the n-step transitions pending, the
            # random draws, the log / evaluation / checkpoint grid)
            loop = st["loop"]
            rng.bit_generator.state = loop["rng"]
            rb.rng.bit_generator.state = loop["replay_rng"]
            for s, state in zip(sim.sims, loop["sims"], strict=True):
                s._S[:] = state
            sim.frames.hist, sim.perfect, obs = loop["frames"], loop["perfect"], loop["obs"]
            nstep.steps, ep_ret_acc = loop["nstep"], loop["ep_ret_acc"]
            next_log, next_eval, next_ckpt = loop["next"]
        else:  # a checkpoint written before the loop's state was kept: the games start again on fresh seeds
            sim.reset(cfg.seed * TRAIN_SEED_BLOCK + RESUME_SEED_OFFSET + step // n)
            obs = sim.obs.copy()
            next_log, next_eval, next_ckpt = step + cfg.log_every, step + cfg.eval_every, step + cfg.checkpoint_every
        if st["config"].get("total_steps") != cfg.total_steps:
            print(f"note: total_steps {st['config'].get('total_steps'):,} -> {cfg.total_steps:,}: epsilon and the "
                  "learning rate decay over total_steps, so from here they follow the new length")
        print(f"resumed {ckpt} at step {step:,}")
    elif cfg.csv_replay:  # validate() checked: seed features, one frame
        for path in cfg.csv_replay:
            transitions, c = csv_transitions(load_seed_csv(path), cfg.gamma, cfg.reward_weights)
            rb.add(*transitions)
            print(f"{path}: {c['used']:,} of {c['rows']:,} rows used ({c['episode_ends']:,} of them end a minigame); "
                  f"{c['dropped']:,} dropped: each starts a chain, with no earlier row to take its progress change from")
        print(f"replay memory seeded with {rb.size:,} transitions from {len(cfg.csv_replay)} CSV file(s)")

    writer = SummaryWriter(str(out / "tb"))
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))

    def save(path: Path, with_replay: bool) -> None:
        st = {"config": dataclasses.asdict(cfg), "feature_names": list(names), "hidden": list(cfg.hidden),
              "stack": cfg.stack,
              "dueling": cfg.dueling, "q": q.state_dict(), "step": step, "updates": updates,
              "best_score": best_score, "best_eval": best_eval, "elapsed": elapsed_before + time.time() - t0}
        if with_replay:
            st.update(q_target=q_target.state_dict(), opt=opt.state_dict(), replay=rb.state(),
                      loop={"rng": rng.bit_generator.state, "replay_rng": rb.rng.bit_generator.state,
                            "sims": [s._S.copy() for s in sim.sims], "frames": sim.frames.hist,
                            "perfect": sim.perfect, "obs": obs, "nstep": nstep.steps, "ep_ret_acc": ep_ret_acc,
                            "next": (next_log, next_eval, next_ckpt)})
        tmp = path.with_suffix(".tmp")
        torch.save(st, tmp)
        tmp.replace(path)

    t0 = time.time()
    ep_returns, ep_catch, ep_perfect = [], [], []
    bar = tqdm(total=cfg.total_steps, initial=step, unit="step", unit_scale=True, disable=not progress,
               desc=cfg.name, mininterval=5.0)
    loss_v = torch.zeros(())
    stop.in_loop = True
    while step < cfg.total_steps:
        # -- act: epsilon-greedy over all games ---------------------------------------------------
        frac = min(1.0, step / max(1.0, cfg.eps_fraction * cfg.total_steps))
        eps = cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)
        with torch.no_grad():
            greedy = q(torch.from_numpy(obs)).argmax(dim=1).numpy()
        explore = rng.random(n) < eps
        action = np.where(explore, rng.integers(0, 2, n), greedy)
        if sim.n_demo:
            action[: sim.n_demo] = sim.demo_actions()
        sim.step(action)
        ended = sim.terminated | sim.truncated
        next_obs = np.where(ended[:, None], sim.final_obs, sim.obs)
        tr = nstep.push(obs, action, sim.reward, next_obs, sim.terminated, ended)
        if tr is not None:
            rb.add(*tr, demo=sim.is_demo)
        ep_ret_acc += sim.reward
        if ended.any():
            ep_returns.extend(ep_ret_acc[ended].tolist())
            ep_ret_acc[ended] = 0.0
            ep_catch.extend((sim.outcome[ended, 0] == 1).tolist())
            ep_perfect.extend(((sim.outcome[ended, 0] == 1) & (sim.outcome[ended, 1] == 1)).tolist())
        obs = sim.obs.copy()
        step += n
        bar.update(n)

        # -- learn --------------------------------------------------------------------------------
        if rb.size >= max(1, cfg.learning_starts) and (step // n) % cfg.train_every == 0:  # never sample an empty memory
            lr = cfg.lr + min(1.0, step / cfg.total_steps) * (cfg.lr_end - cfg.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            for _ in range(cfg.gradient_steps):
                o, a, r, no, d, demo = (torch.from_numpy(x) for x in rb.sample(cfg.batch_size))
                with torch.no_grad():
                    if cfg.double:
                        na = q(no).argmax(dim=1, keepdim=True)
                        nq = q_target(no).gather(1, na).squeeze(1)
                    else:
                        nq = q_target(no).max(dim=1).values
                    target = r + d * nq
                q_all = q(o)
                pred = q_all.gather(1, a.unsqueeze(1)).squeeze(1)
                loss_v = F.smooth_l1_loss(pred, target)
                if demo.any():  # DQfD large-margin loss: the demonstrated action must lead by `margin`
                    qd, ad = q_all[demo], a[demo]
                    margins = torch.full_like(qd, cfg.margin).scatter(1, ad.unsqueeze(1), 0.0)
                    lm = (qd + margins).max(dim=1).values - qd.gather(1, ad.unsqueeze(1)).squeeze(1)
                    loss_v = loss_v + cfg.margin_weight * lm.mean() * demo.float().mean()
                opt.zero_grad()
                loss_v.backward()
                torch.nn.utils.clip_grad_norm_(q.parameters(), cfg.max_grad_norm)
                opt.step()
                with torch.no_grad():
                    for p, tp in zip(q.parameters(), q_target.parameters(), strict=True):
                        tp.mul_(1.0 - cfg.tau).add_(p, alpha=cfg.tau)
                updates += 1

        # -- log, evaluate, checkpoint ------------------------------------------------------------
        if step >= next_log:
            next_log += cfg.log_every
            wall = elapsed_before + time.time() - t0
            writer.add_scalar("charts/epsilon", eps, step)
            writer.add_scalar("charts/steps_per_second", step / max(wall, 1e-9), step)
            writer.add_scalar("losses/td_loss", loss_v.item(), step)
            writer.add_scalar("charts/updates", updates, step)
            if ep_returns:
                writer.add_scalar("charts/episodic_return", float(np.mean(ep_returns)), step)
                writer.add_scalar("charts/catch_rate", float(np.mean(ep_catch)), step)
                writer.add_scalar("charts/perfect_rate", float(np.mean(ep_perfect)), step)
                bar.set_postfix(eps=f"{eps:.2f}", catch=f"{np.mean(ep_catch):.3f}", loss=f"{loss_v.item():.3f}")
                ep_returns, ep_catch, ep_perfect = [], [], []
        if step >= next_eval or step >= cfg.total_steps:
            next_eval += cfg.eval_every
            s = evaluate_dev(q, cfg)
            for k in ("catch", "hard_catch", "perfect", "mean_ticks_to_catch"):
                writer.add_scalar(f"dev/{k}", s[k], step)
            tqdm.write(f"[{cfg.name}] step {step:,}: dev catch {s['catch']:.3f} hard {s['hard_catch']:.3f} "
                       f"perfect {s['perfect']:.3f} ({time.time() - t0:.0f}s)")
            if dev_score(s) > best_score:
                best_score, best_eval = dev_score(s), dict(s, step=step)
                save(out / "best.pt", with_replay=False)
        if step >= next_ckpt:
            next_ckpt += cfg.checkpoint_every
            save(ckpt, with_replay=True)
        if cfg.max_minutes and time.time() - t0 > 60 * cfg.max_minutes:  # each call has its own budget
            tqdm.write(f"[{cfg.name}] wall-time limit of {cfg.max_minutes} min reached at step {step:,} "
                       "(run it again to go on)")
            break
        if stop.requested or (stop_at is not None and step >= stop_at):
            break
    stop.in_loop = False
    bar.close()
    if not stop.requested and not (out / "best.pt").exists():
        # stopped by the time limit before the first evaluation: the last weights are the best known
        s = evaluate_dev(q, cfg)
        best_score, best_eval = dev_score(s), dict(s, step=step)
        save(out / "best.pt", with_replay=False)
    save(ckpt, with_replay=True)
    if stop.requested:
        writer.close()
        tqdm.write(f"[{cfg.name}] interrupted at step {step:,}; {ckpt} saved: run the same command to resume")
        raise KeyboardInterrupt
    wall = elapsed_before + time.time() - t0
    summary = {"name": cfg.name, "env_steps": step, "game_ticks": step * cfg.frame_skip, "updates": updates,
               "wall_seconds": wall, "cpu_cores": _cores(), "best_dev": best_eval}
    if cfg.final_dev_episodes and (out / "best.pt").exists():
        summary["final_choice"] = final_choice(out, cfg)
        summary["best_dev"] = summary["final_choice"]["chosen_eval"]
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    writer.close()
    return summary


def check_resume(cfg: DQNConfig, saved: dict, ckpt: Path) -> None:
    """Raise ConfigError when the checkpoint ``ckpt`` (its config ``saved``) was trained with settings that change
    what is learned; only RESUMABLE_FIELDS (run length, evaluation and checkpoint cadence, ...) may change."""
    diff = resume_conflicts(saved, cfg)
    if diff:
        raise ConfigError(
            f"{ckpt} was trained with other settings ({'; '.join(diff)}); resuming would continue it under the new "
            f"ones and label it with them. Pass --fresh to discard it and start over (make train-dqn: remove "
            f"{ckpt.parent} first), or resume with its settings: only {', '.join(sorted(RESUMABLE_FIELDS))} may "
            "change on resume.")


def saved_config(out: Path) -> dict:
    """The settings a run was trained with, from its ``config.json``; RunFileError naming the file if unreadable."""
    path = out / "config.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunFileError(f"{path}: not readable as JSON ({e})") from None
    if not isinstance(saved, dict):
        raise RunFileError(f"{path}: holds a JSON {type(saved).__name__}, not the object of settings train() writes")
    return saved


def check_run(cfg: DQNConfig, out: Path) -> str:
    """What ``train(cfg, out)`` would do, after checking that an existing checkpoint in ``out`` resumes under
    ``cfg`` (its ``config.json``, which train() writes beside it, or else the checkpoint); raises ConfigError.
    ``cfg`` has passed :func:`validate` (``main`` checks it before anything else)."""
    ckpt = out / "checkpoint.pt"
    if not ckpt.exists():
        return f"{cfg.name}: settings ok, a new run in {out}"
    saved = saved_config(out) if (out / "config.json").exists() else load_run_file(ckpt, RESUME_KEYS)["config"]
    check_resume(cfg, saved, ckpt)
    return f"{cfg.name}: settings ok, resumes {ckpt}"


def final_choice(out: Path, cfg: DQNConfig) -> dict:
    """Keep as ``best.pt`` whichever of best.pt and the last weights scores higher on ``final_dev_episodes``
    dev seeds. The periodic evaluations use 1,000 episodes, whose noise (about +-1 point of catch, more on
    hard fish) can crown an early checkpoint; a larger dev set settles it (still never the test seeds)."""
    states = {"best": load_run_file(out / "best.pt"),
              "last": load_run_file(out / "checkpoint.pt")}  # each file read once (replay inside)
    game = protocol_config(fish=cfg.fish, level=tuple(cfg.level), frame_skip=cfg.frame_skip)
    runs = {name: summarize(run_episodes(GreedyPolicy(q_from_state(st)), n=cfg.final_dev_episodes,
                                         seed0=DEV_SEED0, config=game))
            for name, st in states.items()}
    chosen = "last" if dev_score(runs["last"]) > dev_score(runs["best"]) else "best"
    step = states[chosen]["step"]
    if chosen == "last":
        keep = {k: v for k, v in states["last"].items() if k not in ("q_target", "opt", "replay")}
        keep["best_eval"] = dict(runs["last"], step=step)
        tmp = (out / "best.pt").with_suffix(".tmp")
        torch.save(keep, tmp)
        tmp.replace(out / "best.pt")
    tqdm.write(f"[{cfg.name}] final choice on {cfg.final_dev_episodes} dev seeds: {chosen} "
               f"(best {dev_score(runs['best']):.4f}, last {dev_score(runs['last']):.4f})")
    return {"episodes": cfg.final_dev_episodes, "best": runs["best"], "last": runs["last"], "chosen": chosen,
            "chosen_eval": dict(runs[chosen], step=step)}


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class RunFileError(ValueError):
    """A run's ``best.pt``, ``checkpoint.pt`` or ``config.json`` that cannot be used: says which file and why."""


# what every saved network carries (q_from_state reads these); a checkpoint to resume carries more
NETWORK_KEYS = ("q", "feature_names", "hidden", "dueling", "config")
RESUME_KEYS = NETWORK_KEYS + ("q_target", "opt", "replay", "step", "updates", "best_score", "best_eval", "elapsed")


# The only objects besides tensors and Python's plain types a run file holds: numpy arrays (the replay memory, the
# games in flight, their frame histories) and numpy scalars. torch.load(weights_only=True) rebuilds these and
# nothing else, so a file whose pickle names any other callable (os.system...) is refused before anything runs.
# Files written under numpy 1 name the same functions under numpy.core.
_NUMPY_GLOBALS = [np.ndarray, np.dtype, np._core.multiarray._reconstruct, np._core.multiarray.scalar,
                  (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
                  (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
                  *(type(np.dtype(t)) for t in (np.float32, np.float64, np.int64, np.int32, np.uint64, np.uint32,
                                                 np.int8, np.uint8, np.bool_))]
_UNSAFE = re.compile(r"GLOBAL (\S+)")  # how torch names a callable it refused


def _torch_load(path: Path) -> object:
    """``torch.load(path, weights_only=True)`` that also rebuilds numpy arrays (and only those), on the CPU."""
    with torch.serialization.safe_globals(_NUMPY_GLOBALS):
        return torch.load(path, map_location="cpu", weights_only=True)


def _check_network_fields(path: Path, st: dict) -> None:
    """RunFileError unless the fields a network is rebuilt from have the types train() saves."""
    names, hidden = st.get("feature_names"), st.get("hidden")
    checks = {
        "feature_names": isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names),
        "hidden": isinstance(hidden, (list, tuple)) and all(isinstance(h, int) and h > 0 for h in hidden),
        "dueling": isinstance(st.get("dueling"), bool),
        "config": isinstance(st.get("config"), dict),
        "q": isinstance(st.get("q"), dict) and all(isinstance(v, torch.Tensor) for v in st["q"].values()),
        "stack": isinstance(st.get("stack", 1), int) and st.get("stack", 1) >= 1,
    }
    bad = [k for k, ok in checks.items() if not ok and (k in st or k == "stack")]
    if bad:
        raise RunFileError(f"{path}: not a DQN run's file ({', '.join(f'{k} is a {type(st.get(k)).__name__}' for k in bad)}"
                           ", not what training saves)")


def load_run_file(path: str | Path, needs: tuple[str, ...] = NETWORK_KEYS) -> dict:
    """A run's ``best.pt`` / ``checkpoint.pt`` as the dict it saved; RunFileError when it is missing, unreadable
    (torch reports a truncated or foreign file as a zip, pickle or EOF error) or not a run's file.

    The file is read with ``torch.load(weights_only=True)``: tensors, Python's plain types and numpy arrays
    only. A file whose pickle would call anything else (a crafted ``best.pt`` can name ``os.system``) is refused
    unread, with RunFileError naming the file and the callable.
    """
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        st = _torch_load(path)
    except pickle.UnpicklingError as e:
        m = _UNSAFE.search(str(e))
        if m is None and "Weights only load failed" not in str(e):
            raise RunFileError(f"{path}: not a readable checkpoint, truncated or not written by torch.save "
                               f"(UnpicklingError: {str(e).splitlines()[0] if str(e) else ''})") from None
        what = m.group(1) if m else "objects other than tensors, numbers, strings and numpy arrays"
        raise RunFileError(f"{path}: refused unread: its pickle calls {what}, which no run file holds (loading it "
                           "could run code from the file); only tensors, plain Python values and numpy arrays "
                           "are read") from None
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise RunFileError(f"{path}: not a readable checkpoint, truncated or not written by torch.save "
                           f"({type(e).__name__}: {first})") from None
    if not isinstance(st, dict):
        raise RunFileError(f"{path}: holds a {type(st).__name__}, not the dict a DQN run saves")
    missing = [k for k in needs if k not in st]
    if missing:
        raise RunFileError(f"{path}: not a DQN run's file (no {', '.join(missing)})")
    _check_network_fields(path, st)
    return st


def load_q(path: str | Path) -> QNetwork:
    """A trained Q-network from ``best.pt`` / ``checkpoint.pt``."""
    return q_from_state(load_run_file(path))


def q_from_state(st: dict) -> QNetwork:
    """The Q-network of a loaded ``best.pt`` / ``checkpoint.pt`` dict, in eval mode."""
    q = QNetwork(st["feature_names"], st["hidden"], st["dueling"], st.get("stack", 1))
    q.load_state_dict(st["q"])
    q.eval()
    return q


@dataclass
class TrainCommand:
    """``python -m agents.dqn.train``: a preset, every DQNConfig setting as an option, and what to do."""

    config: Annotated[DQNConfig, tyro.conf.arg(name="")]  # every setting of the run, as --field options
    preset: Literal["best", "best_s2", "seed", "smoke"] = "best"  # the recipe the other options change
    config_file: str = ""  # a JSON or YAML file of DQNConfig fields (e.g. a sweep's best): the recipe instead
    fresh: bool = False  # discard an existing checkpoint of this run
    progress: bool = True  # a progress bar (--no-progress: plain logs, for a log file)
    check: bool = False  # check the settings, and that an existing checkpoint resumes under them, then exit


def usage_error(prog: str, message: str) -> NoReturn:
    """What argparse's ``error`` does: the message on stderr, exit status 2."""
    print(f"usage: {prog} [-h] ...\n{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


PROG = "python -m agents.dqn.train"


def parse_args(argv: list[str] | None = None) -> TrainCommand:
    """The command line: ``--preset`` is read first, since it supplies the defaults the other options change."""
    argv = sys.argv[1:] if argv is None else list(argv)
    pre = argparse.ArgumentParser(prog=PROG, add_help=False)
    pre.add_argument("--preset", default="best", choices=sorted(PRESETS))
    pre.add_argument("--config-file", default="")
    known = pre.parse_known_args(argv)[0]
    try:
        base = load_config_file(known.config_file) if known.config_file else PRESETS[known.preset]
    except ConfigError as e:
        usage_error(PROG, str(e))
    return parse_cli(TrainCommand, TrainCommand(config=base, preset=known.preset, config_file=known.config_file),
                     argv, PROG, __doc__)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = args.config
    try:
        validate(cfg)
        for path in cfg.csv_replay:  # read in full before --check says yes and before --fresh removes anything
            try:
                load_seed_csv(path)
            except CSVFormatError as e:
                raise ConfigError(f"csv_replay: {e}") from None
        if args.check:
            print(f"{cfg.name}: settings ok, --fresh: a new run in {RUNS / cfg.name}" if args.fresh
                  else check_run(cfg, RUNS / cfg.name))
            return
        if args.fresh:  # only once the settings are known to be good; validate() keeps the name inside RUNS
            import shutil

            shutil.rmtree(RUNS / cfg.name, ignore_errors=True)
        summary = train(cfg, progress=args.progress)
    except (ConfigError, RunFileError) as e:
        usage_error(PROG, str(e))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
