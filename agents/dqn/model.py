"""The Q-network: input scaling inside the network, an MLP body, a dueling (or plain) head."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from agents.dqn.frames import FrameStack  # noqa: F401  (re-exported)

# raw game values -> about [-1, 1]: x' = (x - loc) / scale. Scaled features of envs.stardew.features
# are already in about [-1, 1] and pass unchanged.
RAW_SCALING: dict[str, tuple[float, float]] = {
    "bobberBarPos": (284.0, 284.0),
    "bobberPosition": (274.0, 274.0),
    "bobberBarSpeed": (0.0, 16.0),
    "distanceFromCatching": (0.5, 0.5),
}


def input_scaling(feature_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    loc = np.array([RAW_SCALING.get(n, (0.0, 1.0))[0] for n in feature_names], dtype=np.float64)
    scale = np.array([RAW_SCALING.get(n, (0.0, 1.0))[1] for n in feature_names], dtype=np.float64)
    return loc, scale


class QNetwork(nn.Module):
    """Q(s, .) for the two actions (0 release, 1 hold) from the named features."""

    def __init__(self, feature_names: Sequence[str], hidden: Sequence[int] = (256, 256), dueling: bool = True,
                 stack: int = 1):
        super().__init__()
        self.feature_names = tuple(feature_names)
        self.stack = stack  # input = features of the last `stack` ticks, newest first
        loc, scale = input_scaling(self.feature_names * stack)
        self.register_buffer("loc", torch.tensor(loc, dtype=torch.float32))
        self.register_buffer("inv_scale", torch.tensor(1.0 / scale, dtype=torch.float32))
        layers: list[nn.Module] = []
        d = len(self.feature_names) * stack
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.body = nn.Sequential(*layers)
        self.dueling = dueling
        if dueling:
            self.value = nn.Linear(d, 1)
            self.advantage = nn.Linear(d, 2)
        else:
            self.head = nn.Linear(d, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body((x - self.loc) * self.inv_scale)
        if self.dueling:
            a = self.advantage(z)
            return self.value(z) + a - a.mean(dim=-1, keepdim=True)
        return self.head(z)

    def folded_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The same function as a plain MLP: [(W, b)] in float64, ReLU between layers.

        The input scaling is folded into the first layer and the dueling head into the last one
        (Q = V + A - mean(A) is linear in the last hidden layer), so exporters need only
        MatMul/Add/Relu.
        """
        with torch.no_grad():
            linears = [m for m in self.body if isinstance(m, nn.Linear)]
            ws = [m.weight.double().numpy().copy() for m in linears]
            bs = [m.bias.double().numpy().copy() for m in linears]
            if self.dueling:
                wv, bv = self.value.weight.double().numpy(), self.value.bias.double().numpy()
                wa, ba = self.advantage.weight.double().numpy(), self.advantage.bias.double().numpy()
                w_last = wv + wa - wa.mean(axis=0, keepdims=True)
                b_last = bv + ba - ba.mean()
            else:
                w_last, b_last = self.head.weight.double().numpy(), self.head.bias.double().numpy()
            ws.append(w_last.copy())
            bs.append(b_last.copy())
            inv = self.inv_scale.double().numpy()
            loc = self.loc.double().numpy()
            # W0 ((x - loc) * inv) + b0 = (W0 * inv) x + (b0 - W0 (loc * inv))
            w0 = ws[0] * inv[None, :]
            bs[0] = bs[0] - w0 @ loc
            ws[0] = w0
        return list(zip(ws, bs, strict=True))


class QEnsemble(nn.Module):
    """The mean Q-values of several Q-networks on the same input (independent training seeds).

    Greedy on the mean, the members' uncorrelated errors partly cancel; exporters write each member
    as a branch of one graph (:meth:`folded_members`).
    """

    def __init__(self, members: Sequence[QNetwork]):
        super().__init__()
        if not members:
            raise ValueError("QEnsemble needs at least one Q-network")
        first = members[0]
        for i, m in enumerate(members[1:], 1):
            if (m.feature_names, m.stack) != (first.feature_names, first.stack):
                raise ValueError(f"ensemble member {i} reads {m.feature_names} x {m.stack} ticks, member 0 reads "
                                 f"{first.feature_names} x {first.stack}: members must share one input")
        self.members = nn.ModuleList(members)
        self.feature_names = first.feature_names
        self.stack = first.stack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(dim=0)

    def folded_members(self) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Each member's :meth:`QNetwork.folded_layers`, its last layer divided by the number of members,
        so that the branches' outputs sum to the ensemble's Q-values."""
        k = len(self.members)
        out = []
        for m in self.members:
            layers = m.folded_layers()
            w, b = layers[-1]
            layers[-1] = (w / k, b / k)
            out.append(layers)
        return out


def folded_members(q: QNetwork | QEnsemble) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """The branches whose outputs sum to ``q``'s Q-values: one for a single network."""
    return q.folded_members() if isinstance(q, QEnsemble) else [q.folded_layers()]
