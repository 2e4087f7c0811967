"""Gymnasium environments for game automation.

``StardewFishing-v0`` (the fishing minigame of Stardew Valley), ``ScreenGame-v0`` (any live game
window) and ``FishingPixels-v0`` (the minigame's window drawn offscreen, as pixels). Importing this package
registers all three, which is what ``gym.make("envs:StardewFishing-v0")``
relies on; on Gymnasium 0.29 an installed package registers them on ``import gymnasium`` as well (1.x loads
no plugins: ``import envs`` first).
"""

from envs.registration import register_envs

register_envs()

__all__ = ["register_envs"]
