"""CleanRL-style DQN for StardewFishing-v0, collecting with the batched FishingSim."""
