"""BC on a user's game does not settle on the majority action: by default it resamples the action types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]


CUE_MODULE = textwrap.dedent('''
    import gymnasium as gym
    import numpy as np
    from gymnasium import spaces


    class Cue(gym.Env):
        """Press the button the cue names; the cue asks for button 1 on one step in five."""

        def __init__(self):
            self.observation_space = spaces.Box(-5.0, 5.0, (6,), np.float32)
            self.action_space = spaces.Discrete(2)

        def _obs(self):
            o = self.np_random.normal(0.0, 1.0, 6).astype(np.float32)
            o[0] = 0.6 if self.want else -0.6
            return o

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            self.want = int(self.np_random.random() < 0.2)
            return self._obs(), {}

        def step(self, action):
            r = 1.0 if int(action) == self.want else 0.0
            self.t += 1
            self.want = int(self.np_random.random() < 0.2)
            return self._obs(), r, False, self.t >= 50, {}


    gym.register("UserCue-v0", entry_point=Cue)
''')


def test_bc_by_default_learns_a_rare_action_that_plain_bc_drops(tmp_path) -> None:
    from agents.hybrid.demos import DemoWriter
    from agents.hybrid.env_source import EnvSource
    from agents.hybrid.policy import load_policy

    (tmp_path / "user_cue.py").write_text(CUE_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        src = EnvSource("UserCue-v0", gym_packages=("user_cue",))
        layout, _ = src.probe()
        writer = DemoWriter(tmp_path / "demos", {"source": "scripted", "env": "UserCue-v0",
                                                 "layout": layout.to_json(), "type_names": list(layout.type_names)})
        env = src.make_raw()
        for ep in range(8):  # the expert: the cued button, 80% of its steps button 0
            obs, _ = env.reset(seed=ep)
            writer.start(obs)
            for _ in range(50):
                a = int(obs[0] > 0)
                obs, r, term, trunc, _ = env.step(a)
                writer.add(a, r, obs)
            writer.end(terminal=False)
        env.close()
    finally:
        sys.path.remove(str(tmp_path))
    share = {}
    for balance in ("balanced", "none"):
        out = tmp_path / balance
        r = subprocess.run([sys.executable, "-W", "ignore", "-m", "agents.hybrid.train", "bc", "--env", "UserCue-v0",
                            "--gym-packages", "user_cue", "--demos", str(tmp_path / "demos"), "--epochs", "1",
                            "--eval-every", "1", "--eval-episodes", "1", "--batch-size", "32", "--lr", "3e-4",
                            "--balance", balance, "--out", str(out)],
                           env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "HYBRID_THREADS": "1"},
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        policy = load_policy(out / "policy")
        rng = np.random.default_rng(0)
        cued = rng.normal(0.0, 1.0, (200, 6)).astype(np.float32)
        cued[:, 0] = 0.6  # every observation asks for the rare button
        acts, _ = policy.predict(cued, deterministic=True)
        share[balance] = float((np.rint(acts[:, 0]) == 1).mean())
        assert json.loads((out / "run.json").read_text())["args"]["balance"] == balance
    assert share["balanced"] > 0.5, share  # the rare action is learned
    assert share["none"] < share["balanced"], share
