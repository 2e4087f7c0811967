"""Playable game programs: real windows that ScreenGame-v0 can see and drive."""
