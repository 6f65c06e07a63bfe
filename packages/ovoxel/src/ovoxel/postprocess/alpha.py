"""Alpha handling for `to_glb`: 'auto' judged on the voxels' alpha (baking softens mask edges, so texels would
always say BLEND), and which faces of a BLEND export are fully opaque (they go to an OPAQUE primitive so viewers
keep depth writes for them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import as_numpy

OPAQUE_ALPHA = 254.5 / 255
"""Alpha at or above which a voxel or texel counts as fully opaque."""
BINARY_TOLERANCE = 5 / 255
"""Voxel alpha within this of 0 or 1 counts as binary: 'auto' then picks MASK."""
_POINTS_PER_PASS = 1 << 22


def resolve_mode(mode: str, voxel_alpha: Any) -> str:
    """`mode`, or for 'auto' the mode the voxels' alpha (N, 1) in [0, 1] needs: OPAQUE when all are opaque,
    MASK when all are within BINARY_TOLERANCE of 0 or 1, else BLEND."""
    if mode != "auto":
        return mode
    alpha = as_numpy(voxel_alpha).reshape(-1)
    if alpha.size == 0 or alpha.min() >= OPAQUE_ALPHA:
        return "OPAQUE"
    binary = (alpha <= BINARY_TOLERANCE) | (alpha >= 1 - BINARY_TOLERANCE)
    return "MASK" if binary.all() else "BLEND"


def _footprint(image: np.ndarray, points: np.ndarray, combine: np.ufunc) -> np.ndarray:
    """`combine` (np.minimum or np.maximum) over the 2 x 2 texels of `image` that bilinear filtering blends at each
    (..., 2) texel-space point (x, y)."""
    height, width = image.shape
    base = np.floor(points - 0.5).astype(np.int64)
    taps = [image[np.clip(base[..., 1] + dy, 0, height - 1), np.clip(base[..., 0] + dx, 0, width - 1)]
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1))]
    return combine.reduce(taps)


def face_min_alpha(faces: np.ndarray, uvs: np.ndarray, alpha: np.ndarray, texel_mask: np.ndarray) -> np.ndarray:
    """Least uint8 alpha (F,) over the baked texels each face covers: a barycentric lattice at most a texel apart
    over the face, each point's bilinear footprint. Unbaked (filled) texels count only for faces whose footprints
    hold no baked texel."""
    height, width = alpha.shape
    baked = np.where(texel_mask, alpha, np.uint8(255))
    corners = uvs[faces] * [width, height]  # (F, 3, 2) in texels; row i covers v in [i/H, (i+1)/H]
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).max(axis=1)
    steps = np.maximum(1, np.ceil(edges)).astype(np.int64)
    least = np.full(len(faces), 255, np.uint8)
    for n in np.unique(steps):
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        weights = np.stack([n - i[keep] - j[keep], i[keep], j[keep]], axis=1) / n  # (P, 3)
        chosen = np.flatnonzero(steps == n)
        per_pass = max(1, _POINTS_PER_PASS // len(weights))
        for start in range(0, len(chosen), per_pass):
            rows = chosen[start:start + per_pass]
            points = np.einsum("pk,fkd->fpd", weights, corners[rows])
            touches = _footprint(texel_mask, points, np.maximum).any(axis=1)
            least[rows] = np.where(touches, _footprint(baked, points, np.minimum).min(axis=1),
                                   _footprint(alpha, points, np.minimum).min(axis=1))
    return least


def opaque_faces(faces: np.ndarray, uvs: np.ndarray, base_color: np.ndarray, texel_mask: np.ndarray) -> np.ndarray:
    """Bool (F,): faces whose baked alpha (uint8 RGBA `base_color`) is fully opaque wherever they sample it."""
    return face_min_alpha(faces, uvs, base_color[..., 3], np.asarray(texel_mask, bool)) >= OPAQUE_ALPHA * 255
