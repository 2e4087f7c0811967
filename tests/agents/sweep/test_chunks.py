"""A DQN run trained in chunks (as a sweep's trial trains it) learns exactly what it learns in one go."""

from __future__ import annotations

import torch

from agents.dqn.config import PRESETS
from agents.dqn.train import load_run_file, train


def test_a_dqn_run_stopped_at_each_chunk_and_resumed_ends_with_the_same_weights_as_one_run(tmp_path):
    cfg = PRESETS["smoke"].replace(name="chunks", num_games=32, total_steps=6_400, learning_starts=500,
                                   buffer_size=5_000, hidden=(16, 16), eval_every=3_200, checkpoint_every=3_200,
                                   eval_episodes=10, log_every=1_600, final_dev_episodes=0)
    whole = train(cfg, out_dir=tmp_path / "whole", progress=False)
    first = train(cfg, out_dir=tmp_path / "chunks", progress=False, stop_at=3_200)
    assert first["env_steps"] == 3_200  # stopped at the chunk's end, evaluated and saved there
    assert load_run_file(tmp_path / "chunks" / "best.pt")["step"] == 3_200
    second = train(cfg, out_dir=tmp_path / "chunks", progress=False, stop_at=6_400)
    assert second["env_steps"] == whole["env_steps"] == 6_400
    a = load_run_file(tmp_path / "whole" / "checkpoint.pt")["q"]
    b = load_run_file(tmp_path / "chunks" / "checkpoint.pt")["q"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(second["best_dev"][k] == whole["best_dev"][k] for k in ("step", "catch", "perfect", "episodes"))
