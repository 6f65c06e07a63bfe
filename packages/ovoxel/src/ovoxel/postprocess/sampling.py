"""Trilinear sampling of a sparse voxel attribute volume at world points (the texture-bake sampler of `to_glb`).

Convention (FlexGEMM's, as sparsetensor's `sample_sparse_volume`): voxel i's value sits at continuous grid
coordinate i + 0.5; a point blends the up to 8 surrounding voxel centres that exist, with trilinear weights
renormalised over the present ones, and gets zeros where none exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_CORNERS = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.int64)
_KEY_BITS = 21  # per axis: coordinates up to 2^21 - 1
_CHUNK = 1 << 20  # points per vectorised pass (bounds temporary memory to ~100 MB)


def _keys(cells: np.ndarray) -> np.ndarray:
    """Pack non-negative int64 (N, 3) cells below 2^21 into one sortable int64 key each."""
    return (cells[:, 0] << (2 * _KEY_BITS)) | (cells[:, 1] << _KEY_BITS) | cells[:, 2]


class SparseVolumeSampler:
    """Numpy trilinear sampler over voxels `coords` (N, 3) holding `values` (N, C); lookups are binary searches in
    the sorted voxel keys, so memory stays O(N) whatever the grid size."""

    def __init__(self, coords: np.ndarray, values: np.ndarray, origin: np.ndarray, voxel_size: np.ndarray) -> None:
        coords = np.asarray(coords, dtype=np.int64)
        if len(coords) and (coords.min() < 0 or coords.max() >= (1 << _KEY_BITS)):
            raise ValueError(f"voxel coordinates must lie in [0, {1 << _KEY_BITS}), got range "
                             f"[{coords.min()}, {coords.max()}]")
        keys = _keys(coords)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.values = np.asarray(values)[order]
        self.origin = np.asarray(origin, dtype=np.float64).reshape(3)
        self.voxel_size = np.asarray(voxel_size, dtype=np.float64).reshape(3)

    def find(self, cells: np.ndarray) -> np.ndarray:
        """Row of each int64 cell (M, 3) in the sorted volume, -1 where no voxel exists."""
        inside = np.all((cells >= 0) & (cells < (1 << _KEY_BITS)), axis=1)
        keys = _keys(np.where(inside[:, None], cells, 0))
        position = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = inside & (self.keys[position] == keys)
        return np.where(found, position, -1)

    def sample_grid(self, q: np.ndarray) -> np.ndarray:
        """Values at continuous grid coordinates `q` (M, 3) (voxel i spans [i, i+1)); float64 (M, C)."""
        out = np.zeros((len(q), self.values.shape[1]), dtype=np.float64)
        if len(self.keys) == 0:
            return out
        for start in range(0, len(q), _CHUNK):
            part = q[start:start + _CHUNK]
            base = np.floor(part - 0.5).astype(np.int64)
            total = np.zeros(len(part), dtype=np.float64)
            acc = np.zeros((len(part), self.values.shape[1]), dtype=np.float64)
            for corner in _CORNERS:
                cell = base + corner
                row = self.find(cell)
                weight = np.prod(1.0 - np.abs(part - cell - 0.5), axis=1) * (row >= 0)
                acc += weight[:, None] * self.values[np.maximum(row, 0)]
                total += weight
            out[start:start + _CHUNK] = acc / np.maximum(total, 1e-12)[:, None]
        return out

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Values at world points (M, 3), as float32 (M, C)."""
        q = (np.asarray(points, dtype=np.float64) - self.origin) / self.voxel_size
        return self.sample_grid(q).astype(np.float32)


def _torch_sampler(coords: Any, values: Any, origin: np.ndarray, voxel_size: np.ndarray
                   ) -> Callable[[np.ndarray], np.ndarray] | None:
    """sparsetensor's sampler on the tensors' device, or None when sparsetensor is not installed."""
    try:
        import torch
        from sparsetensor.ops import sample_sparse_volume
    except ImportError:
        return None
    device = values.device
    batch = torch.zeros_like(coords[:, :1])
    coords4 = torch.cat([batch, coords], 1).to(device=device, dtype=torch.int64)
    origin_t = torch.as_tensor(origin, dtype=torch.float64, device=device)
    size_t = torch.as_tensor(voxel_size, dtype=torch.float64, device=device)

    def sample(points: np.ndarray) -> np.ndarray:
        q = (torch.as_tensor(points, dtype=torch.float64, device=device) - origin_t) / size_t
        out = sample_sparse_volume(coords4, values.float(), q[None])[0]
        return out.float().cpu().numpy()

    return sample


def make_sampler(coords: Any, values: Any, origin: np.ndarray, voxel_size: np.ndarray
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """A world-point sampler for voxels `coords` (N, 3) holding `values` (N, C): sparsetensor's on the GPU when
    both are CUDA tensors and sparsetensor is installed, else the numpy one."""
    on_cuda = all(getattr(getattr(x, "device", None), "type", None) == "cuda" for x in (coords, values))
    if on_cuda:
        sampler = _torch_sampler(coords, values, origin, voxel_size)
        if sampler is not None:
            return sampler
    from .inputs import as_numpy

    return SparseVolumeSampler(as_numpy(coords), as_numpy(values).astype(np.float32), origin, voxel_size)
