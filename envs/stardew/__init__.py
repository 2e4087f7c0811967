"""Stardew Valley's fishing minigame: the rules, the simulator and StardewFishing-v0."""
