"""Fixtures for tests that need a real X server and the real fishing window.

``xvfb`` (one for the whole test run): a private Xvfb on a free display (``-displayfd``), ``xset r off``; this process's ``DISPLAY``
points at it while the tests run; skips when Xvfb is not installed. ``fishing_window`` (module): ``python -m
envs.games.fishing`` on that display (an easy fish, Carp at level 10), its state read back through
:class:`envs.screen.testing.GameWindow`.
"""

from __future__ import annotations

import pytest

from envs.screen.testing import GameWindow, Xvfb

# an easy fish at level 10 (a long bar): the scripted pixel controller catches it reliably
FISHING_ARGS = ("--fish", "Carp", "--level", "10", "--seed", "3", "--pause", "20")


@pytest.fixture(scope="session")
def xvfb():
    if not Xvfb.available():
        pytest.skip("Xvfb is not installed (make test installs it as root)")
    with Xvfb() as x:
        yield x


@pytest.fixture(scope="module")
def fishing_window(xvfb):
    with GameWindow(xvfb.display, FISHING_ARGS, max_seconds=240) as g:
        yield g
