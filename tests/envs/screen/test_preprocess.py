"""Frame preprocessing is the same for offscreen RGB frames and BGRA screen captures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from envs.games.fishing import FishingGame
from envs.screen.preprocess import FramePreprocessor, FrameStack


@pytest.fixture(scope="module")
def rgb_frame():
    g = FishingGame(seed=5)
    for _ in range(30):
        g.tick(True)
    return g.frame()


def test_bgra_capture_and_rgb_frame_of_the_same_picture_preprocess_identically(rgb_frame):
    p = FramePreprocessor()
    bgra = cv2.cvtColor(rgb_frame, cv2.COLOR_RGB2BGRA)
    a, b = p(rgb_frame), p(bgra)
    assert a.shape == (84, 84) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_explicit_channel_order_overrides_auto(rgb_frame):
    p = FramePreprocessor(grayscale=False)
    bgr = np.ascontiguousarray(rgb_frame[..., ::-1])
    np.testing.assert_array_equal(p(bgr, order="bgr"), p(rgb_frame))
    assert p(rgb_frame).shape == (84, 84, 3)


def test_size_is_height_width_and_options_are_checked():
    p = FramePreprocessor(size=(60, 40), interpolation="linear")
    assert p(np.zeros((480, 640, 4), np.uint8)).shape == (60, 40)
    with pytest.raises(ValueError, match="interpolation"):
        FramePreprocessor(interpolation="bogus")
    with pytest.raises(TypeError):
        p(np.zeros((10, 10, 3), np.float32))


def test_frame_stack_fills_with_the_first_frame_and_drops_the_oldest():
    s = FrameStack(4)
    f = [np.full((84, 84), 10 + i, np.uint8) for i in range(6)]  # no frame is black: a zero-filled stack shows
    out = s.reset(f[0])
    assert out.shape == (4, 84, 84) and (out == 10).all()
    for i in range(1, 6):
        out = s.push(f[i])
    assert [int(x[0, 0]) for x in out] == [12, 13, 14, 15]


def test_gray_weights_separate_the_fish_from_the_bar_and_agree_across_channel_orders(rgb_frame):
    from envs.stardew.render import BAR, FISH

    luma = FramePreprocessor(size=(1, 1))
    red = FramePreprocessor(size=(1, 1), gray_weights=(0.6, 0.3, 0.1))
    px = {c: np.full((1, 1, 3), c, np.uint8) for c in (BAR, FISH)}
    assert abs(int(luma(px[FISH])[0, 0]) - int(luma(px[BAR])[0, 0])) < 8
    assert abs(int(red(px[FISH])[0, 0]) - int(red(px[BAR])[0, 0])) > 50
    p = FramePreprocessor(gray_weights=(0.6, 0.3, 0.1))
    np.testing.assert_array_equal(p(rgb_frame), p(cv2.cvtColor(rgb_frame, cv2.COLOR_RGB2BGRA)))
