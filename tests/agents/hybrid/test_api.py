"""The seed's Python API over any env: record, BC, PPO from BC with a user-written calculate_reward, evaluate."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents.hybrid.api import SeedReward, as_env_source, evaluate, train_rl_model
from agents.hybrid.demos import DemoWriter


class Squares(gym.Env):
    """A 24x24 picture with a bright square; the env's own reward: +1 for a click on it, -0.1 for a miss."""

    def __init__(self, steps: int = 10):
        self.steps = steps
        self.observation_space = spaces.Box(0, 255, (24, 24), np.uint8)
        self.action_space = spaces.Dict({"type": spaces.Discrete(2), "pointer": spaces.Box(-1, 1, (2,), np.float32)})

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.xy = self.np_random.integers(0, 20, 2)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        img = np.zeros((24, 24), np.uint8)
        img[self.xy[1]:self.xy[1] + 4, self.xy[0]:self.xy[0] + 4] = 255
        return img

    def step(self, action):
        self.t += 1
        hit = False
        if int(action["type"]) == 1:
            px, py = ((np.asarray(action["pointer"]) + 1) / 2 * 23).round().astype(int)
            hit = self.xy[0] <= px < self.xy[0] + 4 and self.xy[1] <= py < self.xy[1] + 4
        r = (1.0 if hit else -0.1) if int(action["type"]) == 1 else 0.0
        return self._obs(), r, False, self.t >= self.steps, {}


class ClicksPaid:
    """A user's reward in the seed's signature: 1 for every click, whatever it hits."""

    def __init__(self):
        self.calls = 0

    def calculate_reward(self, current_frame, previous_frames, action):
        self.calls += 1
        assert current_frame.shape == (24, 24) and len(previous_frames) >= 1
        return 1.0 if int(action["type"]) == 1 else 0.0


def expert_demos(path, episodes: int = 4) -> None:
    src = as_env_source(Squares)
    layout, _ = src.probe()
    w = DemoWriter(path, {"source": "scripted", "env": "Squares", "layout": layout.to_json(),
                          "type_names": list(layout.type_names), "frame_stack": 4})
    env = src.make()  # as the agent sees it: frames stacked
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        w.start(obs)
        inner = env.unwrapped
        for _ in range(10):
            p = (inner.xy + 1.5) / 23 * 2 - 1
            a = {"type": 1, "pointer": p.astype(np.float32)}
            obs, r, term, trunc, _ = env.step(layout.to_box(a))
            w.add(a, r, obs)
            if term or trunc:
                break
        w.end(terminal=False)
    env.close()


def test_train_rl_model_clones_the_demos_then_runs_ppo_on_the_users_reward(tmp_path) -> None:
    expert_demos(tmp_path / "recordings")
    reward = ClicksPaid()
    policy = train_rl_model(agent=Squares, demo_dir=tmp_path / "recordings", reward_function=reward,
                            out=tmp_path / "model", bc_epochs=2,
                            bc_options={"eval_every": 2, "eval_episodes": 1, "batch_size": 8},
                            ppo_steps=64, ppo_options={"n_steps": 32, "batch_size": 32, "n_epochs": 1,
                                                       "eval_every": 10_000, "eval_episodes": 1})
    for stage in ("bc", "ppo"):
        assert (tmp_path / "model" / stage / "policy.pt").is_file()
    run = json.loads((tmp_path / "model" / "ppo" / "run.json").read_text())
    assert run["args"]["init"].endswith("bc/policy") and run["args"]["critic_warmup"] == 2
    assert policy.observation_space.shape == (4, 24, 24) and reward.calls > 64
    res = evaluate(policy, agent=Squares, reward_function=ClicksPaid(), episodes=3)
    # the user's reward (whole clicks), not the env's own (which takes 0.1 for a miss)
    assert res["episodes"] == 3 and all(float(r).is_integer() for r in res["returns"])
    assert res["mean_length"] == 10.0


def test_seed_reward_needs_calculate_reward_and_ends_episodes_when_it_says() -> None:
    with pytest.raises(TypeError, match="calculate_reward"):
        SeedReward(Squares(), lambda *a: 0.0)

    class EndsAtOnce(ClicksPaid):
        def is_terminated(self, current_frame, previous_frames):
            return True

    env = SeedReward(Squares(), EndsAtOnce())
    env.reset(seed=0)
    _, r, term, _, _ = env.step({"type": 1, "pointer": np.zeros(2, np.float32)})
    assert r == 1.0 and term


def test_an_agent_that_names_no_env_is_refused() -> None:
    with pytest.raises(TypeError, match="agent: 3 is not"):
        as_env_source(3)
    with pytest.raises(ValueError, match="action_space: a ScreenGame-v0 game needs one"):
        as_env_source({"window_class": "xjump"})
