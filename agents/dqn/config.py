"""All hyperparameters of a DQN run, in one dataclass (presets below)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass
class DQNConfig:
    """A DQN run's settings; each is an option of ``python -m agents.dqn.train`` (``--total-steps 1000000``)."""

    name: str = "best"  # the run's folder: runs/dqn/<name>
    features: str | tuple[str, ...] = "default"  # observation: a preset of envs.stardew.features
    stack: int = 1  # observations of the last `stack` ticks as input (2: the fish's acceleration is visible)
    level: tuple[int, int] = (0, 10)  # fishing levels trained on
    fish: str | int | tuple[str | int, ...] | None = None  # fish pool: names or ids (None: all 60 rod fish)
    seed: int = 1  # seeds the network, exploration and the training games (seed x 1,000,000 ..)
    # collection
    num_games: int = 256  # games stepped together by FishingSim
    total_steps: int = 20_000_000  # env transitions (all games together)
    frame_skip: int = 1  # game ticks per decision (1 = act every tick, as the protocol asks)
    reward_weights: dict[str, float] = field(  # weights of the reward terms (progress, catch, escape, perfect)
        default_factory=lambda: {"progress": 100.0, "catch": 10.0, "escape": 10.0, "perfect": 5.0}
    )
    perfect_loss_penalty: float = 0.0  # extra reward on the tick a game loses its perfect catch (negated)
    hard_fraction: float = 0.0  # share of the games that play only hard fish (curriculum weight)
    hard_min_difficulty: int = 85  # the least difficulty of a fish the hard_fraction games play
    low_level_fraction: float = 0.0  # share of the games played only at levels low_levels (where catches fail most)
    low_levels: tuple[int, int] = (0, 3)  # the levels the low_level_fraction games play
    # demonstrations (DQfD-style): a share of the games is played by a hand-written controller, and a
    # large-margin loss on those transitions keeps the greedy policy from falling below the demonstrator
    demo_controller: str = ""  # a name of envs.stardew.controllers ("" = none)
    demo_fraction: float = 0.0  # share of the games the demonstrator plays
    margin: float = 0.8  # the large-margin loss: Q of the demonstrator's action beats the other by this
    margin_weight: float = 1.0  # weight of the large-margin loss on the demonstrator's transitions
    eps_start: float = 1.0  # epsilon-greedy exploration at the start
    eps_end: float = 0.01  # and at the end of its decay
    eps_fraction: float = 0.25  # of total_steps over which epsilon decays linearly
    # learning
    hidden: tuple[int, ...] = (256, 128)  # hidden layer widths (256 256 costs ~52 us p99 per ONNX call, this ~31 us)
    dueling: bool = True  # a dueling head (value + advantages)
    double: bool = True  # double-DQN targets (the online network chooses, the target network values)
    gamma: float = 0.99  # discount per decision
    n_step: int = 3  # rewards summed over n decisions before bootstrapping
    lr: float = 5e-4  # Adam's learning rate at the start
    lr_end: float = 5e-5  # linear decay of the learning rate to this
    batch_size: int = 512  # transitions per update
    buffer_size: int = 1_000_000  # transitions the replay memory holds
    learning_starts: int = 50_000  # transitions collected before the first update
    train_every: int = 1  # vector steps between updates
    gradient_steps: int = 1  # updates each time
    tau: float = 0.005  # Polyak averaging of the target network each update
    max_grad_norm: float = 10.0  # gradients clipped to this norm
    # bookkeeping
    eval_every: int = 1_000_000  # transitions between evaluations on the dev seeds (checkpoint choice)
    eval_episodes: int = 1000  # dev seeds per evaluation
    final_dev_episodes: int = 5000  # at the end, best.pt vs the last weights on this many dev seeds (0: skip)
    checkpoint_every: int = 1_000_000  # transitions between checkpoints (the run resumes from the last)
    log_every: int = 50_000  # transitions between TensorBoard logs
    max_minutes: float = 0.0  # stop after this wall time of one invocation (0: no limit); the run stays resumable
    torch_threads: int = 1  # more threads stall badly when the 2 cores are shared
    csv_replay: tuple[str, ...] = ()  # CSV logs recorded in the game to pre-fill the buffer with (seed features)

    def replace(self, **kw) -> DQNConfig:
        return dataclasses.replace(self, **kw)

    @classmethod
    def from_dict(cls, d: dict) -> DQNConfig:
        """The config a run wrote to ``config.json`` (its lists back to tuples); other keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


# the project's best recipe on the richer visible observation (the last 4 ticks' default features);
# a fifth of the games on hard fish, a fifth at levels 0..3, a heavy price on losing a perfect catch
_BEST = DQNConfig(stack=4, hard_fraction=0.2, low_level_fraction=0.2, perfect_loss_penalty=20.0,
                  total_steps=36_000_000, eval_every=4_000_000, checkpoint_every=4_000_000, max_minutes=26.0)

PRESETS: dict[str, DQNConfig] = {
    "best": _BEST,
    # the second member of the best ensemble: the same recipe from another seed
    "best_s2": _BEST.replace(name="best_s2", seed=2),
    # the seed mod's contract: exactly (bobberBarPos, bobberPosition, bobberBarSpeed), levels 0..10
    # (6 M steps: at 16 M the kept checkpoint was the 2 M one, and 6 M scores the same on 5,000 dev seeds)
    "seed": DQNConfig(name="seed", features="seed", hard_fraction=0.25, perfect_loss_penalty=5.0,
                      demo_controller="lead_seed", demo_fraction=0.5, margin_weight=8.0, total_steps=6_000_000,
                      eval_every=2_000_000, checkpoint_every=2_000_000, max_minutes=26.0),
    # smoke runs and tests: about 15 s on 2 cores
    "smoke": DQNConfig(name="smoke", num_games=64, total_steps=150_000, learning_starts=5_000, hidden=(64, 64),
                       batch_size=128, buffer_size=100_000, eps_fraction=0.3, eval_every=75_000, eval_episodes=200,
                       checkpoint_every=75_000, log_every=25_000, lr=1e-3, lr_end=1e-3, torch_threads=1,
                       final_dev_episodes=300),
}

# Independent seeds of the `best` preset whose mean Q-values the shipped best policy learns (on 5,000
# dev seeds the two runs' mean caught 0.2-0.6 points more than either alone and perfected 0.9-2.3 more).
# `make train-dqn` trains them side by side and distils them into one network (DistillConfig).
BEST_ENSEMBLE: tuple[str, ...] = ("best", "best_s2")


class ConfigError(ValueError):
    """A DQN setting that cannot be trained with (the message names the field and what is wrong)."""


# Training games are seeded seed x TRAIN_SEED_BLOCK + slot, and after resuming a checkpoint written before
# checkpoints kept the games in flight, seed x TRAIN_SEED_BLOCK + RESUME_SEED_OFFSET + vector step + slot; all
# of them must stay below the dev seeds (agents.evaluation.protocol).
TRAIN_SEED_BLOCK = 1_000_000
RESUME_SEED_OFFSET = 500_000

# Settings a resumed run may change: how long it runs, how often it evaluates, saves and logs, its threads and
# its name. Every other setting changes what is learned, so a checkpoint resumes only under its own values.
# (Epsilon and the learning rate decay over total_steps: a new length reshapes them from the resume on, and
# train() says so when it resumes.)
RESUMABLE_FIELDS = frozenset({"name", "total_steps", "max_minutes", "eval_every", "eval_episodes",
                              "final_dev_episodes", "checkpoint_every", "log_every", "torch_threads"})


def resume_conflicts(saved: dict, cfg: DQNConfig) -> list[str]:
    """The settings, other than RESUMABLE_FIELDS, in which ``cfg`` differs from a checkpoint's config ``saved``
    (one line each: field, checkpoint's value, new value); empty when the checkpoint can resume under ``cfg``."""
    old = json.loads(json.dumps(dataclasses.asdict(DQNConfig.from_dict(saved))))  # tuples and lists alike
    new = json.loads(json.dumps(dataclasses.asdict(cfg)))
    return [f"{k}: {old[k]} in the checkpoint{'' if k in saved else ' (not in its config: the default)'}, "
            f"{new[k]} now" for k in new if k not in RESUMABLE_FIELDS and old[k] != new[k]]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_cli(command: type[T], default: T, argv: Sequence[str] | None, prog: str, description: str) -> T:
    """``command`` (a dataclass) from the command line: one ``--field`` option per field, typed and described
    by the dataclass itself (its annotations and the comment beside each field), values not given kept from
    ``default``. Parsed by tyro, so an option of the wrong type is a usage error naming the option."""
    import tyro

    return tyro.cli(command, default=default, args=argv, prog=prog, description=description)


def check_run_name(field: str, name: object) -> None:
    """ConfigError unless ``name`` can name a folder runs/dqn/<name> and stay inside runs/dqn."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"{field}: {name!r} cannot name the run's folder runs/dqn/<name> (letters, digits, "
                          "'_', '-', '.'; not empty, no '/', not starting with '.')")


def check_derived_run(name: str, sources: dict[str, Sequence[str]], rounds: int) -> None:
    """ConfigError unless a distilled or improved run ``name`` may be written from the runs in ``sources``
    (field -> run names): valid names, at least one source, at least one round, and an output that is none
    of its sources (it would overwrite the run it reads)."""
    check_run_name("name", name)
    for option, runs in sources.items():
        if not runs:
            raise ConfigError(f"{option}: name at least one run")
        for run in runs:
            check_run_name(option, run)
            if run == name:
                raise ConfigError(f"name: {name!r} is also the {option} run; writing it would overwrite the run it "
                                  "reads (choose another --name)")
    if not _is_int(rounds) or rounds < 1:
        raise ConfigError(f"rounds: must be an integer >= 1, got {rounds!r}")


def game_split(cfg: DQNConfig) -> tuple[int, int, int, int]:
    """How the ``num_games`` training games divide: (the whole population, hard fish only, low levels only,
    played by the demonstrator, who plays the first games of the whole population)."""
    n_hard = int(round(cfg.hard_fraction * cfg.num_games))
    n_low = int(round(cfg.low_level_fraction * cfg.num_games))
    n_demo = int(round(cfg.demo_fraction * cfg.num_games)) if cfg.demo_controller else 0
    return cfg.num_games - n_hard - n_low, n_hard, n_low, n_demo


def check_game_split(cfg: DQNConfig) -> None:
    """ConfigError unless every part of :func:`game_split` has games to play and fish to play with."""
    from envs.stardew.controllers import CONTROLLERS

    n_main, n_hard, n_low, n_demo = game_split(cfg)
    if n_main < 1:
        raise ConfigError(f"hard_fraction + low_level_fraction must leave some games on the whole population: "
                          f"{cfg.hard_fraction} + {cfg.low_level_fraction} of num_games={cfg.num_games} are "
                          f"{n_hard} + {n_low} games")
    if cfg.demo_fraction > 0 and not cfg.demo_controller:
        raise ConfigError(f"demo_fraction: {cfg.demo_fraction} of the games for a demonstrator, but demo_controller "
                          f"names none; set demo_controller (one of {sorted(CONTROLLERS)}) or demo_fraction=0")
    if n_demo > n_main:
        raise ConfigError(f"demo_fraction: the demonstrator plays games of the whole population, {n_main} of "
                          f"num_games={cfg.num_games} here, not {n_demo}; lower demo_fraction, hard_fraction or "
                          "low_level_fraction")
    if n_hard:
        from envs.stardew.fish import fish_table

        hardest = max(f.difficulty for f in fish_table())
        if cfg.hard_min_difficulty > hardest:
            raise ConfigError(f"hard_min_difficulty: no fish is that hard ({cfg.hard_min_difficulty}; the hardest "
                              f"is {hardest}), so the hard_fraction games would have no fish")


def validate(cfg: DQNConfig) -> None:
    """Raise ConfigError naming the first setting of ``cfg`` that a run cannot train with."""
    from agents.evaluation.protocol import DEV_SEED0, TEST_SEED0, protocol_config
    from envs.stardew import features as feats
    from envs.stardew.controllers import CONTROLLERS

    check_run_name("name", cfg.name)
    for k, lo in (("stack", 1), ("num_games", 1), ("total_steps", 1), ("frame_skip", 1), ("n_step", 1),
                  ("batch_size", 1), ("buffer_size", 1), ("learning_starts", 0), ("train_every", 1),
                  ("gradient_steps", 0), ("eval_every", 1), ("eval_episodes", 1), ("final_dev_episodes", 0),
                  ("checkpoint_every", 1), ("log_every", 1), ("torch_threads", 1), ("seed", 0),
                  ("hard_min_difficulty", 0)):
        if not _is_int(getattr(cfg, k)) or getattr(cfg, k) < lo:
            raise ConfigError(f"{k}: must be an integer >= {lo}, got {getattr(cfg, k)!r}")
    for k in ("hard_fraction", "low_level_fraction", "demo_fraction", "eps_start", "eps_end", "eps_fraction",
              "gamma", "tau"):
        if not _is_real(getattr(cfg, k)) or not 0.0 <= getattr(cfg, k) <= 1.0:
            raise ConfigError(f"{k}: must be a number in [0, 1], got {getattr(cfg, k)!r}")
    for k in ("perfect_loss_penalty", "margin", "margin_weight", "lr", "lr_end", "max_grad_norm", "max_minutes"):
        if not _is_real(getattr(cfg, k)) or getattr(cfg, k) < 0:
            raise ConfigError(f"{k}: must be a finite number >= 0, got {getattr(cfg, k)!r}")
    if cfg.learning_starts > cfg.buffer_size:  # the memory never holds that many: not one update would be made
        raise ConfigError(f"learning_starts: {cfg.learning_starts:,} is more than the replay memory holds "
                          f"(buffer_size {cfg.buffer_size:,}); no update would ever be made")
    if not (isinstance(cfg.hidden, tuple) and cfg.hidden and all(_is_int(h) and h >= 1 for h in cfg.hidden)):
        raise ConfigError(f"hidden: must be one or more layer widths >= 1, e.g. (256, 128), got {cfg.hidden!r}")
    if cfg.demo_controller and cfg.demo_controller not in CONTROLLERS:
        raise ConfigError(f"demo_controller: unknown {cfg.demo_controller!r}; known {sorted(CONTROLLERS)} or ''")
    check_game_split(cfg)
    try:
        names = feats.resolve(cfg.features)
        protocol_config(fish=cfg.fish, level=cfg.level, frame_skip=cfg.frame_skip,
                        reward_weights=cfg.reward_weights).compile()
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from e
    try:
        protocol_config(level=cfg.low_levels).compile()
    except (ValueError, TypeError) as e:
        raise ConfigError(f"low_levels: {e}") from e
    if cfg.csv_replay:
        if names != feats.PRESETS["seed"] or cfg.stack != 1:
            raise ConfigError("csv_replay: the seed mod's CSV holds the seed features only (features='seed', "
                              f"stack=1), not features={cfg.features!r} with stack={cfg.stack}")
        for path in cfg.csv_replay:
            if not Path(path).is_file():
                raise ConfigError(f"csv_replay: no file {path!r}")
    # the games' seeds: fresh runs from seed x 1,000,000, resumed ones from 500,000 above that plus the step
    top = (cfg.seed * TRAIN_SEED_BLOCK + RESUME_SEED_OFFSET + -(-cfg.total_steps // cfg.num_games)
           + cfg.num_games - 1)
    if top >= DEV_SEED0:
        ok = (DEV_SEED0 - 1 - (top - cfg.seed * TRAIN_SEED_BLOCK)) // TRAIN_SEED_BLOCK
        raise ConfigError(f"seed: {cfg.seed} seeds the training games up to {top:,}, into the dev seeds "
                          f"({DEV_SEED0:,}..) or the held-out test seeds ({TEST_SEED0:,}..) that choose and judge "
                          f"the checkpoints; use a seed from 0 to {ok}" if ok >= 0 else
                          f"seed: with total_steps={cfg.total_steps:,} and num_games={cfg.num_games} the training "
                          f"games' seeds reach the dev seeds ({DEV_SEED0:,}..) for any seed")


@dataclass
class DistillConfig:
    """Distilling the BEST_ENSEMBLE into one network of the members' size (agents/dqn/distill.py)."""

    name: str = "best_distilled"  # the output run: runs/dqn/<name>
    teachers: tuple[str, ...] = BEST_ENSEMBLE
    seed: int = 3  # its games use training seeds seed * 1,000,000.. (the members use 1 and 2)
    rounds: int = 2  # round 0: the teacher plays; later rounds: the student plays, the teacher labels
    states_per_round: int = 1_000_000
    eps: float = 0.05  # random actions while collecting, for coverage around the greedy paths
    updates_per_round: int = 20_000  # Adam steps on everything gathered so far, after each round
    batch_size: int = 1024
    lr: float = 3e-4  # cosine-annealed to 5% within each round; the student starts from the first member
    gap_weight: float = 4.0  # weight of the Q(hold) - Q(release) error, which alone decides the action
    dev_episodes: int = 5000  # the student on the dev seeds, for the record
    teacher_dev: bool = False  # the ensemble too, on the same seeds (twice a network's cost: 1.5 min; off in train-dqn)
    torch_threads: int = 1  # 2 threads ran these small batches 2x slower here, even with the machine to itself


@dataclass
class ImproveConfig:
    """Rollout policy improvement of the distilled network (agents/dqn/improve.py)."""

    name: str = "best_improved"  # the output run: runs/dqn/<name>
    start: str = "best_distilled"  # the run whose policy is improved
    seed: int = 4  # its games use training seeds seed * 1,000,000.. (the members use 1 and 2, the distillation 3)
    rounds: int = 2  # each round's student is the next round's policy
    states_per_round: int = 300_000
    keep_every: int = 4  # keep the states of every 4th tick (neighbouring ticks are nearly the same state)
    rollouts: int = 6  # futures per state and action; the two actions share each future's random stream
    horizon: int = 24  # ticks of each rollout before its value is bootstrapped with max_a Q
    perfect_loss_penalty: float | None = None  # in the rollouts' reward (None: the training recipe's)
    eps: float = 0.05  # random actions while collecting states
    label_batch: int = 2048  # states whose rollouts run as one batch of simulator games
    forward_batch: int = 2048  # rows per network call (bigger batches fall out of cache)
    updates_per_round: int = 12_000  # Adam steps on the round's states, from the policy's own weights
    batch_size: int = 1024
    lr: float = 3e-4  # cosine-annealed to 5%
    gap_weight: float = 4.0  # weight of the Q(hold) - Q(release) error in the loss
    dev_episodes: int = 5000
    torch_threads: int = 2  # it runs alone after the training runs (labelling: 156 s on 2 threads, ~220 s on 1)
