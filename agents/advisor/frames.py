"""What the advisor sends and what its cache is keyed by: the frame (cropped to a region), as PNG, and its
perceptual hash.

The perceptual hash is ``imagehash.phash`` (the DCT hash; a well-kept library, small and numpy/Pillow based):
near-identical frames get hashes a few bits apart, so the cache looks a frame up by Hamming distance, not by exact
key. A 4x4-pixel change moves a 64-bit phash by a few bits, a shifted scene by dozens.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

Region = tuple[int, int, int, int]  # x, y, width, height in frame pixels


def check_region(region: Sequence[int] | None, frame_shape: Sequence[int] | None = None) -> Region | None:
    """``region`` as (x, y, w, h) ints, checked (and against a frame's (H, W, ...) shape when given); ValueError
    naming what is wrong."""
    if region is None:
        return None
    vals = list(region)
    if len(vals) != 4 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
        raise ValueError(f"region: need four integers x, y, width, height, got {region!r}")
    x, y, w, h = (int(v) for v in vals)
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise ValueError(f"region: x, y >= 0 and width, height >= 1, got {region!r}")
    if frame_shape is not None and (x + w > frame_shape[1] or y + h > frame_shape[0]):
        raise ValueError(f"region: {region!r} reaches past the frame ({frame_shape[1]}x{frame_shape[0]} pixels)")
    return (x, y, w, h)


def crop(frame: np.ndarray, region: Region | None) -> np.ndarray:
    """The region of an (H, W[, C]) frame (the whole frame for None)."""
    if region is None:
        return frame
    x, y, w, h = region
    return frame[y:y + h, x:x + w]


def encode_png(frame: np.ndarray) -> bytes:
    """An (H, W) gray or (H, W, 3) RGB uint8 frame as PNG bytes (Pillow, fast compression)."""
    from PIL import Image

    arr = np.ascontiguousarray(np.asarray(frame, np.uint8))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, 3) RGB uint8 (the servers that read what the advisor sends use it)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def frame_hash(frames: Sequence[np.ndarray], hash_size: int = 8) -> np.ndarray:
    """The perceptual hash of the frames sent with one query: each frame's ``imagehash.phash`` bits, concatenated,
    packed into uint8 (``hash_size**2 / 8`` bytes a frame)."""
    import imagehash
    from PIL import Image

    bits = [imagehash.phash(Image.fromarray(np.ascontiguousarray(np.asarray(f, np.uint8))), hash_size=hash_size)
            .hash.reshape(-1) for f in frames]
    return np.packbits(np.concatenate(bits))


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    """Bits that differ between two packed hashes of the same length."""
    return int(np.bitwise_count(np.bitwise_xor(a, b)).sum())
