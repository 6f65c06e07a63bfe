"""Vectorised texture lookups with glTF wrap modes, bilinear filtering and a box-filtered mip chain."""

from __future__ import annotations

import numpy as np
from PIL import Image

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


class MipTexture:
    """A uint8 (H, W, C) texture with its 2x2 box-averaged (truncating) mip chain down to 1x1."""

    def __init__(self, image: np.ndarray, filter_mode: int = FILTER_LINEAR, wrap: int = WRAP_REPEAT) -> None:
        image = np.asarray(image, dtype=np.uint8)
        image = image[..., None] if image.ndim == 2 else image
        self.filter_mode, self.wrap = filter_mode, wrap
        self.levels = [image]
        if filter_mode == FILTER_LINEAR:
            self.levels = [_square_power_of_two(image)]
            while self.levels[-1].shape[0] > 1:
                level = self.levels[-1].astype(np.uint32)
                summed = level[0::2, 0::2] + level[1::2, 0::2] + level[0::2, 1::2] + level[1::2, 1::2]
                self.levels.append((summed // 4).astype(np.uint8))

    @property
    def size(self) -> int:
        """Height of the base level in texels."""
        return self.levels[0].shape[0]

    def _wrap(self, index: np.ndarray, extent: int) -> np.ndarray:
        if self.wrap == WRAP_CLAMP:
            return np.clip(index, 0, extent - 1)
        if self.wrap == WRAP_MIRROR:
            folded = np.mod(index, 2 * extent)
            return np.where(folded < extent, folded, 2 * extent - folded - 1)
        return np.mod(index, extent)

    def _sample_level(self, level: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        texels = self.levels[level]
        height, width = texels.shape[:2]
        x, y = u * width, (1.0 - v) * height
        if self.filter_mode == FILTER_NEAREST:
            return texels[self._wrap(np.floor(y).astype(np.int64), height),
                          self._wrap(np.floor(x).astype(np.int64), width)] / 255.0
        x0, y0 = np.floor(x - 0.5).astype(np.int64), np.floor(y - 0.5).astype(np.int64)
        wx, wy = (x - x0 - 0.5)[:, None], (y - y0 - 0.5)[:, None]
        xa, xb = self._wrap(x0, width), self._wrap(x0 + 1, width)
        ya, yb = self._wrap(y0, height), self._wrap(y0 + 1, height)
        flat = texels.reshape(height * width, -1)
        rows_a, rows_b = ya * width, yb * width
        wx, wy = wx.astype(np.float32), wy.astype(np.float32)
        top = (1 - wx) * flat.take(rows_a + xa, axis=0) + wx * flat.take(rows_a + xb, axis=0)
        bottom = (1 - wx) * flat.take(rows_b + xa, axis=0) + wx * flat.take(rows_b + xb, axis=0)
        return ((1 - wy) * top + wy * bottom) / np.float32(255.0)

    def sample(self, u: np.ndarray, v: np.ndarray, mip_level: np.ndarray) -> np.ndarray:
        """Sample at UVs (origin bottom-left) with a per-sample fractional mip level; returns float (n, C) in [0, 1]."""
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        out = np.empty((u.size, self.levels[0].shape[2]), dtype=np.float64)
        last = len(self.levels) - 1
        level = np.where(np.isfinite(mip_level), mip_level, 0.0)
        level = np.clip(level, 0.0, float(last)) if last else np.zeros_like(level)
        lower = np.minimum(np.floor(level).astype(np.int64), last)
        fraction = level - lower
        for index in np.unique(lower):
            rows = np.nonzero(lower == index)[0]
            value = self._sample_level(int(index), u[rows], v[rows])
            if index < last:
                blend = fraction[rows, None]
                value = (1 - blend) * value + blend * self._sample_level(int(index) + 1, u[rows], v[rows])
            out[rows] = value
        return out
