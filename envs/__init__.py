"""Gymnasium environments for game automation.

``StardewFishing-v0`` (the fishing minigame of Stardew Valley) and ``ScreenGame-v0`` (any live game
window). Importing this package registers both, which is what ``gym.make("envs:StardewFishing-v0")``
relies on; an installed package registers them on ``import gymnasium`` as well.
"""

from envs.registration import register_envs

register_envs()

__all__ = ["register_envs"]
