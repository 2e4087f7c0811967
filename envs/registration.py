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


def register_envs() -> None:
    from gymnasium.envs.registration import register, registry

    for env_id, entry_point in ENVS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point, disable_env_checker=False)
