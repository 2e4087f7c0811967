"""Demonstrations on disk: one compressed ``.npz`` per episode, a JSON header inside, no pickle anywhere.

Format ``stardew-rl/demos`` (``demos/<set>/episode_00000.npz``). Version 1 holds ScreenGame-style actions
(the ``type``/``pointer``/``drag_end``/``keys`` arrays below); version 2, written for every other action space
(Discrete, Box, another Dict, a parameterized Tuple, a key-only game's short actions), holds the actions as
``actions`` (N, D) float32, the flat vector of the header's ``layout``
(:class:`~agents.hybrid.layout.HybridLayout`), with ``type`` its first column. An env whose observation is not
an image stack keeps whole observations in ``obs`` (N+1, ...) instead of ``frames``.

Header fields (JSON). Every set has ``format``, ``version``, ``source`` ("human" | "scripted" | what the
recorder says), ``env`` (the env id, or a description), ``terminal``, ``steps``, ``created`` (UTC), and, to be
read without the env: ``type_names``, ``layout``, ``frame_stack`` (for frames). Optional: ``controller`` (who
played), ``env_options`` / ``env_kwargs``, ``gym_packages``, ``action_spec`` (ScreenGame's seed-style dict),
``keys``, ``preprocess``, ``step_hz``, ``seed``, ``outcome`` (a word: ``caught`` / ``escaped`` / ``truncated``
for the fishing games, ``success`` / ``failure`` / ``ended`` / ``truncated`` elsewhere), ``success`` (bool, where
the env reports one), ``return`` (the episode's summed reward), and the fishing recorders' ``ticks_per_step``.

Arrays of version 1:

============  ======================  ==========================================================================
key           shape, dtype            meaning
============  ======================  ==========================================================================
``header``    (), str                 JSON: format, version, source ("human" | "scripted"), controller, env id and
                                      options, ``action_spec`` (the seed-style dict), ``type_names``, ``keys``,
                                      ``layout`` (HybridLayout JSON), preprocessing, ``ticks_per_step``, seed,
                                      ``terminal``, ``outcome``, ``steps``, ``created`` (UTC)
``frames``    (N+1, 84, 84[, 3]) u8   the newest preprocessed frame of the observation before each step, and of
                                      the one after the final step; observation i is the stack of frames
                                      ``max(0, i-3) .. i``, the first frame repeated while there are fewer than
                                      ``frame_stack`` (exactly :class:`~envs.screen.preprocess.FrameStack`)
``type``      (N,) int16              action type index (``type_names``), ``0`` = none: no-op steps are recorded
``pointer``   (N, 2) float32          pointer in [-1, 1] relative to the region
``drag_end``  (N, 2) float32          drag end in [-1, 1]
``keys``      (N, K) int8             keys held during the step
``rewards``   (N,) float32            env reward of the step
============  ======================  ==========================================================================

Every file is written whole when its episode ends (``np.savez_compressed`` to a temporary name, then renamed), so
an interrupted recording loses at most the episode in progress; a leftover temporary file
(``episode_00003.tmp.npz``) is left alone and skipped: only names ``episode_<digits>.npz`` are episodes, and a new
writer numbers on after the highest. ``load_trajectories`` turns a set into imitation's ``Trajectory`` objects
(actions in the hybrid Box layout) with ``np.load(allow_pickle=False)``.

A file that cannot be used raises :class:`DemoFormatError` naming the file and the field: an unreadable (truncated)
zip, a missing array, a header that is not JSON or of another format, arrays whose lengths disagree (``frames``
must have one more entry than the actions), non-finite pointers or rewards, an action type outside ``type_names``,
frames of another shape than the policy's, and type names or parameter sizes other than the layout's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.hybrid.layout import HybridLayout

FORMAT = "stardew-rl/demos"
VERSION = 2
EPISODE_NAME = re.compile(r"^episode_(\d+)\.npz$")
ARRAYS = ("frames", "type", "pointer", "drag_end", "keys", "rewards")
SCREEN_ACTION_KEYS = ("type", "pointer", "drag_end", "keys")


def _is_screen_action(a: Any) -> bool:
    return isinstance(a, Mapping) and all(k in a for k in SCREEN_ACTION_KEYS)


class DemoFormatError(ValueError):
    """A demo file that cannot be used; the message starts with the file and the field."""

    def __init__(self, path: str | Path, field: str | None, message: str):
        self.path, self.field = Path(path), field
        super().__init__(f"{path}: {message}" if field is None else f"{path}: field {field!r}: {message}")


class DemoWriter:
    """Collects one episode at a time and writes it when it ends.

    Actions are the env's own (a ScreenGame dict, an int, an array, a tuple); anything but a full ScreenGame dict
    is stored as the flat vector of the header's ``layout`` (version 2). With ``frame_stack`` in the header each
    observation is a frame stack and only its newest frame is kept; without it, whole observations are."""

    def __init__(self, directory: str | Path, header: Mapping[str, Any]):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.header = dict(header)
        self.frames = "frame_stack" in self.header
        self.layout = HybridLayout.from_json(self.header["layout"]) if "layout" in self.header else None
        self.n_keys = len(self.header.get("keys", ())) or 1
        taken = [int(m.group(1)) for p in self.dir.iterdir() if (m := EPISODE_NAME.match(p.name))]
        self.index = max(taken) + 1 if taken else 0
        self._clear()

    def _clear(self) -> None:
        self.obs: list[np.ndarray] = []
        self.acts: list[Mapping[str, Any]] = []
        self.rewards: list[float] = []

    def start(self, obs: np.ndarray) -> None:
        """The first observation (a frame stack); only its newest frame is kept."""
        self._clear()
        self.obs.append(self._keep(obs))

    def _keep(self, obs: Any) -> np.ndarray:
        return np.asarray(obs, np.uint8)[-1] if self.frames else np.array(obs)

    def add(self, action: Any, reward: float, next_obs: np.ndarray) -> None:
        self.acts.append(action)
        self.rewards.append(float(reward))
        self.obs.append(self._keep(next_obs))

    def end(self, terminal: bool, **extra: Any) -> Path | None:
        """Write the episode (if it has a step); returns its path."""
        if not self.acts:
            return None
        n = len(self.acts)
        legacy = all(_is_screen_action(a) for a in self.acts)
        if not legacy and self.layout is None:
            raise ValueError(f"{self.dir}: actions {self.acts[0]!r} are not ScreenGame dicts: the header needs the "
                             "env's 'layout' to store them")
        header = dict(self.header, format=FORMAT, version=1 if legacy else VERSION, terminal=bool(terminal),
                      steps=n, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra)
        header.setdefault("return", float(np.sum(self.rewards, dtype=np.float64)))
        arrays = {"header": np.array(json.dumps(header)),
                  ("frames" if self.frames else "obs"): np.stack(self.obs),
                  "rewards": np.array(self.rewards, np.float32)}
        if legacy:
            arrays.update({
                "type": np.array([int(np.asarray(a["type"]).reshape(())) for a in self.acts], np.int16),
                "pointer": np.stack([np.asarray(a["pointer"], np.float32).reshape(2) for a in self.acts]),
                "drag_end": np.stack([np.asarray(a["drag_end"], np.float32).reshape(2) for a in self.acts]),
                "keys": np.stack([np.asarray(a["keys"], np.int8).reshape(-1) for a in self.acts]),
            })
        else:
            acts = np.stack([self.layout.to_box(a) for a in self.acts]).astype(np.float32)
            arrays.update({"actions": acts, "type": np.rint(acts[:, 0]).astype(np.int16)})
        path = self.dir / f"episode_{self.index:05d}.npz"
        # a fresh temporary name: a leftover of an interrupted save (episode_00003.tmp.npz) is never overwritten
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f"{path.stem}.", suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.index += 1
        self._clear()
        return path


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argwhere(mask)[0][0])


def _check_types(path: Path, t: np.ndarray, names: Sequence[str], whose: str) -> None:
    """DemoFormatError at the first action type that is not an index of ``names``."""
    bad = (t < 0) | (t >= len(names))
    if bad.any():
        i = _first_bad(bad)
        raise DemoFormatError(path, "type", f"value {int(t[i])} at step {i} outside 0..{len(names) - 1} "
                                            f"({whose} {list(names)})")


def read_episode(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """-> (header, arrays) of one episode file, checked on its own (see the module doc); raises
    :class:`DemoFormatError` naming the file and the field. Refuses other formats and newer versions."""
    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
            raw = z["header"] if "header" in names else None
            arrays = {k: z[k] for k in z.files if k != "header"}  # reads (decompresses) everything now
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise DemoFormatError(path, None, f"not a readable .npz file (truncated or corrupt?): "
                                          f"{type(e).__name__}: {e}") from None
    if raw is None:
        raise DemoFormatError(path, "header", "missing")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as e:
        raise DemoFormatError(path, "header", f"not JSON: {e}") from None
    if not isinstance(header, dict):
        raise DemoFormatError(path, "header", f"not a JSON object: {type(header).__name__}")
    try:
        version = int(header.get("version", 0))
    except (TypeError, ValueError):
        version = -1
    if header.get("format") != FORMAT or not 0 < version <= VERSION:
        raise DemoFormatError(path, "header", f"not a {FORMAT} v<={VERSION} file: format "
                                              f"{header.get('format')!r} version {header.get('version')!r}")
    flat = "actions" in arrays
    obs_key = "obs" if "obs" in arrays and "frames" not in arrays else "frames"
    for key in ((obs_key, "type", "actions", "rewards") if flat else ARRAYS):
        if key not in arrays and not (key == "frames" and "obs" in arrays):
            raise DemoFormatError(path, key, "missing array")
    t = arrays["type"]
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer):
        raise DemoFormatError(path, "type", f"need (N,) integers, got {t.shape} {t.dtype}")
    n = len(t)
    if n == 0:
        raise DemoFormatError(path, "type", "no steps")
    shapes = (("actions", 2), ("rewards", 1)) if flat else (("pointer", 2), ("drag_end", 2), ("keys", 2),
                                                             ("rewards", 1))
    for key, ndim in shapes:
        if arrays[key].ndim != ndim or len(arrays[key]) != n:
            raise DemoFormatError(path, key, f"shape {arrays[key].shape} for {n} actions (need {n} rows)")
    for key in () if flat else ("pointer", "drag_end"):
        if arrays[key].shape[1] != 2:
            raise DemoFormatError(path, key, f"shape {arrays[key].shape}: need (N, 2)")
    for key in ("actions", "rewards") if flat else ("pointer", "drag_end", "rewards"):
        v = arrays[key]
        if not np.issubdtype(v.dtype, np.number):
            raise DemoFormatError(path, key, f"not numbers: {v.dtype}")
        bad = ~np.isfinite(v.reshape(n, -1)).all(axis=1)
        if bad.any():
            raise DemoFormatError(path, key, f"values not finite (NaN or inf) at step {_first_bad(bad)} "
                                             f"({int(bad.sum())} steps)")
    f = arrays[obs_key]
    if obs_key == "frames" and (f.dtype != np.uint8 or f.ndim not in (3, 4)
                                or (f.ndim == 4 and f.shape[3] not in (1, 3, 4))):
        raise DemoFormatError(path, "frames", f"need (N+1, H, W) or (N+1, H, W, C) uint8, got {f.shape} {f.dtype}")
    if len(f) != n + 1:
        raise DemoFormatError(path, obs_key, f"{len(f)} {'frames' if obs_key == 'frames' else 'observations'} for {n} "
                                             "actions (need one more than actions)")
    if "steps" in header and header["steps"] != n:
        raise DemoFormatError(path, "steps", f"header says {header['steps']} steps, the arrays hold {n}")
    if "terminal" not in header:
        raise DemoFormatError(path, "terminal", "missing from the header")
    names = header.get("type_names")
    if names is not None:
        _check_types(path, t, names, "type_names")
    return header, arrays


def check_demo_dir(directory: str | Path) -> list[Path]:
    """The episode files of a demo set; FileNotFoundError if ``directory`` is not a directory, ValueError if it
    holds no episodes."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such demo directory")
    files = episode_files(d)
    if not files:
        raise ValueError(f"{d}: no demo episodes (episode_<digits>.npz files) in it or below")
    return files


def recorded_seeds(directory: str | Path, like: Mapping[str, Any]) -> set[int]:
    """The seeds of the episodes under ``directory`` recorded as ``like`` would record them (same ``source``,
    ``controller``, ``env`` and ``env_options`` in the header); none if the directory does not exist yet. A scripted
    recording run skips these seeds, so running it again completes a set instead of doubling it."""
    if not Path(directory).is_dir():
        return set()
    same = ("source", "controller", "env", "env_options")
    seeds = set()
    for path in episode_files(directory):
        header, _ = read_episode(path)
        if all(header.get(k) == like.get(k) for k in same) and isinstance(header.get("seed"), int):
            seeds.add(header["seed"])
    return seeds


def stack_frames(frames: np.ndarray, depth: int) -> np.ndarray:
    """(N+1, *frame) newest frames -> (N+1, depth, *frame) observations, FrameStack's semantics."""
    idx = np.arange(len(frames))[:, None] + np.arange(-depth + 1, 1)[None, :]
    return frames[np.clip(idx, 0, None)]


def episode_files(directory: str | Path) -> list[Path]:
    """The episode files under ``directory`` (only ``episode_<digits>.npz``), in episode order."""
    files = [(p, m) for p in Path(directory).rglob("episode_*.npz") if (m := EPISODE_NAME.match(p.name))]
    return [p for p, _ in sorted(files, key=lambda pm: (str(pm[0].parent), int(pm[1].group(1))))]


def _check_against(path: Path, header: Mapping[str, Any], a: Mapping[str, np.ndarray], lay: HybridLayout,
                   frame_shape: Sequence[int] | None) -> None:
    names = header.get("type_names")
    if names is not None and tuple(names) != lay.type_names:
        raise DemoFormatError(path, "type_names", f"header {list(names)} != the layout's {list(lay.type_names)}")
    _check_types(path, a["type"], lay.type_names, "the layout's types")
    if "actions" in a:
        if a["actions"].shape[1] != lay.dim:
            raise DemoFormatError(path, "actions", f"{a['actions'].shape[1]} values a step, the layout has {lay.dim}")
    else:
        for key, size, *_ in (*lay.cont_blocks, *lay.bin_blocks):
            width = int(np.prod(a[key].shape[1:])) if key in a else None
            if width != size:
                raise DemoFormatError(path, key, f"{width} values a step, the layout has {size}")
    if frame_shape is not None and "frames" not in a:
        raise DemoFormatError(path, "frames", "missing: these demonstrations hold whole observations ('obs'), the "
                                              "policy reads frame stacks")
    if frame_shape is not None and tuple(a["frames"].shape[1:]) != tuple(frame_shape):
        raise DemoFormatError(path, "frames", f"frame shape {tuple(a['frames'].shape[1:])}, expected "
                                              f"{tuple(frame_shape)} (the policy's observation frame)")


def load_trajectories(directory: str | Path, layout: HybridLayout | None = None,
                      frame_shape: Sequence[int] | None = None, obs_shape: Sequence[int] | None = None) -> list:
    """All episodes under ``directory`` as imitation ``TrajectoryWithRew`` (actions in the hybrid Box layout).

    Each file is checked (:func:`read_episode`) and against ``layout`` (default: the file's own) and
    ``frame_shape`` (one frame, e.g. ``(84, 84, 3)``; default: the first file's, so all files agree), or for
    demonstrations of whole observations (``obs``, a vector env's) ``obs_shape``;
    :class:`DemoFormatError` names the file and field. A missing or empty ``directory`` fails first.
    """
    from imitation.data.types import TrajectoryWithRew

    trajs = []
    for path in check_demo_dir(directory):
        header, a = read_episode(path)
        if layout is not None:
            lay = layout
        else:
            try:
                lay = HybridLayout.from_json(header["layout"])
            except (KeyError, TypeError, ValueError) as e:
                raise DemoFormatError(path, "layout", f"missing or not a HybridLayout: {e!r}") from None
        if "obs" in a and "frames" not in a:
            _check_against(path, header, a, lay, None)
            if obs_shape is not None and tuple(a["obs"].shape[1:]) != tuple(obs_shape):
                raise DemoFormatError(path, "obs", f"observation shape {tuple(a['obs'].shape[1:])}, expected "
                                                   f"{tuple(obs_shape)} (the policy's)")
            obs_shape = a["obs"].shape[1:]
            trajs.append(TrajectoryWithRew(obs=a["obs"].astype(np.float32), acts=a["actions"].astype(np.float32),
                                           infos=None, terminal=bool(header["terminal"]),
                                           rews=a["rewards"].astype(np.float32)))
            continue
        if obs_shape is not None and frame_shape is None:
            raise DemoFormatError(path, "frames", "these demonstrations hold frames; the policy reads whole "
                                                  f"observations of shape {tuple(obs_shape)}")
        _check_against(path, header, a, lay, frame_shape)
        if frame_shape is None:
            frame_shape = a["frames"].shape[1:]
        try:
            depth = int(header.get("frame_stack", 4))
        except (TypeError, ValueError):
            depth = 0
        if depth < 1:
            raise DemoFormatError(path, "frame_stack", f"need a positive integer, got {header.get('frame_stack')!r}")
        if "actions" in a:
            acts = a["actions"].astype(np.float32)
        else:
            acts = np.stack([lay.to_box({"type": int(t), "pointer": p, "drag_end": d, "keys": k})
                             for t, p, d, k in zip(a["type"], a["pointer"], a["drag_end"], a["keys"], strict=True)])
        obs = stack_frames(a["frames"], depth)
        trajs.append(TrajectoryWithRew(obs=obs, acts=acts, infos=None, terminal=bool(header["terminal"]),
                                       rews=a["rewards"].astype(np.float32)))
    return trajs


def summarize(directory: str | Path) -> dict[str, Any]:
    """Episodes, steps, mean return and sources of a demo set; a catch rate only for fishing demonstrations
    (every episode's outcome caught / escaped / truncated), a success rate only where every header says
    ``success``."""
    eps, steps, caught, sources, returns, outcomes, success = 0, 0, 0, set(), [], set(), []
    for path in episode_files(directory):
        h, a = read_episode(path)
        eps += 1
        steps += int(h["steps"])
        caught += int(h.get("outcome") == "caught")
        outcomes.add(h.get("outcome"))
        sources.add(h.get("source"))
        returns.append(float(np.sum(a["rewards"], dtype=np.float64)))
        if isinstance(h.get("success"), bool):
            success.append(h["success"])
    out: dict[str, Any] = {"episodes": eps, "steps": steps,
                           "mean_return": float(np.mean(returns)) if returns else float("nan")}
    if eps and outcomes <= {"caught", "escaped", "truncated"} and outcomes & {"caught", "escaped"}:
        out["catch_rate"] = caught / eps
    if eps and len(success) == eps:
        out["success_rate"] = sum(success) / eps
    out["sources"] = sorted(s for s in sources if s)
    return out
