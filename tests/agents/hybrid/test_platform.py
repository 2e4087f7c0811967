"""The hybrid agent on Platform-v0 (PyPI hybrid-platform): the wrappers, a tiny training run through the command
line, and saved policies that act in Platform-v0's own spaces through ``agents.hybrid.load_policy``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("gym_platform", reason="the platform extra (hybrid-platform) is not installed")

import gym_platform  # noqa: E402,F401 - registers Platform-v0

from agents.hybrid import load_policy  # noqa: E402
from agents.hybrid.platform import ENV_ID, PlatformGoal, ScaledParameters  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
EXPORTED = ROOT / "exported" / "hybrid_platform" / "policy"


def _params(run: float = 0.0, hop: float = 0.0, leap: float = 0.0) -> tuple[np.ndarray, ...]:
    return tuple(np.array([v], np.float32) for v in (run, hop, leap))


def test_the_goal_is_reported_when_the_runner_reaches_the_right_end() -> None:
    env = gym.make(ENV_ID)
    env.reset(seed=3)
    base = env.unwrapped
    base.player.position[0] = base._right_bound() - 10.0  # on the last platform, 10 units short of the goal
    _, reward, terminated, _, info = env.step((0, _params(run=1.0)))
    assert terminated and info["is_success"] is True
    assert reward == pytest.approx(10.0 / base._right_bound(), rel=1e-6)  # the rest of the course, the env's reward
    env.reset(seed=3)
    _, _, terminated, _, info = env.step((0, _params(run=1.0)))  # one run from the start: nowhere near
    assert not terminated and info["is_success"] is False


def test_a_fall_into_the_first_gap_ends_the_episode_without_success() -> None:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    for _ in range(40):  # full power runs, no jump: the runner runs off the first platform
        _, _, terminated, truncated, info = env.step((0, _params(run=1.0)))
        if terminated or truncated:
            break
    assert terminated and info["is_success"] is False
    assert env.unwrapped.player.position[0] < env.unwrapped._right_bound()


def test_scaled_parameters_span_each_actions_own_range() -> None:
    env = ScaledParameters(PlatformGoal(gym.make("Platform-v0").unwrapped))
    assert all(b.low[0] == -1.0 and b.high[0] == 1.0 for b in env.action_space.spaces[1].spaces)
    t, (run, hop, leap) = env.action((2, _params(-1.0, 0.0, 1.0)))
    assert t == 2 and run[0] == 0.0 and hop[0] == pytest.approx(360.0) and leap[0] == pytest.approx(430.0)
    t, (run, hop, leap) = env.action((1, _params(5.0, -7.0, 0.5)))  # outside [-1, 1]: clipped first
    assert run[0] == 30.0 and hop[0] == 0.0 and leap[0] == pytest.approx(322.5)
    back = env.reverse_action(env.action((0, _params(0.25, -0.5, 0.75))))
    np.testing.assert_allclose(np.concatenate(back[1]), [0.25, -0.5, 0.75], atol=1e-6)
    assert env.unwrapped.action_space.contains(env.action((1, _params(0.1, 0.2, 0.3))))


def test_scaled_parameters_refuse_an_action_space_without_parameters() -> None:
    with pytest.raises(ValueError, match="not a parameterized action space"):
        ScaledParameters(gym.make("CartPole-v1"))


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYBRID_THREADS": "1"}
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "agents.hybrid.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _play(policy, episodes: int, seed0: int) -> tuple[list[float], list[bool]]:
    """The policy on Platform-v0 itself (the package's env, its own spaces), one episode per seed."""
    env = gym.make("Platform-v0")
    returns, goals = [], []
    for s in range(seed0, seed0 + episodes):
        obs, _ = env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            action, state = policy.predict(obs, deterministic=True)
            assert state is None and env.action_space.contains(action), action
            obs, r, term, trunc, _ = env.step(action)
            total += r
            done = term or trunc
        base = env.unwrapped
        returns.append(total)
        goals.append(bool(base.player.position[0] >= base._right_bound()))
    env.close()
    return returns, goals


def test_a_tiny_ppo_run_saves_reloads_and_acts_in_platforms_own_spaces(tmp_path) -> None:
    out = tmp_path / "run"
    r = _run_cli(["ppo", "--env", ENV_ID, "--gym-packages", "agents.hybrid.platform", "--steps", "256",
                  "--n-envs", "2", "--n-steps", "64", "--batch-size", "64", "--n-epochs", "1", "--q-coef", "0",
                  "--lr", "1e-3", "--lr-anneal", "--target-kl", "0.03", "--eval-every", "100000",
                  "--eval-episodes", "3", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "policy.json").read_text())
    assert meta["env"]["id"] == ENV_ID and meta["env"]["gym_packages"] == ["agents.hybrid.platform"]
    assert meta["features_extractor_class"] == "FlattenExtractor"  # the MLP variant
    curve = (out / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("env_steps,mean_return,mean_length,success_rate")
    # --lr-anneal: the first update, with half the steps left, ran at half the rate
    with open(out / "log" / "progress.csv") as f:
        rates = [float(row["train/learning_rate"]) for row in csv.DictReader(f) if row.get("train/learning_rate")]
    assert rates and rates[0] == pytest.approx(5e-4)
    policy = load_policy(out / "policy")
    assert policy.action_space == gym.make("Platform-v0").action_space
    returns, _ = _play(policy, episodes=3, seed0=900_000)
    assert all(0.0 <= x <= 1.0 + 1e-6 for x in returns)
    # one observation gives one action; a list gives a list, the same actions
    env = gym.make("Platform-v0")
    obs = [env.reset(seed=s)[0] for s in (1, 2)]
    many, _ = policy.predict(obs, deterministic=True)
    for o, a in zip(obs, many, strict=True):
        one, _ = policy.predict(o, deterministic=True)
        assert one[0] == a[0] and all(np.array_equal(x, y) for x, y in zip(one[1], a[1], strict=True))
    # eval reads the env from the policy file and reports the goal
    r = _run_cli(["eval", "--policy", str(out / "policy"), "--episodes", "3"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["success_key"] == "is_success" and 0.0 <= res["success_rate"] <= 1.0


def test_env_policy_undoes_the_wrappers_the_network_was_trained_in(tmp_path) -> None:
    out = tmp_path / "run"
    r = _run_cli(["ppo", "--env", ENV_ID, "--gym-packages", "agents.hybrid.platform", "--steps", "64",
                  "--n-envs", "1", "--n-steps", "64", "--batch-size", "64", "--n-epochs", "1", "--q-coef", "0",
                  "--log-std-init", "-1", "--eval-every", "100000", "--eval-episodes", "1", "--out", str(out)],
                 tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / "policy.json").read_text())["log_std_init"] == -1.0
    policy = load_policy(out / "policy")
    # the parameters' spread starts at exp(-1); one update moves it by little
    assert np.allclose(policy.network.log_std.detach().numpy(), -1.0, atol=0.05)
    obs, _ = gym.make("Platform-v0").reset(seed=5)
    assert policy.network.observation_space.shape == (9,)  # the state, without the frame count
    box, _ = policy.network.predict(obs[0], deterministic=True)
    t, params = policy.predict(obs, deterministic=True)[0]
    assert t == int(round(float(box[0])))
    for (lo, hi), u, p in zip(((0, 30), (0, 720), (0, 430)), box[1:], params, strict=True):
        assert p[0] == pytest.approx(lo + (np.clip(u, -1, 1) + 1) / 2 * (hi - lo), rel=1e-5)


@pytest.mark.skipif(not EXPORTED.with_suffix(".pt").exists(), reason="no exported Platform policy")
def test_the_shipped_platform_policy_reaches_the_goal_in_platform_v0_itself() -> None:
    card = json.loads((EXPORTED.parent / "results.json").read_text())
    policy = load_policy(EXPORTED)
    returns, goals = _play(policy, episodes=40, seed0=900_000)
    # the first 40 of the held-out episodes its figures were measured on: the same outcomes, episode by episode
    assert goals == [bool(g) for g in card["shipped"]["goals_first_40"]]
    assert np.mean(returns) == pytest.approx(np.mean(card["shipped"]["returns_first_40"]), abs=1e-6)


def test_the_docs_example_plays_the_shipped_policy_to_the_goal() -> None:
    page = (ROOT / "docs" / "hybrid-platform.md").read_text()
    example = next(b for b in page.split("```python\n")[1:] if "import gym_platform" in b).split("```")[0]
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", example + "\nprint('reward', reward)\n"], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1].startswith("reward")
