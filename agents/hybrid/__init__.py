"""The hybrid agent: one policy over a Dict action (type + continuous parameters + keys) for SB3 PPO and BC."""

from typing import Any

from agents.hybrid.layout import HybridBoxWrapper, HybridLayout

__all__ = ["HybridBoxWrapper", "HybridLayout", "load_policy"]


def load_policy(path: Any, device: str = "cpu") -> Any:
    """A saved policy that acts in its env's own spaces: :func:`agents.hybrid.native.load_policy` (imported on
    first use, so that ``import agents.hybrid`` does not load torch)."""
    from agents.hybrid.native import load_policy as _load

    return _load(path, device=device)
