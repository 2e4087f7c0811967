"""The advice tool's JSON schema, generated from a Gymnasium action space, and the reply read back into it.

A model is asked for an action through one tool (Anthropic ``tools`` / OpenAI ``functions``) whose ``input_schema``
is built here from the env's own action space:

==================  ================================================================================================
space               JSON schema of the tool input
==================  ================================================================================================
``Discrete(n)``     ``{"action": integer 0..n-1}``, or a string enum of the action names when names are given
``Box(low, high)``  ``{"action": [k numbers]}`` (the flattened shape), each within its bounds
``MultiBinary(n)``  ``{"action": [n integers 0/1]}``
``Dict``            one property per key, each as above; the ``Discrete`` keys are required, the others default
                    to the space's zero (a hybrid action's type decides which parameters it reads)
==================  ================================================================================================

:func:`parse_action` turns a tool input back into an action of the space, or raises :class:`AdviceError` whose
``kind`` says why: ``"malformed"`` (not an object, a missing or unknown key, a wrong type or length, a name that is
not one of the action names) or ``"out_of_bounds"`` (a number outside its ``Box`` bounds, an index outside
``Discrete(n)``, a key state other than 0/1). An advice is never clipped into the space: a reply outside it is a
wrong reply, and the policy's own action is used instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

ACTION_KEY = "action"  # the property that holds a non-Dict action


class AdviceError(ValueError):
    """A model's reply that is not an action of the space; ``kind`` is ``"malformed"`` or ``"out_of_bounds"``."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def _check_supported(space: spaces.Space, where: str) -> None:
    if isinstance(space, spaces.Dict):
        for k, s in space.spaces.items():
            if isinstance(s, spaces.Dict):
                raise TypeError(f"{where}.{k}: nested Dict action spaces are not supported")
            _check_supported(s, f"{where}.{k}")
    elif not isinstance(space, (spaces.Discrete, spaces.Box, spaces.MultiBinary)):
        raise TypeError(f"{where}: {type(space).__name__} action spaces are not supported "
                        "(Discrete, Box, MultiBinary, or a Dict of them)")


def _leaf_schema(space: spaces.Space, names: Sequence[str] | None) -> dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        lo, n = int(space.start), int(space.n)
        if names is not None:
            if len(names) != n:
                raise ValueError(f"names: {len(names)} names for Discrete({n})")
            return {"type": "string", "enum": list(names),
                    "description": "one of: " + ", ".join(f"{nm} (index {lo + i})" for i, nm in enumerate(names))}
        return {"type": "integer", "minimum": lo, "maximum": lo + n - 1}
    if isinstance(space, spaces.MultiBinary):
        k = int(np.prod(space.shape))
        desc = "1 = held/on, 0 = released/off"
        if names is not None:
            desc += "; in this order: " + ", ".join(names)
        return {"type": "array", "items": {"type": "integer", "enum": [0, 1]}, "minItems": k, "maxItems": k,
                "description": desc}
    assert isinstance(space, spaces.Box)
    k = int(np.prod(space.shape))
    lo, hi = space.low.reshape(-1).astype(np.float64), space.high.reshape(-1).astype(np.float64)
    item: dict[str, Any] = {"type": "number"}
    if np.all(lo == lo[0]) and np.isfinite(lo[0]):
        item["minimum"] = float(lo[0])
    if np.all(hi == hi[0]) and np.isfinite(hi[0]):
        item["maximum"] = float(hi[0])
    out: dict[str, Any] = {"type": "array", "items": item, "minItems": k, "maxItems": k}
    if not (np.all(lo == lo[0]) and np.all(hi == hi[0])):
        out["description"] = "bounds per entry: " + ", ".join(f"[{a:g}, {b:g}]" for a, b in zip(lo, hi, strict=True))
    if names is not None:
        out["description"] = (out.get("description", "") + "; entries: " + ", ".join(names)).lstrip("; ")
    return out


def tool_input_schema(space: spaces.Space, names: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The JSON schema of the advice tool's input for ``space``.

    ``names`` labels parts of the space: for a ``Dict``, by key (``{"type": ["none", "click", ...], "keys": ["c",
    "space"]}``); for any other space, under ``"action"``. A labelled ``Discrete`` is asked for by name.
    """
    _check_supported(space, "action_space")
    names = dict(names or {})
    if isinstance(space, spaces.Dict):
        props = {k: _leaf_schema(s, names.get(k)) for k, s in space.spaces.items()}
        required = [k for k, s in space.spaces.items() if isinstance(s, spaces.Discrete)] or list(space.spaces)
    else:
        props = {ACTION_KEY: _leaf_schema(space, names.get(ACTION_KEY))}
        required = [ACTION_KEY]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _zero(space: spaces.Space) -> Any:
    if isinstance(space, spaces.Discrete):
        return int(space.start)
    if isinstance(space, spaces.MultiBinary):
        return np.zeros(space.shape, space.dtype)
    return np.clip(np.zeros(space.shape, space.dtype), space.low, space.high).astype(space.dtype)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _parse_leaf(space: spaces.Space, value: Any, names: Sequence[str] | None, where: str) -> Any:
    if isinstance(space, spaces.Discrete):
        lo, n = int(space.start), int(space.n)
        if isinstance(value, str):
            if names is None or value not in names:
                raise AdviceError("malformed", f"{where}: {value!r} is not one of the action names "
                                               f"{list(names) if names else '(none: give an index)'}")
            return lo + list(names).index(value)
        if not _is_number(value) or not math.isfinite(value) or value != int(value):
            raise AdviceError("malformed", f"{where}: {value!r} is not an action index")
        if not lo <= int(value) < lo + n:
            raise AdviceError("out_of_bounds", f"{where}: {int(value)} outside {lo}..{lo + n - 1}")
        return int(value)
    k = int(np.prod(space.shape))
    if _is_number(value) and k == 1:
        value = [value]
    if not isinstance(value, list) or len(value) != k:
        raise AdviceError("malformed", f"{where}: need a list of {k} numbers, got {value!r:.80}")
    if not all(_is_number(v) for v in value):
        raise AdviceError("malformed", f"{where}: not all numbers: {value!r:.80}")
    arr = np.asarray(value, np.float64)
    if not np.isfinite(arr).all():
        raise AdviceError("out_of_bounds", f"{where}: not finite: {value!r:.80}")
    if isinstance(space, spaces.MultiBinary):
        if not np.isin(arr, (0, 1)).all():
            raise AdviceError("out_of_bounds", f"{where}: key states must be 0 or 1, got {value!r:.80}")
        return arr.astype(space.dtype).reshape(space.shape)
    lo, hi = space.low.reshape(-1), space.high.reshape(-1)
    bad = (arr < lo - 1e-6) | (arr > hi + 1e-6)
    if bad.any():
        i = int(np.argmax(bad))
        raise AdviceError("out_of_bounds", f"{where}[{i}]: {arr[i]:g} outside [{lo[i]:g}, {hi[i]:g}]")
    return np.clip(arr, lo, hi).astype(space.dtype).reshape(space.shape)


def parse_action(space: spaces.Space, data: Any, names: Mapping[str, Sequence[str]] | None = None) -> Any:
    """A tool input -> an action of ``space`` (``int``, ``ndarray`` or a dict of them); :class:`AdviceError`
    (``kind`` ``"malformed"`` or ``"out_of_bounds"``) when it is not one. Extra keys are ignored only if named
    ``reason`` (a model's explanation)."""
    names = dict(names or {})
    if not isinstance(data, Mapping):
        raise AdviceError("malformed", f"tool input: need a JSON object, got {type(data).__name__}")
    keys = list(space.spaces) if isinstance(space, spaces.Dict) else [ACTION_KEY]
    extra = sorted(set(data) - set(keys) - {"reason"})
    if extra:
        raise AdviceError("malformed", f"tool input: unknown keys {extra} (expected {keys})")
    if not isinstance(space, spaces.Dict):
        if ACTION_KEY not in data:
            raise AdviceError("malformed", f"tool input: missing {ACTION_KEY!r}")
        return _parse_leaf(space, data[ACTION_KEY], names.get(ACTION_KEY), ACTION_KEY)
    out = {}
    for k, s in space.spaces.items():
        if k in data:
            out[k] = _parse_leaf(s, data[k], names.get(k), k)
        elif isinstance(s, spaces.Discrete):
            raise AdviceError("malformed", f"tool input: missing {k!r}")
        else:
            out[k] = _zero(s)
    return out


def action_to_json(space: spaces.Space, action: Any, names: Mapping[str, Sequence[str]] | None = None) -> Any:
    """An action of ``space`` in the tool's JSON form (what :func:`parse_action` reads back), for the prompt and the
    log."""
    names = dict(names or {})

    def leaf(s: spaces.Space, v: Any, nm: Sequence[str] | None) -> Any:
        if isinstance(s, spaces.Discrete):
            i = int(np.asarray(v).reshape(()))
            return nm[i - int(s.start)] if nm is not None and 0 <= i - int(s.start) < len(nm) else i
        arr = np.asarray(v).reshape(-1)
        return [int(x) for x in arr] if isinstance(s, spaces.MultiBinary) else [round(float(x), 4) for x in arr]

    if isinstance(space, spaces.Dict):
        return {k: leaf(s, action[k], names.get(k)) for k, s in space.spaces.items()}
    return {ACTION_KEY: leaf(space, action, names.get(ACTION_KEY))}
