"""Resolve the grid of a conversion (box, voxel size, cell counts) the way upstream's converters do."""

from __future__ import annotations

import numpy as np


def _triple(value, name: str, dtype) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (3,)) if np.ndim(value) <= 1 else None
    if arr is None or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a number or 3 numbers, got {value!r}")
    return arr.astype(dtype)


def fit_aabb(vertices: np.ndarray, grid_size=None, voxel_size=None) -> np.ndarray:
    """Upstream's automatic box: the mesh bounds padded so that the surface sits inside the outermost voxels."""
    lo = vertices.min(axis=0).astype(np.float32)
    hi = vertices.max(axis=0).astype(np.float32)
    if voxel_size is not None:
        vs = _triple(voxel_size, "voxel_size", np.float32)
        pad = np.ceil((hi - lo) / vs) * vs - (hi - lo)
    else:
        pad = (hi - lo) / (_triple(grid_size, "grid_size", np.float32) - 1)
    return np.stack([lo - pad * 0.5, hi + pad * 0.5]).astype(np.float32)


def resolve_grid(aabb, grid_size=None, voxel_size=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (aabb [2,3] float32, voxel_size [3] float32, grid_size [3] int32) from a box and one of the sizes."""
    box = np.asarray(aabb, dtype=np.float32)
    if box.shape != (2, 3) or not np.all(np.isfinite(box)) or np.any(box[1] <= box[0]):
        raise ValueError(f"aabb must be [[xmin, ymin, zmin], [xmax, ymax, zmax]] with max > min, got {box.tolist()}")
    if grid_size is None and voxel_size is None:
        raise ValueError("give grid_size or voxel_size")
    if voxel_size is not None:
        vs = _triple(voxel_size, "voxel_size", np.float32)
        if np.any(vs <= 0):
            raise ValueError(f"voxel_size must be positive, got {vs.tolist()}")
        gs = np.round((box[1] - box[0]) / vs).astype(np.int32)
    else:
        gs = _triple(grid_size, "grid_size", np.float64)
        if np.any(gs < 1) or np.any(gs != np.round(gs)) or np.any(gs >= 1 << 20):
            raise ValueError(f"grid_size must be whole numbers in [1, 2^20), got {gs.tolist()}")
        gs = gs.astype(np.int32)
        vs = ((box[1] - box[0]) / gs.astype(np.float32)).astype(np.float32)
    if np.any(gs < 1) or np.any(gs >= 1 << 20):
        raise ValueError(f"the grid has {gs.tolist()} cells, outside [1, 2^20)")
    return box, vs, gs
