"""Registers the project's envs with Gymnasium.

Gymnasium 0.29 calls :func:`register_envs` on ``import gymnasium`` through the ``gymnasium.envs``
entry point of this package, so ``gym.make("StardewFishing-v0")`` works with no other import.
Gymnasium 1.x dropped those plugins: there ``import envs`` (or the id ``"envs:StardewFishing-v0"``)
registers them, and ``gym.make_vec("StardewFishing-v0", num_envs=N)`` builds the batched simulator.
Keep this module free of heavy imports: an exception here breaks ``import gymnasium`` itself.
"""

from __future__ import annotations

from importlib.metadata import version

# Gymnasium 1.x or 0.29 (read from the package's metadata: 0.29 imports this module while `import gymnasium` is
# still under way). The envs speak both; the agents stack pins 0.29.
GYMNASIUM_1 = int(version("gymnasium").split(".")[0]) >= 1

ENVS = {
    "StardewFishing-v0": "envs.stardew.fishing_env:StardewFishingEnv",
    "ScreenGame-v0": "envs.screen.screen_env:ScreenGameEnv",
    "FishingPixels-v0": "envs.games.fishing_pixels:FishingPixelsEnv",
    # Debian's xjump through ScreenGame-v0 (a real game window; needs the xjump package and a display)
    "XJumpScreen-v0": "envs.games.xjump_screen:make_xjump_env",
}


# ScreenGame-v0 holds real keys and buttons: gym.make(..., max_episode_steps=N) truncates in a TimeLimit wrapper
# the env never sees, so a wrapper outside it releases the input whenever a step ends the episode
WRAPPERS = {
    "ScreenGame-v0": (("ReleaseInputOnEpisodeEnd", "envs.screen.screen_env:ReleaseInputOnEpisodeEnd"),),
    "XJumpScreen-v0": (("ReleaseInputOnEpisodeEnd", "envs.screen.screen_env:ReleaseInputOnEpisodeEnd"),),
}

# Gymnasium 1.x's make_vec builds these instead of N copies of the env (0.29's make_vec wants its experimental
# vector API for this, which these classes do not speak, so they are registered only on 1.x)
VECTOR_ENVS = {
    "StardewFishing-v0": "envs.stardew.vector_env:StardewFishingVectorEnv",
}


def register_envs() -> None:
    from gymnasium.envs.registration import WrapperSpec, register, registry

    for env_id, entry_point in ENVS.items():
        if env_id not in registry:
            wrappers = tuple(WrapperSpec(name, ep, {}) for name, ep in WRAPPERS.get(env_id, ()))
            vector = {"vector_entry_point": VECTOR_ENVS[env_id]} if GYMNASIUM_1 and env_id in VECTOR_ENVS else {}
            register(id=env_id, entry_point=entry_point, disable_env_checker=False, additional_wrappers=wrappers,
                     **vector)
