"""The hybrid agent's commands on envs the project has never seen: registered by a user's own module, with
ScreenGame-style Dict, Discrete, Box and parameterized Tuple actions, image and vector observations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents.hybrid.env_source import EnvSource, parse_env_kwargs
from agents.hybrid.layout import HybridLayout

ROOT = Path(__file__).resolve().parents[3]

# a user's game module, written to a temporary folder: nothing of the project knows it
USER_MODULE = textwrap.dedent('''
    """A click-the-square game: a 40x40 RGB picture with a white square; click it for +1."""
    import gymnasium as gym
    import numpy as np
    from gymnasium import spaces


    class ClickSquare(gym.Env):
        metadata = {"render_modes": []}

        def __init__(self, size=40, steps=12):
            self.size, self.steps = size, steps
            self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
            self.action_space = spaces.Dict({"type": spaces.Discrete(2),
                                             "pointer": spaces.Box(-1.0, 1.0, (2,), np.float32)})

        def _obs(self):
            img = np.zeros((self.size, self.size, 3), np.uint8)
            x, y = self.target
            img[y:y + 8, x:x + 8] = 255
            return img

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.target = tuple(int(v) for v in self.np_random.integers(0, self.size - 8, 2))
            self.t, self.hits = 0, 0
            return self._obs(), {}

        def step(self, action):
            assert self.action_space.contains(action), action
            r = 0.0
            if int(action["type"]) == 1:
                px, py = ((np.asarray(action["pointer"]) + 1) / 2 * (self.size - 1)).round().astype(int)
                x, y = self.target
                hit = x <= px < x + 8 and y <= py < y + 8
                r = 1.0 if hit else -0.1
                self.hits += int(hit)
            self.t += 1
            done = self.t >= self.steps
            return self._obs(), r, False, done, ({"is_success": self.hits > 0} if done else {})


    class Platform(gym.Env):
        """A parameterized action: jump (how high) or run (how fast), on a vector observation."""

        def __init__(self):
            self.observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
            self.action_space = spaces.Tuple((spaces.Discrete(2), spaces.Tuple((
                spaces.Box(0.0, 1.0, (1,), np.float32), spaces.Box(-1.0, 1.0, (2,), np.float32)))))

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

        def step(self, action):
            assert self.action_space.contains(action), action
            t, params = action
            self.t += 1
            r = float(params[0][0]) if t == 0 else float(-abs(params[1][0]))
            return (self.np_random.uniform(-1, 1, 3).astype(np.float32), r, False, self.t >= 8, {})


    gym.register("UserClickSquare-v0", entry_point=ClickSquare)
    gym.register("UserPlatform-v0", entry_point=Platform)
''')


@pytest.fixture()
def user_module(tmp_path: Path) -> Path:
    folder = tmp_path / "usercode"
    folder.mkdir()
    (folder / "user_games.py").write_text(USER_MODULE)
    return folder


def run_cli(args: list[str], user_dir: Path, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{user_dir}", "HYBRID_THREADS": "1"}
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "agents.hybrid.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_ppo_then_eval_on_a_users_image_game_with_a_type_and_pointer_dict_action(user_module, tmp_path) -> None:
    out = tmp_path / "run"
    r = run_cli(["ppo", "--env", "UserClickSquare-v0", "--gym-packages", "user_games", "--env-kwargs", "steps:12",
                 "--steps", "128", "--n-envs", "2", "--n-steps", "32", "--batch-size", "32", "--n-epochs", "1",
                 "--eval-every", "100000", "--eval-episodes", "2", "--out", str(out)], user_module, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "policy.json").read_text())
    assert meta["env"] == {"id": "UserClickSquare-v0", "name": "UserClickSquare-v0", "kwargs": {"steps": 12},
                           "gym_packages": ["user_games"], "frame_stack": 4}
    assert meta["observation_space"]["shape"] == [4, 40, 40, 3]  # the single images, stacked: CNN -> LSTM
    assert meta["features_extractor_class"] == "FrameStackCNNLSTM"
    curve = (out / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("env_steps,mean_return,mean_length,success_rate")
    # eval finds the env (and the module registering it) in the policy file
    r = run_cli(["eval", "--policy", str(out / "policy"), "--episodes", "3"], user_module, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["episodes"] == 3 and res["mean_length"] == 12.0 and np.isfinite(res["mean_return"])
    assert -1.2 - 1e-9 <= res["mean_return"] <= 12.0
    assert "success_rate" in res and "catch_rate" not in res  # the env reports is_success, and has no fish


def test_eval_on_an_env_whose_module_is_not_given_names_the_option(user_module, tmp_path) -> None:
    r = run_cli(["ppo", "--env", "UserClickSquare-v0", "--steps", "1", "--out", str(tmp_path / "x")],
                user_module, tmp_path)
    assert r.returncode == 2 and "--env: UserClickSquare-v0" in r.stderr and "--gym-packages" in r.stderr
    r = run_cli(["ppo", "--env", "UserClickSquare-v0", "--gym-packages", "no_such_module_here", "--steps", "1",
                 "--out", str(tmp_path / "x")], user_module, tmp_path)
    assert r.returncode == 2 and "--gym-packages: no_such_module_here: cannot be imported" in r.stderr
    r = run_cli(["ppo", "--env", "UserClickSquare-v0", "--gym-packages", "user_games", "--env-kwargs", "colour:3",
                 "--steps", "1", "--out", str(tmp_path / "x")], user_module, tmp_path)
    assert r.returncode == 2 and "--env-kwargs" in r.stderr and "colour" in r.stderr
    assert not (tmp_path / "x").exists()


def test_ppo_and_eval_on_gymnasiums_own_discrete_and_box_envs(tmp_path) -> None:
    for env_id, low, high in (("CartPole-v1", 8.0, 500.0), ("Pendulum-v1", -2000.0, 0.0)):
        out = tmp_path / env_id
        r = run_cli(["ppo", "--env", env_id, "--steps", "128", "--n-envs", "1", "--n-steps", "64",
                     "--batch-size", "64", "--n-epochs", "1", "--eval-every", "100000", "--eval-episodes", "1",
                     "--out", str(out)], tmp_path, tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads((out / "policy.json").read_text())["features_extractor_class"] == "FlattenExtractor"
        r = run_cli(["eval", "--policy", str(out / "policy"), "--episodes", "2"], tmp_path, tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        res = json.loads(r.stdout.strip().splitlines()[-1])
        assert low <= res["mean_return"] <= high and "success_rate" not in res, (env_id, res)


def test_parameterized_tuple_actions_reach_the_env_in_its_own_space(user_module, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(user_module))
    src = EnvSource("UserPlatform-v0", gym_packages=("user_games",))
    env = src.make(seed=1)
    lay = env.layout
    assert lay.kind == "tuple" and lay.type_names == ("0", "1") and lay.dim == 1 + 1 + 2
    assert lay.params_used == {"0": ("p0",), "1": ("p1",)}
    for box in (np.array([0, 0.7, 0.3, -0.4], np.float32), np.array([1, 0.2, -0.5, 0.9], np.float32)):
        a = lay.to_dict(box)
        assert env.unwrapped.action_space.contains(a)
        assert np.allclose(lay.to_box(a), box)
        _, r, *_ = env.step(box)
        assert r == pytest.approx(0.7 if box[0] == 0 else -0.5)
    env.close()


def test_box_actions_keep_their_shape_and_bounds() -> None:
    space = spaces.Box(np.array([[-1, 0, 0], [0, 0, -2]], np.float32), np.float32(2.0), (2, 3), np.float32)
    lay = HybridLayout.from_space(space)
    assert lay.kind == "box" and lay.n_types == 1 and lay.dim == 7
    a = lay.to_dict(np.array([0, 5, -5, 1, 1, 1, 1], np.float32))
    assert a.shape == (2, 3) and space.contains(a) and a[0, 0] == 2.0 and a[0, 1] == 0.0
    assert HybridLayout.from_json(json.loads(json.dumps(lay.to_json()))) == lay


def test_an_unsupported_action_space_is_refused_naming_what_is_taken() -> None:
    with pytest.raises(ValueError, match="Discrete, Box, a Dict"):
        HybridLayout.from_space(spaces.MultiDiscrete([3, 3]))
    with pytest.raises(ValueError, match="parameterized"):
        HybridLayout.from_space(spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2))))


def test_env_kwargs_read_python_literals_and_bare_words() -> None:
    assert parse_env_kwargs(["level:3", "rate:0.5", "fast:True", "name:'x y'", "cls:xbill", "pos:[1, 2]"]) == {
        "level": 3, "rate": 0.5, "fast": True, "name": "x y", "cls": "xbill", "pos": [1, 2]}
    with pytest.raises(ValueError, match="key:value"):
        parse_env_kwargs(["level=3"])


def test_the_fishing_short_names_are_aliases_of_their_ids() -> None:
    assert EnvSource("pixels").alias == "pixels" and EnvSource("FishingPixels-v0").alias == "pixels"
    assert EnvSource("StardewFishing-v0").alias == "state"
    assert EnvSource("CartPole-v1").alias is None
    assert isinstance(EnvSource("CartPole-v1").make().unwrapped, gym.Env)
