"""A sweep's plan: one preset of a search-space file (``agents/sweep/spaces/<algorithm>.yaml``), checked.

The file format is described at the top of ``spaces/dqn.yaml``. Every mistake (an unknown key or field, a range
the wrong way round, an empty choice) is a :class:`SpaceError` naming the file, the preset and the key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPACES = Path(__file__).parent / "spaces"
ALGORITHMS = ("dqn", "hybrid-state", "hybrid-pixels")
# the settings of `python -m agents.hybrid.train ppo` the hybrid trainable takes (the flags' names with '_')
HYBRID_FIELDS = ("env", "n_envs", "n_steps", "batch_size", "n_epochs", "lr", "clip", "ent_coef", "vf_coef",
                 "q_coef", "critic_warmup", "norm_reward", "init")
DOMAINS = ("loguniform", "uniform", "randint", "choice")
PRESET_KEYS = ("base", "fixed", "space", "seeds", "chunk_steps", "chunks", "eval_episodes", "trials", "minutes",
               "metric", "asha", "resources")
METRICS = ("dev_catch", "dev_perfect", "dev_score")


class SpaceError(ValueError):
    """A search-space file that cannot be swept: the message names the file, the preset and the key."""


@dataclass
class Plan:
    """One preset of a search-space file, checked: what :func:`agents.sweep.run.run_sweep` sweeps."""

    algorithm: str  # dqn, hybrid-state or hybrid-pixels
    preset: str
    source: str  # the file it came from
    base: str | dict[str, Any]  # dqn: a name of agents.dqn.config.PRESETS; hybrid: every PPO setting
    fixed: dict[str, Any]
    space: dict[str, dict[str, list]]  # field -> {domain: args}
    seeds: list[int]
    chunk_steps: int
    chunks: int
    eval_episodes: int
    trials: int
    minutes: float
    metric: str = "dev_catch"
    asha: dict[str, int] = field(default_factory=lambda: {"grace_period": 1, "reduction_factor": 2})
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1})

    def tune_space(self) -> dict[str, Any]:
        """The search space as Tune domains (``tune.loguniform`` ...), for OptunaSearch."""
        from ray import tune

        make = {"loguniform": tune.loguniform, "uniform": tune.uniform, "randint": tune.randint}
        out = {}
        for name, dom in self.space.items():
            (kind, args), = dom.items()
            out[name] = tune.choice(list(args)) if kind == "choice" else make[kind](*args)
        return out

    def settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """The fixed settings with a trial's sampled ``params`` over them, tuple fields ("256,128") parsed."""
        merged = {**self.fixed, **params}
        return {k: _parse_tuple(v) if k in TUPLE_FIELDS else v for k, v in merged.items()}


TUPLE_FIELDS = ("hidden", "level", "low_levels", "features", "fish", "csv_replay")


def _parse_tuple(v: Any) -> Any:
    """"256,128" -> (256, 128) (Optuna's choices must be scalars); lists -> tuples; anything else unchanged."""
    if isinstance(v, str) and "," in v:
        parts = [p.strip() for p in v.split(",")]
        return tuple(int(p) if p.lstrip("-").isdigit() else p for p in parts)
    if isinstance(v, list):
        return tuple(v)
    return v


def space_file(algorithm: str) -> Path:
    """The search-space file of ``algorithm``."""
    if algorithm not in ALGORITHMS:
        raise SpaceError(f"sweep: unknown algorithm {algorithm!r}; one of {', '.join(ALGORITHMS)}")
    return SPACES / f"{algorithm}.yaml"


def load_plan(algorithm: str, preset: str = "main", path: str | Path | None = None) -> Plan:
    """The preset ``preset`` of ``path`` (default: the algorithm's file under agents/sweep/spaces), checked."""
    import yaml

    path = Path(path) if path else space_file(algorithm)
    where = f"{path}"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SpaceError(f"{where}: cannot be read ({e})") from None
    except yaml.YAMLError as e:
        raise SpaceError(f"{where}: not valid YAML ({e})") from None
    presets = doc.get("presets") if isinstance(doc, dict) else None
    if not isinstance(presets, dict) or not presets:
        raise SpaceError(f"{where}: needs a mapping `presets:` of named presets")
    if preset not in presets:
        raise SpaceError(f"{where}: no preset {preset!r}; it has {', '.join(map(str, presets))}")
    p = presets[preset]
    where = f"{path}: preset {preset}"
    if not isinstance(p, dict):
        raise SpaceError(f"{where}: must be a mapping of {', '.join(PRESET_KEYS)}")
    unknown = sorted(set(map(str, p)) - set(PRESET_KEYS))
    if unknown:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(PRESET_KEYS)}")
    missing = [k for k in ("base", "space", "seeds", "chunk_steps", "chunks", "eval_episodes", "trials", "minutes")
               if k not in p]
    if missing:
        raise SpaceError(f"{where}: missing {', '.join(missing)}")
    fields = _fields(algorithm, p["base"], where)
    fixed = p.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise SpaceError(f"{where}: fixed: must be a mapping of settings")
    for k in fixed:
        if k not in fields:
            raise SpaceError(f"{where}: fixed: {k}: not a setting of {algorithm} (known: {', '.join(sorted(fields))})")
    space = p["space"]
    if not isinstance(space, dict) or not space:
        raise SpaceError(f"{where}: space: must map at least one setting to a domain")
    for k, dom in space.items():
        _check_domain(f"{where}: space: {k}", k, dom, fields)
    seeds = p["seeds"]
    if not (isinstance(seeds, list) and seeds and all(_is_int(s) and s >= 0 for s in seeds)
            and len(set(seeds)) == len(seeds)):
        raise SpaceError(f"{where}: seeds: must be a list of distinct integers >= 0, got {seeds!r}")
    for k in ("chunk_steps", "chunks", "eval_episodes", "trials"):
        if not _is_int(p[k]) or p[k] < 1:
            raise SpaceError(f"{where}: {k}: must be an integer >= 1, got {p[k]!r}")
    if not isinstance(p["minutes"], (int, float)) or isinstance(p["minutes"], bool) or p["minutes"] <= 0:
        raise SpaceError(f"{where}: minutes: must be a number > 0, got {p['minutes']!r}")
    metric = p.get("metric", "dev_catch")
    if metric not in METRICS:
        raise SpaceError(f"{where}: metric: {metric!r} is not one of {', '.join(METRICS)}")
    if algorithm == "hybrid-pixels" and metric != "dev_catch":
        raise SpaceError(f"{where}: metric: the pixel agent's dev play counts catches only: use dev_catch")
    asha = p.get("asha") or {"grace_period": 1, "reduction_factor": 2}
    if not isinstance(asha, dict) or set(asha) - {"grace_period", "reduction_factor"} or not all(
            _is_int(v) and v >= 1 for v in asha.values()):
        raise SpaceError(f"{where}: asha: a mapping of grace_period and reduction_factor (integers >= 1), "
                         f"got {asha!r}")
    resources = p.get("resources") or {"cpu": 1}
    if not isinstance(resources, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in resources.values()):
        raise SpaceError(f"{where}: resources: a mapping of resource names to amounts >= 0, got {resources!r}")
    return Plan(algorithm=algorithm, preset=preset, source=str(path), base=p["base"], fixed=fixed, space=space,
                seeds=seeds, chunk_steps=p["chunk_steps"], chunks=p["chunks"], eval_episodes=p["eval_episodes"],
                trials=p["trials"], minutes=float(p["minutes"]), metric=metric, asha=dict(asha),
                resources=dict(resources))


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _fields(algorithm: str, base: Any, where: str) -> set[str]:
    """The settings a preset of ``algorithm`` may fix or search (and check ``base``)."""
    if algorithm == "dqn":
        from agents.dqn.config import PRESETS, DQNConfig

        if base not in PRESETS:
            raise SpaceError(f"{where}: base: {base!r} is not a DQN preset ({', '.join(sorted(PRESETS))})")
        return {f.name for f in dataclasses.fields(DQNConfig)} - {"name", "seed", "total_steps", "eval_every",
                                                                   "checkpoint_every", "eval_episodes",
                                                                   "final_dev_episodes", "max_minutes"}
    if not isinstance(base, dict):
        raise SpaceError(f"{where}: base: must be a mapping of the PPO settings {', '.join(HYBRID_FIELDS)}")
    bad = sorted(set(base) - set(HYBRID_FIELDS))
    if bad:
        raise SpaceError(f"{where}: base: {', '.join(bad)}: not a setting of the hybrid PPO "
                         f"({', '.join(HYBRID_FIELDS)})")
    want = algorithm.split("-", 1)[1]
    if base.get("env") != want:
        raise SpaceError(f"{where}: base: env must be {want!r} in the {algorithm} file, got {base.get('env')!r}")
    return set(HYBRID_FIELDS) - {"env"}


def _check_domain(where: str, name: str, dom: Any, fields: set[str]) -> None:
    if name not in fields:
        raise SpaceError(f"{where}: not a setting that can be searched (known: {', '.join(sorted(fields))})")
    if not isinstance(dom, dict) or len(dom) != 1 or next(iter(dom)) not in DOMAINS:
        raise SpaceError(f"{where}: must be one of {{loguniform|uniform|randint: [low, high]}} or "
                         f"{{choice: [values]}}, got {dom!r}")
    (kind, args), = dom.items()
    if kind == "choice":
        if not isinstance(args, list) or not args or not all(
                isinstance(v, (str, int, float, bool)) for v in args):
            raise SpaceError(f"{where}: choice: a non-empty list of numbers, strings or booleans (write a tuple "
                             f"as \"256,128\"), got {args!r}")
        return
    if not (isinstance(args, list) and len(args) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in args)
            and args[0] < args[1]):
        raise SpaceError(f"{where}: {kind}: [low, high] with low < high, got {args!r}")
    if kind == "loguniform" and args[0] <= 0:
        raise SpaceError(f"{where}: loguniform: low must be > 0, got {args[0]}")
    if kind == "randint" and not all(_is_int(v) for v in args):
        raise SpaceError(f"{where}: randint: integer bounds, got {args!r}")
