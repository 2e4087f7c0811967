"""`pip install stardew-rl` has no pygame, OpenCV, mss or pynput: the feature that needs one says which extra
installs it, where a bare ModuleNotFoundError from deep inside reset() used to name neither."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import DependencyNotInstalled

import envs  # noqa: F401  (registers the ids on Gymnasium 1.x)
from envs.optional import import_optional
from envs.screen.capture import ReplayCapture

ACTIONS = {"keys": ["space"]}


class _NotInstalled:
    """A meta-path finder that answers for ``names`` as the import system does for a package not installed."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import m`` (and its submodules) fail for each module as it does when the package is not installed."""
    for name in list(sys.modules):
        if name.partition(".")[0] in modules or name in modules:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NotInstalled(modules), *sys.meta_path])


def _frames() -> list[np.ndarray]:
    return [np.full((48, 64, 3), i, np.uint8) for i in range(8)]


def test_rendering_without_pygame_names_the_render_extra(monkeypatch):
    _missing(monkeypatch, "pygame")
    env = gym.make("StardewFishing-v0", render_mode="rgb_array")
    env.reset(seed=0)
    with pytest.raises(DependencyNotInstalled, match=r"render_mode.*needs pygame.*'render' extra.*stardew-rl\[render\]"):
        env.render()
    env.close()


def test_the_simulator_runs_without_any_optional_package(monkeypatch):
    _missing(monkeypatch, "pygame", "cv2", "mss", "pynput")
    env = gym.make("StardewFishing-v0")
    env.reset(seed=0)
    for _ in range(30):
        env.step(1)
    env.close()


def test_screen_game_without_opencv_names_the_screen_extra(monkeypatch):
    _missing(monkeypatch, "cv2")
    with pytest.raises(DependencyNotInstalled, match=r"needs opencv-python-headless.*'screen' extra"):
        gym.make("ScreenGame-v0", action_space=ACTIONS, capture=ReplayCapture(_frames()), input="dry-run")


@pytest.mark.parametrize(("module", "options", "feature"), [
    ("mss", {"input": "dry-run"}, "capture='mss'"),
    ("pynput", {"capture": "replay"}, "input='pynput'"),
])
def test_screen_game_without_its_capture_or_input_package_names_both(monkeypatch, module, options, feature):
    pytest.importorskip("cv2", reason="without OpenCV the env stops at the preprocessor, before capture and input")
    _missing(monkeypatch, module)
    if options.get("capture") == "replay":
        options = {**options, "capture": ReplayCapture(_frames())}
    with pytest.raises(DependencyNotInstalled, match=rf"{feature}.*needs {module}.*'screen' extra"):
        gym.make("ScreenGame-v0", action_space=ACTIONS, window_title="no such window", **options)


def test_a_failure_inside_an_installed_package_keeps_its_own_error(monkeypatch):
    # pygame is there but one of its own modules will not load: that error says more than "install pygame"
    _missing(monkeypatch, "pygame.surfarray")
    with pytest.raises(ModuleNotFoundError) as err:
        import_optional("pygame.surfarray", "a test")
    assert not isinstance(err.value, DependencyNotInstalled)
    assert err.value.name == "pygame.surfarray"


def test_fishing_pixels_without_pygame_names_the_screen_extra_when_made(monkeypatch):
    pytest.importorskip("cv2", reason="without OpenCV the env stops at the preprocessor first")
    _missing(monkeypatch, "pygame")
    with pytest.raises(DependencyNotInstalled, match=r"FishingPixels-v0.*needs pygame.*'screen' extra"):
        gym.make("FishingPixels-v0")
