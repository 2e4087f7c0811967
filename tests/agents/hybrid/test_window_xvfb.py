"""End to end on the real game window under Xvfb: demos through ScreenGame-v0, BC, then a few PPO updates."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import numpy as np
import pytest
import torch as th

pytestmark = pytest.mark.xvfb


def test_bc_then_ppo_train_end_to_end_on_the_game_window(fishing_window, tmp_path):  # noqa: F811
    from imitation.algorithms import bc
    from imitation.data import rollout
    from imitation.util import logger as imitation_logger
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.demos import DemoWriter, load_trajectories
    from agents.hybrid.layout import HybridBoxWrapper, HybridLayout
    from agents.hybrid.policy import HybridActorCriticPolicy, load_policy, policy_kwargs_for, save_policy
    from agents.hybrid.ppo import HybridPPO
    from envs.games.fishing_screen import make_fishing_screen_env, scripted_action

    th.set_num_threads(1)
    env = make_fishing_screen_env(grayscale=False, stop_hotkey=None, max_episode_steps=40)
    spec = env.action_spec
    layout = HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used)
    try:
        # 1. the scripted controller plays the window; its steps are written as a demonstration
        before = fishing_window.state()
        w = DemoWriter(tmp_path / "demos", {"source": "scripted", "layout": layout.to_json(),
                                            "keys": list(spec.keys), "frame_stack": 4})
        obs, _ = env.reset()
        w.start(obs)
        for _ in range(40):
            a = scripted_action(spec, env.render())
            obs, r, term, trunc, _ = env.step(a)
            w.add(a, r, obs)
            if term or trunc:
                break
        w.end(terminal=term)
        trajs = load_trajectories(tmp_path / "demos")
        assert len(trajs) == 1 and trajs[0].obs.shape[1:] == (4, 84, 84, 3)

        # 2. BC on those frames
        obs_space = env.observation_space
        policy = HybridActorCriticPolicy(obs_space, layout.box_space(), lambda _: 1e-3,
                                         **policy_kwargs_for(obs_space, layout, small=True))
        w0 = [p.detach().clone() for p in policy.action_net.parameters()]
        trainer = bc.BC(observation_space=obs_space, action_space=layout.box_space(), policy=policy,
                        demonstrations=rollout.flatten_trajectories(trajs), rng=np.random.default_rng(0),
                        batch_size=16, custom_logger=imitation_logger.configure(tmp_path / "bc_log", []))
        trainer.train(n_epochs=1, progress_bar=False, log_interval=10**9)
        assert any(not th.equal(a, b) for a, b in zip(w0, policy.action_net.parameters(), strict=True))
        save_policy(policy, tmp_path / "bc")

        # 3. PPO from BC's weights, a few updates, acting on the window through the Box wrapper
        venv = DummyVecEnv([lambda: HybridBoxWrapper(env, layout)])
        model = HybridPPO(HybridActorCriticPolicy, venv, n_steps=16, batch_size=16, n_epochs=1, q_coef=0.5,
                          policy_kwargs=policy_kwargs_for(obs_space, layout, small=True), seed=0)
        model.policy.load_state_dict(load_policy(tmp_path / "bc").state_dict())
        w1 = [p.detach().clone() for p in model.policy.parameters()]
        model.set_logger(configure(str(tmp_path / "ppo_log"), []))
        model.learn(total_timesteps=32)
        assert model.num_timesteps >= 32
        assert any(not th.equal(a, b) for a, b in zip(w1, model.policy.parameters(), strict=True))
        assert "train/q_loss" in model.logger.name_to_value
        # the game process received input during the run (the scripted C presses at least)
        after = fishing_window.state()
        assert after["ticks"] > before["ticks"]
        assert any(e["type"] in ("keydown", "mousedown") for e in fishing_window.events(0.0))
    finally:
        env.close()


def test_play_window_keeps_the_stop_chord_and_stops_cleanly_when_pressed(fishing_window, xvfb):  # noqa: F811
    from agents.hybrid.play import play_window

    done = threading.Event()

    def person_presses_the_chord() -> None:  # another process, through the X server, until the run has stopped
        fishing_window.wait_for(lambda s: s["keys_down"] == ["c"], 10)
        while not done.wait(0.5):
            subprocess.run(["xdotool", "key", "ctrl+shift+F12"], env={**os.environ, "DISPLAY": xvfb.display},
                           check=True, timeout=10)

    presser = threading.Thread(target=person_presses_the_chord, daemon=True)
    presser.start()
    t0 = time.monotonic()
    try:
        res = play_window("scripted", episodes=1000, max_seconds=60)  # the default: the stop switch is on
    finally:
        done.set()
        presser.join(15)
    assert res["stopped"] and time.monotonic() - t0 < 40, res
    assert fishing_window.wait_for(lambda s: s["keys_down"] == [] and not s["mouse_down"], 2) is not None
