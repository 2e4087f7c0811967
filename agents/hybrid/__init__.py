"""The hybrid agent: one policy over a Dict action (type + continuous parameters + keys) for SB3 PPO and BC."""

from agents.hybrid.layout import HybridBoxWrapper, HybridLayout

__all__ = ["HybridBoxWrapper", "HybridLayout"]
