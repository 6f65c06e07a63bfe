"""Z-order (Morton) codes for chunk-local voxel coordinates, x as the most significant axis at every level."""

from __future__ import annotations

import numpy as np

MAX_BITS = 10


def _spread_bits(values: np.ndarray) -> np.ndarray:
    """Place bit i of each value at bit 3*i of the result."""
    out = np.zeros(values.shape, dtype=np.int64)
    v = values.astype(np.int64)
    for bit in range(MAX_BITS):
        out |= ((v >> bit) & 1) << (3 * bit)
    return out


def _gather_bits(codes: np.ndarray) -> np.ndarray:
    """Inverse of `_spread_bits`: collect every third bit starting at bit 0."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for bit in range(MAX_BITS):
        out |= ((codes >> (3 * bit)) & 1) << bit
    return out


def morton_encode(coords: np.ndarray) -> np.ndarray:
    """Interleave (N, 3) coordinates in [0, 1024) into int64 codes with bit 3i+2 = x_i, 3i+1 = y_i, 3i = z_i."""
    coords = np.asarray(coords)
    return (_spread_bits(coords[:, 0]) << 2) | (_spread_bits(coords[:, 1]) << 1) | _spread_bits(coords[:, 2])


def morton_decode(codes: np.ndarray) -> np.ndarray:
    """Turn Morton codes back into (N, 3) int32 coordinates."""
    codes = np.asarray(codes, dtype=np.int64)
    return np.stack([_gather_bits(codes >> 2), _gather_bits(codes >> 1), _gather_bits(codes)], axis=1).astype(np.int32)
