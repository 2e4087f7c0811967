"""The pixel policy computes each distinct frame once: the same outputs and gradients as computing every frame of
every stack, chunked minibatches that make the sharing happen, and codes reused only while the weights stand."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer

from agents.hybrid.dagger import ChunkBatchSampler, chunk_loader
from agents.hybrid.layout import HybridLayout
from agents.hybrid.policy import FrameStackCNNLSTM, HybridActorCriticPolicy, policy_kwargs_for, shared_frames
from agents.hybrid.ppo import ChunkedRolloutBuffer

COLOUR = spaces.Box(0, 255, (4, 40, 40, 3), np.uint8)
LAYOUT = HybridLayout(type_names=("none", "hold"))


def stacks(n: int, depth: int = 4, shape: tuple[int, ...] = (40, 40, 3), seed: int = 0) -> np.ndarray:
    """n consecutive frame stacks of one game: stack i holds frames i..i+depth-1 of a random stream."""
    frames = np.random.default_rng(seed).integers(0, 256, (n + depth - 1, *shape), dtype=np.uint8)
    return frames[np.arange(n)[:, None] + np.arange(depth)[None, :]]


def policies(share_a: bool = True) -> tuple[HybridActorCriticPolicy, HybridActorCriticPolicy]:
    th.manual_seed(0)
    make = [HybridActorCriticPolicy(COLOUR, LAYOUT.box_space(), lambda _: 1e-3,
                                    **policy_kwargs_for(COLOUR, LAYOUT, small=True, share_frames=share))
            for share in (share_a, False)]
    make[1].load_state_dict(make[0].state_dict())
    return make[0], make[1]


def test_consecutive_stacks_hold_each_frame_once_and_a_shuffled_batch_shares_nothing() -> None:
    obs = th.as_tensor(stacks(32))
    distinct, inverse = shared_frames(obs)
    assert len(distinct) == 32 + 3  # the first stack's 4 frames, then one new frame a step
    flat = obs.reshape(-1, *obs.shape[2:])
    assert th.equal(flat[distinct][inverse], flat)
    shuffled = obs[th.as_tensor([5, 17, 2, 30, 11, 24, 8, 20])]
    assert shared_frames(shuffled) is None
    # two games side by side: sharing within each, none across
    two = th.cat([obs[:8], th.as_tensor(stacks(8, seed=1))])
    assert len(shared_frames(two)[0]) == 2 * (8 + 3)


@pytest.mark.parametrize("as_float", [False, True])
def test_sharing_frames_gives_the_same_values_log_probs_and_gradients(as_float: bool) -> None:
    shared, every = policies()
    obs = th.as_tensor(stacks(24))
    obs = obs.float() if as_float else obs  # SB3's rollout buffer hands out float32; ours uint8
    acts = th.as_tensor(np.stack([LAYOUT.to_box({"type": t % 2}) for t in range(24)]))
    out = [p.evaluate_actions(obs, acts) for p in (shared, every)]
    for a, b in zip(out[0], out[1], strict=True):
        assert th.allclose(a, b, atol=1e-6)
    for v, logp, ent in out:
        (v.sum() + logp.sum() + ent.sum()).backward()
    grads = [(a.grad, b.grad) for a, b in zip(shared.parameters(), every.parameters(), strict=True)
             if a.grad is not None or b.grad is not None]  # the Q head has no part in these losses
    assert len(grads) > 10
    for a, b in grads:
        assert th.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_acting_reuses_the_last_calls_codes_only_while_the_weights_are_unchanged() -> None:
    shared, every = policies()
    games = [stacks(12, seed=0), stacks(12, seed=1)]
    extractor: FrameStackCNNLSTM = shared.features_extractor
    calls = []
    extractor.cnn.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    # a vector of two games stepped together, as SB3's rollout and DAgger's collector act
    for t in range(10):
        batch = np.stack([games[0][t], games[1][t]])
        a = shared.predict(batch, deterministic=True)[0]
        b = every.predict(batch, deterministic=True)[0]
        np.testing.assert_array_equal(a, b)
    # the first call computes all 8 frames; then each row's 3 older frames were in the same row last call
    assert calls == [8] + [2] * 9, calls
    with th.no_grad():
        for p in shared.parameters():
            p.add_(0.01)  # an optimizer step: the cached codes are stale
    every.load_state_dict(shared.state_dict())
    calls.clear()
    batch = np.stack([games[0][10], games[1][10]])
    with th.no_grad():
        assert th.allclose(shared.predict_values(th.as_tensor(batch)), every.predict_values(th.as_tensor(batch)))
    assert calls == [8]


def test_chunked_rollout_minibatches_are_runs_of_one_envs_steps_covering_the_rollout_once() -> None:
    np.random.seed(0)
    buf = ChunkedRolloutBuffer(20, COLOUR, spaces.Box(-1, 1, (1,)), n_envs=3, chunk=8)
    assert buf.observations.dtype == np.uint8  # a quarter of SB3's float32 copy
    for t in range(20):
        obs = np.full((3, *COLOUR.shape), t, np.uint8)
        obs[:, 0, 0, 0, 0] = np.arange(3)  # which env
        buf.add(obs, np.zeros((3, 1)), np.zeros(3), np.zeros(3), th.zeros(3), th.zeros(3))
    buf.compute_returns_and_advantage(th.zeros(3), np.zeros(3))
    seen = []
    for batch in buf.get(16):
        o = batch.observations.numpy()
        env, step = o[:, 0, 0, 0, 0], o[:, 0, 0, 1, 0]
        seen += list(zip(env.tolist(), step.tolist(), strict=True))
        runs = np.split(np.arange(len(o)), np.nonzero((np.diff(step) != 1) | (np.diff(env) != 0))[0] + 1)
        assert all(len(r) <= 8 for r in runs)
        assert len(runs) <= 16 // 4  # runs of up to 8 steps (an env's last run of its 20 steps is 4)
    assert sorted(seen) == [(e, t) for e in range(3) for t in range(20)]
    plain = ChunkedRolloutBuffer(4, COLOUR, spaces.Box(-1, 1, (1,)), n_envs=1, chunk=1)
    assert isinstance(plain, RolloutBuffer)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        ChunkedRolloutBuffer(4, COLOUR, spaces.Box(-1, 1, (1,)), chunk=0)


def test_daggers_chunked_batches_are_runs_of_consecutive_labels_and_chunk_1_is_imitations_shuffle() -> None:
    from torch.utils.data import DataLoader

    batches = list(ChunkBatchSampler(100, 16, 8, th.Generator().manual_seed(3)))
    assert len(batches) == 6 and all(len(b) == 16 for b in batches)
    flat = [i for b in batches for i in b]
    assert len(set(flat)) == len(flat)  # no label twice a pass
    runs = [np.split(b, np.nonzero(np.diff(b) != 1)[0] + 1) for b in batches]
    assert all(len(r) <= 3 for r in runs)  # two runs of 8, or three where the short last run (96-99) sits
    even = list(ChunkBatchSampler(96, 16, 8, th.Generator().manual_seed(3)))
    assert all(np.all(np.diff(b[:8]) == 1) and np.all(np.diff(b[8:]) == 1) and b[0] % 8 == 0 for b in even)
    # DAgger's loader with chunk 1 repeats imitation's usual shuffling loader batch for batch, pass after pass
    data = th.arange(100)
    ours = chunk_loader(data, 16, 1, th.Generator().manual_seed(5))
    theirs = DataLoader(data, 16, shuffle=True, drop_last=True, generator=th.Generator().manual_seed(5))
    for _ in range(3):
        assert [b.tolist() for b in ours] == [b.tolist() for b in theirs]
    with pytest.raises(ValueError, match="fewer than one batch"):
        ChunkBatchSampler(10, 16, 4, th.Generator())


def test_pixel_ppo_keeps_uint8_rollouts_in_runs_and_the_old_way_keeps_sb3s_buffer() -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.layout import HybridBoxWrapper
    from agents.hybrid.ppo import HybridPPO
    from envs.games.fishing_pixels import FishingPixelsEnv

    venv = DummyVecEnv([lambda: HybridBoxWrapper(FishingPixelsEnv(size=(40, 40)))] * 2)
    layout = venv.envs[0].layout
    space = venv.observation_space
    for share, chunk, buffer, dtype in ((True, 8, ChunkedRolloutBuffer, np.uint8), (False, 1, RolloutBuffer, np.float32)):
        model = HybridPPO(HybridActorCriticPolicy, venv, n_steps=16, batch_size=16, n_epochs=1, chunk=chunk,
                          uint8_rollouts=share, seed=0, device="cpu",
                          policy_kwargs=policy_kwargs_for(space, layout, small=True, share_frames=share))
        assert type(model.rollout_buffer) is buffer and model.rollout_buffer.observations.dtype == dtype
        model.learn(32)  # two rollouts and updates through the Q head's pass as well
        assert model.num_timesteps == 32


def test_a_policy_trained_the_old_way_saves_the_same_file_and_loads_the_fast_way(tmp_path) -> None:
    from agents.hybrid.policy import load_policy, save_policy

    shared, every = policies()
    save_policy(every, tmp_path / "old")
    save_policy(shared, tmp_path / "new")
    assert (tmp_path / "old.json").read_text() == (tmp_path / "new.json").read_text()
    assert load_policy(tmp_path / "old").features_extractor.share_frames
