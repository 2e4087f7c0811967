"""SB3 PPO with the hybrid policy's two extra training signals.

- ``q_coef``: after each PPO update, one pass over the rollout fits the Q head to the rollout's TD(lambda) targets
  (``rollout_buffer.returns`` = GAE advantage + V(s), an estimate of Q(s_t, a_t) for the action taken). Its gradient
  flows into the shared CNN+LSTM: the Q head is an auxiliary loss. ``q_coef=0`` turns it off (for the comparison).
- ``critic_warmup``: the first N updates train only the critic, V and Q (features detached), so PPO started from
  BC's weights does not tear the cloned policy apart with advantages from a random value head.
- ``demos`` + ``bc_coef``: after each PPO update, ``bc_batches`` minibatches of the demonstrations' negative
  log-likelihood (x ``bc_coef``): PPO keeps being pulled towards the demonstrator while it improves on it
  (the DAPG/"BC-regularised PPO" idea). ``bc_coef=0`` is plain PPO.
- ``chunk``: minibatches of runs of ``chunk`` consecutive steps of one env (:class:`ChunkedRolloutBuffer`), so
  the pixel policy's CNN computes each frame of a minibatch once instead of once per stack holding it (about 4x
  less CNN work with 4-frame stacks), at the cost of less varied minibatches. ``chunk=1`` (the default) is SB3's
  minibatches of single steps.
- ``uint8_rollouts`` (default True): frame-stack observations stay uint8 in the rollout buffer
  (:class:`ChunkedRolloutBuffer`), not SB3's float32 copy.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.type_aliases import RolloutBufferSamples
from torch.nn import functional as F

from agents.hybrid.policy import HybridActorCriticPolicy


class ChunkedRolloutBuffer(RolloutBuffer):
    """SB3's RolloutBuffer whose minibatches are runs of ``chunk`` consecutive steps of one env, the runs in
    random order (NumPy's global generator, as SB3 draws its own permutation). Every step is still used once per
    epoch; a minibatch of ``batch_size`` steps holds ``batch_size / chunk`` runs (the last run of an env's rollout
    may be shorter). ``chunk=1`` is SB3's own sampling.

    uint8 observations (frame stacks) are kept as uint8, not as SB3's float32: a quarter of the memory and of the
    copying (a rollout of 8 x 128 colour 4-frame stacks: 87 MB instead of 347 MB); the policy converts a minibatch
    as it converts any observation."""

    def __init__(self, *args: Any, chunk: int = 32, **kwargs: Any):
        if chunk < 1:
            raise ValueError(f"ChunkedRolloutBuffer: chunk must be >= 1, got {chunk}")
        self.chunk = chunk
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        super().reset()
        if self.observation_space.dtype == np.uint8:
            self.observations = np.zeros((self.buffer_size, self.n_envs, *self.obs_shape), dtype=np.uint8)

    def order(self) -> np.ndarray:
        """A permutation of the flattened steps: env e's step t is row ``e * buffer_size + t`` (SB3's
        ``swap_and_flatten``), so a run of rows is a run of one env's steps."""
        starts = np.concatenate([e * self.buffer_size + np.arange(0, self.buffer_size, self.chunk)
                                 for e in range(self.n_envs)])
        ends = np.minimum(starts + self.chunk, (starts // self.buffer_size + 1) * self.buffer_size)
        return np.concatenate([np.arange(starts[i], ends[i]) for i in np.random.permutation(len(starts))])

    def get(self, batch_size: int | None = None) -> Generator[RolloutBufferSamples, None, None]:
        if self.chunk == 1:
            yield from super().get(batch_size)
            return
        assert self.full, ""
        indices = self.order()
        if not self.generator_ready:
            for name in ("observations", "actions", "values", "log_probs", "advantages", "returns"):
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True
        batch_size = batch_size or len(indices)
        for start in range(0, len(indices), batch_size):
            yield self._get_samples(indices[start:start + batch_size])


class HybridPPO(PPO):
    """SB3's PPO with the extra training signals and options of this module's list (``q_coef``, ``critic_warmup``,
    ``demos`` + ``bc_coef``, ``chunk``, ``uint8_rollouts``); every other argument is SB3's."""

    def __init__(self, *args: Any, q_coef: float = 0.5, critic_warmup: int = 0,
                 demos: tuple[np.ndarray, np.ndarray] | None = None, bc_coef: float = 0.0, bc_batches: int = 8,
                 chunk: int = 1, uint8_rollouts: bool = True, **kwargs: Any):
        env = kwargs.get("env", args[1] if len(args) > 1 else None)
        box = env is None or isinstance(getattr(env, "observation_space", None), spaces.Box)
        if box and (chunk > 1 or uint8_rollouts):  # SB3 picks its Dict buffer for Dict observations itself
            kwargs.setdefault("rollout_buffer_class", ChunkedRolloutBuffer)
            kwargs.setdefault("rollout_buffer_kwargs", {"chunk": chunk})
        self.q_coef = q_coef
        self.critic_warmup = critic_warmup
        self.demos = demos
        self.bc_coef = bc_coef
        self.bc_batches = bc_batches
        self._demo_rng = np.random.default_rng(kwargs.get("seed") or 0)
        self._updates_done = 0
        super().__init__(*args, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        # the demonstrations (a gigabyte of frames for the pixel demos) belong to the run's input, not to ppo.zip
        return [*super()._excluded_save_params(), "demos", "_demo_rng"]

    def train(self) -> None:
        policy = self.policy
        warmup = self._updates_done < self.critic_warmup
        if warmup:
            self._critic_only()
        else:
            super().train()
        self._updates_done += 1
        if self.q_coef > 0 and isinstance(policy, HybridActorCriticPolicy):
            # in the warm-up the Q head (random until now: BC does not train it) must not move the shared features
            # either, or the cloned policy changes before PPO proper begins
            self._train_q(detach_features=warmup)
        if self.bc_coef > 0 and self.demos is not None:
            self._train_bc()

    def _train_bc(self) -> None:
        obs, acts = self.demos
        losses = []
        for _ in range(self.bc_batches):
            idx = self._demo_rng.integers(0, len(obs), self.batch_size)
            o = th.as_tensor(obs[idx], device=self.device)
            a = th.as_tensor(acts[idx], device=self.device)
            _, log_prob, _ = self.policy.evaluate_actions(o, a)
            loss = -self.bc_coef * log_prob.mean()
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            losses.append(loss.item() / self.bc_coef)
        self.logger.record("train/bc_neglogp", float(np.mean(losses)))

    def _critic_only(self) -> None:
        self.policy.set_training_mode(True)
        losses = []
        for _ in range(self.n_epochs):
            for data in self.rollout_buffer.get(self.batch_size):
                loss = F.mse_loss(data.returns, self.policy.value_only(data.observations))
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
                losses.append(loss.item())
        self.logger.record("train/critic_warmup_loss", float(np.mean(losses)))

    def _train_q(self, detach_features: bool = False) -> None:
        self.policy.set_training_mode(True)
        losses, preds, targets = [], [], []
        for data in self.rollout_buffer.get(self.batch_size):
            q = self.policy.q_values(data.observations, data.actions, detach_features=detach_features)
            loss = self.q_coef * F.mse_loss(q, data.returns)
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            losses.append(loss.item() / self.q_coef)
            preds.append(q.detach().cpu().numpy())
            targets.append(data.returns.cpu().numpy())
        y, p = np.concatenate(targets), np.concatenate(preds)
        ev = 1.0 - np.var(y - p) / (np.var(y) + 1e-8)
        self.logger.record("train/q_loss", float(np.mean(losses)))
        self.logger.record("train/q_explained_variance", float(ev))
