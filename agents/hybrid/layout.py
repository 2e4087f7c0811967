"""How a hybrid action is laid out in the flat Box that SB3 and imitation store, and the wrapper that maps it.

SB3 2.2.1 and imitation 1.0.1 refuse ``Dict`` action spaces. The hybrid agent therefore exposes one flat
``Box`` whose first component carries the discrete action-type index, followed by every continuous parameter
(the Dict's ``Box`` entries: pointer, drag_end, then others by name) and then every binary parameter (its ``MultiBinary`` entries)::

    [ type | pointer_x pointer_y | drag_end_x drag_end_y | key_0 ... key_K-1 ]

:class:`HybridLayout` records which parameters each type uses (so the distribution can mask the others), and
converts actions both ways without loss: a Dict action with float32 parameters survives ``to_box`` then
``to_dict`` bit for bit, and a canonical Box action (integer type, binary keys) survives the reverse.
A plain ``Discrete(n)`` space is the degenerate case: n types, no parameters. The other action spaces an env may
have map onto the same vector (``kind`` says which the env speaks, and ``to_dict`` returns an action of that space):

==========================================  =====================================================================
env action space                            layout
==========================================  =====================================================================
``Discrete(n)``                             ``kind="discrete"``: n types, no parameters
``Box(shape)``                              ``kind="box"``: one type ``act`` using one continuous block
                                            ``action`` (flattened; ``to_dict`` returns an array of ``shape``)
``Dict(type=Discrete, <Box | MultiBinary>)``  ``kind="dict"`` (ScreenGame-v0's): types, then the entries
``Tuple(Discrete(n), Tuple(Box_0..Box_n-1))``  ``kind="tuple"``, a parameterized action: type i uses block
                                            ``p<i>`` only; ``to_dict`` returns ``(i, (array_0, ..., array_n-1))``
==========================================  =====================================================================

The layout is a plain JSON-serialisable dict (``to_json``/``from_json``) so it can ride in SB3's zip and in the
demo headers without pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

PREFERRED_ORDER = ("pointer", "drag_end", "keys")


@dataclass(frozen=True)
class HybridLayout:
    """Type names, the parameter blocks and which blocks each type uses."""

    type_names: tuple[str, ...]
    # continuous blocks: (dict key, size, low, high); binary blocks: (dict key, size)
    cont_blocks: tuple[tuple[str, int, tuple[float, ...], tuple[float, ...]], ...] = ()
    bin_blocks: tuple[tuple[str, int], ...] = ()
    # type name -> dict keys of the parameter blocks that type reads
    params_used: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    type_key: str = "type"
    discrete_only: bool = False  # the env's space is a plain Discrete(n)
    # which space the env speaks: "dict", "discrete", "box" or "tuple" (see the module doc)
    kind: str = "dict"
    # original shapes of continuous blocks that are not flat (a Box action of shape (2, 3)); key -> shape
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    # ---- sizes -------------------------------------------------------------------------------------------
    @property
    def n_types(self) -> int:
        return len(self.type_names)

    @property
    def n_cont(self) -> int:
        return sum(b[1] for b in self.cont_blocks)

    @property
    def n_bin(self) -> int:
        return sum(b[1] for b in self.bin_blocks)

    @property
    def dim(self) -> int:
        return 1 + self.n_cont + self.n_bin

    def cont_mask(self) -> np.ndarray:
        """(n_types, n_cont) float32: 1 where type t uses continuous dimension c."""
        m = np.zeros((self.n_types, self.n_cont), dtype=np.float32)
        for t, name in enumerate(self.type_names):
            used = set(self.params_used.get(name, ()))
            j = 0
            for key, size, _, _ in self.cont_blocks:
                if key in used:
                    m[t, j:j + size] = 1.0
                j += size
        return m

    def bin_mask(self) -> np.ndarray:
        """(n_types, n_bin) float32: 1 where type t uses binary dimension b."""
        m = np.zeros((self.n_types, self.n_bin), dtype=np.float32)
        for t, name in enumerate(self.type_names):
            used = set(self.params_used.get(name, ()))
            j = 0
            for key, size in self.bin_blocks:
                if key in used:
                    m[t, j:j + size] = 1.0
                j += size
        return m

    # ---- spaces ------------------------------------------------------------------------------------------
    def box_space(self) -> spaces.Box:
        low = [0.0]
        high = [float(self.n_types - 1)]
        for _, _, lo, hi in self.cont_blocks:
            low += list(lo)
            high += list(hi)
        for _, size in self.bin_blocks:
            low += [0.0] * size
            high += [1.0] * size
        return spaces.Box(np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), dtype=np.float32)

    # ---- conversions -------------------------------------------------------------------------------------
    def to_box(self, action: Mapping[str, Any] | int | np.integer) -> np.ndarray:
        """Dict action (or an int for a Discrete space) -> flat float32 vector."""
        out = np.zeros(self.dim, dtype=np.float32)
        if self.discrete_only:
            out[0] = float(int(action))
            return out
        if self.kind == "box":
            out[1:] = np.asarray(action, dtype=np.float32).reshape(-1)
            return out
        if self.kind == "tuple":
            t, params = action
            out[0] = float(int(t))
            j = 1
            for (_, size, _, _), p in zip(self.cont_blocks, params, strict=True):
                out[j:j + size] = np.asarray(p, dtype=np.float32).reshape(size)
                j += size
            return out
        out[0] = float(int(action[self.type_key]))
        j = 1
        for key, size, _, _ in self.cont_blocks:  # a parameter the action leaves out (a key-only game's) is 0
            if key in action:
                out[j:j + size] = np.asarray(action[key], dtype=np.float32).reshape(size)
            j += size
        for key, size in self.bin_blocks:
            if key in action:
                out[j:j + size] = np.asarray(action[key]).reshape(size) > 0
            j += size
        return out

    def type_of(self, box: np.ndarray) -> int:
        return int(np.clip(np.rint(np.asarray(box, dtype=np.float64).reshape(-1)[0]), 0, self.n_types - 1))

    def to_dict(self, box: np.ndarray) -> dict[str, Any] | int:
        """Flat vector -> Dict action (an int for a Discrete space); continuous values clipped to their bounds."""
        box = np.asarray(box, dtype=np.float32).reshape(-1)
        t = self.type_of(box)
        if self.discrete_only:
            return t
        if self.kind in ("box", "tuple"):
            params, j = [], 1
            for key, size, lo, hi in self.cont_blocks:
                v = np.clip(box[j:j + size], np.array(lo, np.float32), np.array(hi, np.float32)).astype(np.float32)
                params.append(v.reshape(self.shapes.get(key, (size,))))
                j += size
            return params[0] if self.kind == "box" else (t, tuple(params))
        out: dict[str, Any] = {self.type_key: t}
        j = 1
        for key, size, lo, hi in self.cont_blocks:
            out[key] = np.clip(box[j:j + size], np.array(lo, np.float32), np.array(hi, np.float32)).astype(
                np.float32).reshape(self.shapes.get(key, (size,)))
            j += size
        for key, size in self.bin_blocks:
            out[key] = (box[j:j + size] > 0.5).astype(np.int8)
            j += size
        return out

    # ---- construction / serialisation --------------------------------------------------------------------
    @classmethod
    def from_space(cls, space: gym.Space, type_names: Sequence[str] | None = None,
                   params_used: Mapping[str, Sequence[str]] | None = None, type_key: str = "type") -> HybridLayout:
        """Build from a ``Discrete`` or a ``Dict`` with one ``Discrete`` type entry, ``Box`` and ``MultiBinary`` entries.

        ``params_used`` maps a type name to the Dict keys it reads; missing: every non-first type uses everything
        (type 0 is taken to be "none").
        """
        if isinstance(space, spaces.Discrete):
            names = tuple(type_names) if type_names is not None else tuple(str(i) for i in range(int(space.n)))
            return cls(type_names=names, discrete_only=True, kind="discrete")
        if isinstance(space, spaces.Box):
            return cls(type_names=tuple(type_names) if type_names is not None else ("act",),
                       cont_blocks=(_cont_block("action", space),), params_used={
                           (tuple(type_names)[0] if type_names is not None else "act"): ("action",)},
                       kind="box", shapes=_shape_of("action", space))
        if isinstance(space, spaces.Tuple):
            return cls._from_parameterized(space, type_names)
        if not isinstance(space, spaces.Dict) or type_key not in space.spaces \
                or not isinstance(space[type_key], spaces.Discrete):
            raise ValueError(f"unsupported action space {space}: the hybrid agent takes Discrete, Box, a Dict with a "
                             f"Discrete {type_key!r} entry and Box / MultiBinary entries (ScreenGame-v0's), or a "
                             "parameterized Tuple(Discrete(n), Tuple(Box, ... n of them))")
        n = int(space[type_key].n)
        names = tuple(type_names) if type_names is not None else tuple(str(i) for i in range(n))
        if len(names) != n:
            raise ValueError(f"{len(names)} type names for Discrete({n})")
        cont, binary = [], []
        shapes: dict[str, tuple[int, ...]] = {}
        # gymnasium sorts a Dict's keys; put the pointer first, as the screen env documents it
        order = sorted((k for k in space.spaces if k != type_key),
                       key=lambda k: (PREFERRED_ORDER.index(k) if k in PREFERRED_ORDER else len(PREFERRED_ORDER), k))
        for key in order:
            sub = space[key]
            if isinstance(sub, spaces.Box):
                cont.append(_cont_block(key, sub))
                shapes.update(_shape_of(key, sub))
            elif isinstance(sub, spaces.MultiBinary):
                binary.append((key, int(np.prod(sub.shape))))
            else:
                raise ValueError(f"{key}: unsupported sub-space {sub}")
        all_keys = tuple(order)
        if params_used is None:
            used = {name: (() if t == 0 else all_keys) for t, name in enumerate(names)}
        else:
            # a misspelt name was taken as "uses nothing": that type's parameters were never learned
            for name, keys in params_used.items():
                if name not in names:
                    raise ValueError(f"params_used: {name!r} is not an action type ({', '.join(names)})")
                unknown = [k for k in keys if k not in all_keys or k == type_key]
                if unknown:
                    params = [k for k in all_keys if k != type_key]
                    raise ValueError(f"params_used[{name!r}]: {unknown} not parameters of the space "
                                     f"({', '.join(params)})")
            used = {name: tuple(params_used.get(name, ())) for name in names}
        return cls(type_names=names, cont_blocks=tuple(cont), bin_blocks=tuple(binary), params_used=used,
                   type_key=type_key, shapes=shapes)

    @classmethod
    def _from_parameterized(cls, space: spaces.Tuple, type_names: Sequence[str] | None) -> HybridLayout:
        """``Tuple(Discrete(n), Tuple(Box_0, ..., Box_n-1))``: type i reads the parameters of Box i only."""
        parts = space.spaces
        ok = (len(parts) == 2 and isinstance(parts[0], spaces.Discrete) and isinstance(parts[1], spaces.Tuple)
              and len(parts[1].spaces) == int(parts[0].n)
              and all(isinstance(b, spaces.Box) for b in parts[1].spaces))
        if not ok:
            raise ValueError(f"unsupported Tuple action space {space}: a parameterized action space is "
                             "Tuple(Discrete(n), Tuple(Box_0, ..., Box_n-1)), one Box of parameters per type")
        n = int(parts[0].n)
        names = tuple(type_names) if type_names is not None else tuple(str(i) for i in range(n))
        if len(names) != n:
            raise ValueError(f"{len(names)} type names for Discrete({n})")
        blocks = tuple(_cont_block(f"p{i}", b) for i, b in enumerate(parts[1].spaces))
        shapes: dict[str, tuple[int, ...]] = {}
        for i, b in enumerate(parts[1].spaces):
            shapes.update(_shape_of(f"p{i}", b))
        return cls(type_names=names, cont_blocks=blocks, params_used={nm: (f"p{i}",) for i, nm in enumerate(names)},
                   kind="tuple", shapes=shapes)

    def to_json(self) -> dict[str, Any]:
        return {
            "type_names": list(self.type_names),
            "cont_blocks": [[k, s, list(lo), list(hi)] for k, s, lo, hi in self.cont_blocks],
            "bin_blocks": [[k, s] for k, s in self.bin_blocks],
            "params_used": {k: list(v) for k, v in self.params_used.items()},
            "type_key": self.type_key,
            "discrete_only": self.discrete_only,
            "kind": self.kind,
            "shapes": {k: list(v) for k, v in self.shapes.items()},
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HybridLayout:
        return cls(
            type_names=tuple(d["type_names"]),
            cont_blocks=tuple((k, int(s), tuple(lo), tuple(hi)) for k, s, lo, hi in d["cont_blocks"]),
            bin_blocks=tuple((k, int(s)) for k, s in d["bin_blocks"]),
            params_used={k: tuple(v) for k, v in d["params_used"].items()},
            type_key=d.get("type_key", "type"),
            discrete_only=bool(d.get("discrete_only", False)),
            kind=d.get("kind", "discrete" if d.get("discrete_only") else "dict"),
            shapes={k: tuple(int(x) for x in v) for k, v in d.get("shapes", {}).items()},
        )


def _cont_block(key: str, box: spaces.Box) -> tuple[str, int, tuple[float, ...], tuple[float, ...]]:
    size = int(np.prod(box.shape))
    return (key, size, tuple(float(x) for x in np.asarray(box.low, np.float64).reshape(-1)),
            tuple(float(x) for x in np.asarray(box.high, np.float64).reshape(-1)))


def _shape_of(key: str, box: spaces.Box) -> dict[str, tuple[int, ...]]:
    return {} if len(box.shape) == 1 else {key: tuple(int(x) for x in box.shape)}


def layout_of(space: gym.Space, spec: Any = None) -> HybridLayout:
    """The layout of an env's action space; ``spec`` may be a ``HybridActionSpec`` (type names, params used)."""
    if spec is not None and isinstance(space, spaces.Dict):
        return HybridLayout.from_space(space, type_names=list(spec.type_names),
                                       params_used={k: tuple(v) for k, v in dict(spec.params_used).items()})
    return HybridLayout.from_space(space)


class HybridBoxWrapper(gym.ActionWrapper):
    """Presents a Dict (or Discrete) action space as the flat Box of :class:`HybridLayout`; maps actions back.

    Without ``layout``, type names and the parameters each type uses come from the env's ``action_spec`` (a
    ``HybridActionSpec``: ScreenGame-v0 and FishingPixels-v0 both have one), else every type uses everything."""

    def __init__(self, env: gym.Env, layout: HybridLayout | None = None):
        super().__init__(env)
        spec = getattr(env.unwrapped, "action_spec", None)
        self.layout = layout if layout is not None else layout_of(env.action_space, spec)
        self.action_space = self.layout.box_space()

    def action(self, action: np.ndarray) -> dict[str, Any] | int:
        return self.layout.to_dict(action)
