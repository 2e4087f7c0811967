"""The hybrid action distribution: Categorical(type) x Normal(continuous params) x Bernoulli(binary params).

An action is the flat vector of :class:`~agents.hybrid.layout.HybridLayout`. Its log-probability is

    log p(a) = log Cat(t) + sum_c m_c(t) log N(x_c; mu_c, sigma_c) + sum_b n_b(t) log Bern(k_b; p_b)

where ``m(t)``/``n(t)`` are the layout's masks: a parameter counts only when the chosen type uses it. The entropy is
the entropy of that joint distribution over the parameters that exist,

    H = H(Cat) + sum_t pi_t [ sum_c m_c(t) H(N_c) + sum_b n_b(t) H(Bern_b) ].

Written against SB3 2.2.1's :class:`~stable_baselines3.common.distributions.Distribution` so PPO and imitation's BC
(which calls ``policy.evaluate_actions``) use it unchanged.
"""

from __future__ import annotations

import torch as th
from stable_baselines3.common.distributions import Distribution
from torch import nn
from torch.distributions import Bernoulli, Categorical, Normal

from agents.hybrid.layout import HybridLayout


class HybridDistribution(Distribution):
    def __init__(self, layout: HybridLayout):
        super().__init__()
        self.layout = layout
        self.n_types, self.n_cont, self.n_bin = layout.n_types, layout.n_cont, layout.n_bin
        self._cont_mask = th.as_tensor(layout.cont_mask())
        self._bin_mask = th.as_tensor(layout.bin_mask())
        self.type_dist: Categorical | None = None
        self.cont_dist: Normal | None = None
        self.bin_dist: Bernoulli | None = None

    # ---- network -----------------------------------------------------------------------------------------
    def proba_distribution_net(self, latent_dim: int, log_std_init: float = 0.0) -> tuple[nn.Module, nn.Parameter]:
        """One linear layer emitting [type logits | Gaussian means | Bernoulli logits]; a state-free log std."""
        net = nn.Linear(latent_dim, self.n_types + self.n_cont + self.n_bin)
        log_std = nn.Parameter(th.ones(self.n_cont) * log_std_init, requires_grad=True)
        return net, log_std

    def proba_distribution(self, action_logits: th.Tensor, log_std: th.Tensor) -> HybridDistribution:
        T, C = self.n_types, self.n_cont
        self._cont_mask = self._cont_mask.to(device=action_logits.device, dtype=action_logits.dtype)
        self._bin_mask = self._bin_mask.to(device=action_logits.device, dtype=action_logits.dtype)
        self.type_dist = Categorical(logits=action_logits[:, :T])
        if C:
            mean = action_logits[:, T:T + C]
            self.cont_dist = Normal(mean, th.ones_like(mean) * log_std.exp())
        if self.n_bin:
            self.bin_dist = Bernoulli(logits=action_logits[:, T + C:])
        return self

    # ---- SB3 interface -----------------------------------------------------------------------------------
    def _types(self, actions: th.Tensor) -> th.Tensor:
        return th.clamp(th.round(actions[:, 0]), 0, self.n_types - 1).long()

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        assert self.type_dist is not None, "call proba_distribution first"
        t = self._types(actions)
        lp = self.type_dist.log_prob(t)
        C = self.n_cont
        if C:
            lp = lp + (self.cont_dist.log_prob(actions[:, 1:1 + C]) * self._cont_mask[t]).sum(-1)
        if self.n_bin:
            keys = (actions[:, 1 + C:] > 0.5).to(actions.dtype)
            lp = lp + (self.bin_dist.log_prob(keys) * self._bin_mask[t]).sum(-1)
        return lp

    def entropy(self) -> th.Tensor:
        assert self.type_dist is not None, "call proba_distribution first"
        probs = self.type_dist.probs  # (N, T)
        h = self.type_dist.entropy()
        if self.n_cont:
            h_c = self.cont_dist.entropy()  # (N, C)
            h = h + (probs * (h_c @ self._cont_mask.T)).sum(-1)
        if self.n_bin:
            h_b = self.bin_dist.entropy()  # (N, B)
            h = h + (probs * (h_b @ self._bin_mask.T)).sum(-1)
        return h

    def _assemble(self, t: th.Tensor, cont: th.Tensor | None, keys: th.Tensor | None) -> th.Tensor:
        parts = [t.float().unsqueeze(-1)]
        if cont is not None:
            parts.append(cont)
        if keys is not None:
            parts.append(keys.float())
        return th.cat(parts, dim=-1)

    def sample(self) -> th.Tensor:
        t = self.type_dist.sample()
        cont = self.cont_dist.sample() if self.n_cont else None
        keys = self.bin_dist.sample() if self.n_bin else None
        return self._assemble(t, cont, keys)

    def mode(self) -> th.Tensor:
        t = th.argmax(self.type_dist.logits, dim=-1)
        cont = self.cont_dist.mean if self.n_cont else None
        keys = (self.bin_dist.logits > 0).float() if self.n_bin else None
        return self._assemble(t, cont, keys)

    def actions_from_params(self, action_logits: th.Tensor, log_std: th.Tensor,
                            deterministic: bool = False) -> th.Tensor:
        self.proba_distribution(action_logits, log_std)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(self, action_logits: th.Tensor, log_std: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        actions = self.actions_from_params(action_logits, log_std)
        return actions, self.log_prob(actions)

    # ---- helpers -----------------------------------------------------------------------------------------
    def encode(self, actions: th.Tensor) -> th.Tensor:
        """Action -> network input for the Q head: one-hot type, then the parameters the type uses (others 0)."""
        t = self._types(actions)
        C = self.n_cont
        parts = [nn.functional.one_hot(t, self.n_types).float()]
        if C:
            parts.append(actions[:, 1:1 + C] * self._cont_mask.to(actions.device, actions.dtype)[t])
        if self.n_bin:
            parts.append((actions[:, 1 + C:] > 0.5).float() * self._bin_mask.to(actions.device, actions.dtype)[t])
        return th.cat(parts, dim=-1)
