"""Real-X-server fixtures (``xvfb``, ``fishing_window``): defined in envs/screen/pytest_plugin.py so
other test folders import them the same way."""

from envs.screen.pytest_plugin import FISHING_ARGS, fishing_window, xvfb  # noqa: F401
