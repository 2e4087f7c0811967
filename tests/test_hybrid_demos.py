"""Demonstrations and the offscreen pixel game: the file format reproduces what the agent saw and did."""

from __future__ import annotations

import numpy as np

from agents.hybrid.demos import DemoWriter, load_trajectories, read_episode
from agents.hybrid.layout import HybridLayout
from envs.games.fishing_pixels import FishingPixelsEnv
from envs.games.fishing_screen import scripted_action


def test_offscreen_frames_are_the_windows_frames_through_the_same_preprocessing() -> None:
    env = FishingPixelsEnv()
    obs, _ = env.reset(seed=3)
    assert np.array_equal(env.frame(), env.game.frame())
    assert np.array_equal(obs[-1], env.pre(env.game.frame()))
    assert env.observation_space.contains(obs)


def test_only_hold_and_reel_keys_press_the_button() -> None:
    env = FishingPixelsEnv()
    spec = env.action_spec
    assert env.pressed(spec.make("hold")) and env.pressed(spec.make("key", keys=["c"]))
    assert env.pressed(spec.make("key", keys=["space"]))
    assert not env.pressed(spec.noop()) and not env.pressed(spec.make("key", keys=[0, 0]))
    assert not env.pressed(spec.make("click")) and not env.pressed(spec.make("drag"))


def test_demo_files_reload_as_the_observations_and_actions_recorded(tmp_path) -> None:
    env = FishingPixelsEnv(max_steps=40)
    spec = env.action_spec
    layout = HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used)
    w = DemoWriter(tmp_path, {"source": "scripted", "layout": layout.to_json(), "keys": list(spec.keys),
                              "frame_stack": 4})
    obs, _ = env.reset(seed=11)
    w.start(obs)
    seen, acts = [obs], []
    rng = np.random.default_rng(0)
    while True:
        a = scripted_action(spec, env.render())
        if a["type"] != 0:  # a person's pointer is somewhere: put it anywhere, it must survive the file
            a = spec.make("hold", pointer=rng.uniform(-1, 1, 2))
        obs, r, term, trunc, _ = env.step(a)
        w.add(a, r, obs)
        seen.append(obs)
        acts.append(a)
        if term or trunc:
            break
    path = w.end(terminal=term, outcome="x")
    header, arrays = read_episode(path)  # allow_pickle=False inside
    assert header["format"] == "stardew-rl/demos" and header["version"] == 1 and header["source"] == "scripted"
    (traj,) = load_trajectories(tmp_path)
    assert np.array_equal(traj.obs, np.stack(seen))
    assert len(traj.acts) == len(acts) == len(traj.obs) - 1
    for box, a in zip(traj.acts, acts, strict=True):
        back = layout.to_dict(box)
        assert back["type"] == a["type"] and np.array_equal(back["pointer"], a["pointer"])
    assert (arrays["type"] == 0).any()  # no-op steps are recorded too


def test_hybrid_ppo_updates_offscreen_with_q_and_demo_losses(tmp_path) -> None:
    import torch as th
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.layout import HybridBoxWrapper
    from agents.hybrid.policy import HybridActorCriticPolicy, policy_kwargs_for
    from agents.hybrid.ppo import HybridPPO

    th.set_num_threads(1)
    env = HybridBoxWrapper(FishingPixelsEnv())
    demo_obs = np.stack([env.reset(seed=1)[0]] * 8)
    demo_acts = np.stack([env.layout.to_box(env.unwrapped.action_spec.make("key", keys=["c"]))] * 8)
    model = HybridPPO(HybridActorCriticPolicy, DummyVecEnv([lambda: env]), n_steps=16, batch_size=8, n_epochs=1,
                      critic_warmup=1, q_coef=0.5, demos=(demo_obs, demo_acts), bc_coef=1.0, bc_batches=2,
                      policy_kwargs=policy_kwargs_for(env.observation_space, env.layout, small=True), seed=0)
    model.learn(total_timesteps=32)
    logs = model.logger.name_to_value
    assert {"train/q_loss", "train/bc_neglogp"} <= set(logs)
