import gymnasium as gym


def test_gym_make_resets_and_steps_to_an_episode_end():
    env = gym.make("StardewFishing-v0")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for _ in range(20_000):
        obs, reward, terminated, truncated, info = env.step(1)
        if terminated or truncated:
            break
    assert terminated and (info["caught"] or info["escaped"])
