"""Turn user grid arguments (aabb with grid_size or voxel_size) into origin, voxel size and cell counts."""

from __future__ import annotations

import numpy as np

MAX_GRID = 1 << 20


def resolve_grid(aabb, grid_size=None, voxel_size=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (origin (3,), voxel size (3,), cells (3,) int) for a box and exactly one of grid_size / voxel_size."""
    box = np.asarray(aabb, dtype=np.float64)
    if box.shape != (2, 3) or not np.all(np.isfinite(box)) or np.any(box[1] <= box[0]):
        raise ValueError(f"aabb must be [[xmin, ymin, zmin], [xmax, ymax, zmax]] with max > min, got {box.tolist()}")
    if (grid_size is None) == (voxel_size is None):
        raise ValueError("give exactly one of grid_size and voxel_size")
    extent = box[1] - box[0]
    if grid_size is not None:
        cells = np.broadcast_to(np.asarray(grid_size, dtype=np.int64), (3,)).copy()
        if np.any(cells < 1) or np.any(cells >= MAX_GRID):
            raise ValueError(f"grid_size must be in [1, {MAX_GRID}), got {cells.tolist()}")
        return box[0], extent / cells, cells
    voxel = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,)).copy()
    if np.any(~(voxel > 0)):
        raise ValueError(f"voxel_size must be positive, got {voxel.tolist()}")
    cells = np.round(extent / voxel).astype(np.int64)
    if np.any(cells < 1) or np.any(cells >= MAX_GRID):
        raise ValueError(f"aabb / voxel_size gives a grid of {cells.tolist()} cells, outside [1, {MAX_GRID})")
    return box[0], voxel, cells
