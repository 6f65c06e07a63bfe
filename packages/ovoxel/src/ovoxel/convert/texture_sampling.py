"""Texture lookups with glTF wrap modes, nearest or bilinear filtering and a box-filtered mip chain (native sampler)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .. import _attr

WRAP_REPEAT, WRAP_CLAMP, WRAP_MIRROR = 0, 1, 2
FILTER_NEAREST, FILTER_LINEAR = 0, 1


def _square_power_of_two(image: np.ndarray) -> np.ndarray:
    """Resample a texture to a square power-of-two size (the larger side, rounded to the nearest power of two)."""
    height, width = image.shape[:2]
    if height == width and height & (height - 1) == 0:
        return image
    side = 1 << int(round(np.log2(max(height, width))))
    squeezed = image[..., 0] if image.shape[2] == 1 else image
    resized = np.asarray(Image.fromarray(squeezed).resize((side, side), Image.LANCZOS), dtype=np.uint8)
    return resized.reshape(side, side, image.shape[2])


def as_linear_image(image: np.ndarray) -> np.ndarray:
    """`image` as uint8 (H, W, C) ((H, W) gets C = 1), resampled to a square power-of-two side if it is not one."""
    image = np.asarray(image, dtype=np.uint8)
    return _square_power_of_two(image[..., None] if image.ndim == 2 else image)


class MipTexture:
    """A uint8 (H, W, C) texture (C <= 16) with its 2x2 box-averaged (truncating) mip chain down to 1x1.

    A list of same-size images is interleaved channel-wise into one texture (one lookup serves them all).
    Linear-filtered textures are first resampled to a square power-of-two side; nearest ones keep one level.
    """

    def __init__(self, image: np.ndarray | list[np.ndarray], filter_mode: int = FILTER_LINEAR,
                 wrap: int = WRAP_REPEAT) -> None:
        images = image if isinstance(image, list) else [image]
        images = [as_linear_image(im) if filter_mode == FILTER_LINEAR else np.asarray(im, np.uint8) for im in images]
        self.filter_mode, self.wrap, self.size = filter_mode, wrap, images[0].shape[0]
        self.native = _attr.MipTexture(images, filter_mode, wrap)

    @property
    def levels(self) -> list[np.ndarray]:
        """Copies of the mip levels, finest first."""
        return self.native.levels

    def sample(self, u: np.ndarray, v: np.ndarray, mip_level: np.ndarray) -> np.ndarray:
        """Sample at UVs (origin bottom-left) with a per-sample fractional mip level; returns float (n, C) in [0, 1]."""
        return self.native.sample(np.ravel(u), np.ravel(v), np.ravel(mip_level))
