"""Registers the project's envs with Gymnasium.

Gymnasium 0.29 calls :func:`register_envs` on ``import gymnasium`` through the ``gymnasium.envs``
entry point of this package, so ``gym.make("StardewFishing-v0")`` works with no other import.
Keep this module free of heavy imports: an exception here breaks ``import gymnasium`` itself.
"""

from __future__ import annotations

ENVS = {
    "StardewFishing-v0": "envs.stardew.fishing_env:StardewFishingEnv",
    "ScreenGame-v0": "envs.screen.screen_env:ScreenGameEnv",
    "FishingPixels-v0": "envs.games.fishing_pixels:FishingPixelsEnv",
}


# ScreenGame-v0 holds real keys and buttons: gym.make(..., max_episode_steps=N) truncates in a TimeLimit wrapper
# the env never sees, so a wrapper outside it releases the input whenever a step ends the episode
WRAPPERS = {
    "ScreenGame-v0": (("ReleaseInputOnEpisodeEnd", "envs.screen.screen_env:ReleaseInputOnEpisodeEnd"),),
}


def register_envs() -> None:
    from gymnasium.envs.registration import WrapperSpec, register, registry

    for env_id, entry_point in ENVS.items():
        if env_id not in registry:
            wrappers = tuple(WrapperSpec(name, ep, {}) for name, ep in WRAPPERS.get(env_id, ()))
            register(id=env_id, entry_point=entry_point, disable_env_checker=False, additional_wrappers=wrappers)
