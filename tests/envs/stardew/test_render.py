"""The offscreen picture (NumPy) is the window's picture (pygame), pixel for pixel."""

from __future__ import annotations

import numpy as np

from envs.stardew.render import ArrayRenderer, MinigameRenderer


def test_the_array_picture_is_pygames_picture_bit_for_bit_wherever_the_parts_are() -> None:
    array, window = ArrayRenderer(), MinigameRenderer(window=False)
    rng = np.random.default_rng(0)
    for i in range(600):
        values = dict(
            bar_pos=float(rng.uniform(0, 500)), bar_height=int(rng.integers(2, 200)),
            fish_pos=float(rng.uniform(-40, 580)),  # past both ends: the fish is clipped at the picture's edges
            progress=float(rng.uniform(-0.1, 1.1)),
            treasure_pos=float(rng.uniform(0, 530)) if i % 2 else None, treasure_level=float(rng.uniform(-0.2, 1.3)),
            in_bar=bool(i % 3), tick=int(rng.integers(0, 10**6)))
        window.draw_values(**values)
        assert np.array_equal(array.draw_values(**values), window.rgb_array()), values
    lamp = ((129, 552, 16, 8), (255, 255, 255))
    window.draw_values(**values).fill(lamp[1], lamp[0])
    out = np.zeros_like(window.rgb_array())
    assert array.draw_values(**values, lamp=lamp, out=out) is out
    assert np.array_equal(out, window.rgb_array())
