"""Trilinear sampling of a sparse voxel attribute volume at world points (the texture-bake sampler of `to_glb`).

Convention (FlexGEMM's, as sparsetensor's `sample_sparse_volume`): voxel i's value sits at continuous grid
coordinate i + 0.5; a point blends the up to 8 surrounding voxel centres that exist, with trilinear weights
renormalised over the present ones, and gets zeros where none exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .inputs import as_numpy

_KEY_BITS = 21  # per axis, after shifting cells by +1 so that the corner at -1 packs too
_MAX_COORD = (1 << _KEY_BITS) - 4  # largest voxel coordinate accepted (its +1 corner still packs)
_CORNERS = [(i & 1, (i >> 1) & 1, (i >> 2) & 1) for i in range(8)]
_CHUNK = 1 << 20  # points per vectorised pass (bounds temporary memory to ~100 MB)


def _keys(cells: np.ndarray) -> np.ndarray:
    """Pack int64 (N, 3) cells in [-1, 2^21 - 2] into sortable int64 keys; adding a packed offset to a key moves
    the cell by that offset, so sorted keys stay sorted."""
    shifted = cells + 1
    return (shifted[:, 0] << (2 * _KEY_BITS)) | (shifted[:, 1] << _KEY_BITS) | shifted[:, 2]


class SparseVolumeSampler:
    """Numpy trilinear sampler over voxels `coords` (N, 3) holding `values` (N, C); lookups are binary searches of
    sorted query keys in the sorted voxel keys, so memory stays O(N) whatever the grid size."""

    def __init__(self, coords: np.ndarray, values: np.ndarray, origin: np.ndarray, voxel_size: np.ndarray) -> None:
        coords = np.asarray(coords, dtype=np.int64)
        if len(coords) and (coords.min() < 0 or coords.max() > _MAX_COORD):
            raise ValueError(f"voxel coordinates must lie in [0, {_MAX_COORD}], got range "
                             f"[{coords.min()}, {coords.max()}]")
        keys = _keys(coords.reshape(-1, 3))
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.values = np.asarray(values, dtype=np.float32)[order]
        self.origin = np.asarray(origin, dtype=np.float64).reshape(3)
        self.voxel_size = np.asarray(voxel_size, dtype=np.float64).reshape(3)

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Row of each (ideally sorted) cell key in the volume, -1 where no voxel exists."""
        position = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[position] == keys, position, -1)

    def _sample_chunk(self, q: np.ndarray) -> np.ndarray:
        far = np.any((q < -0.5) | (q > _MAX_COORD + 1.5), axis=1)  # no voxel centre within one cell
        base = np.floor(np.where(far[:, None], 0.0, q) - 0.5).astype(np.int64)
        keys = _keys(base)
        order = np.argsort(keys)  # sorted queries make the searches and gathers cache-friendly
        keys, frac = keys[order], (q[order] - base[order] - 0.5).astype(np.float32)
        axis_weights = (1 - frac, frac)
        total = np.zeros(len(q), dtype=np.float32)
        acc = np.zeros((len(q), self.values.shape[1]), dtype=np.float32)
        for dx, dy, dz in _CORNERS:
            row = self._find(keys + ((dx << (2 * _KEY_BITS)) | (dy << _KEY_BITS) | dz))
            weight = axis_weights[dx][:, 0] * axis_weights[dy][:, 1] * axis_weights[dz][:, 2] * (row >= 0)
            acc += weight[:, None] * self.values[np.maximum(row, 0)]
            total += weight
        out = np.empty_like(acc)
        out[order] = acc / np.maximum(total, 1e-12)[:, None]
        out[far] = 0
        return out

    def sample_grid(self, q: np.ndarray) -> np.ndarray:
        """Values at continuous grid coordinates `q` (M, 3) (voxel i spans [i, i+1)); float32 (M, C)."""
        q = np.asarray(q, dtype=np.float64)
        if len(self.keys) == 0:
            return np.zeros((len(q), self.values.shape[1]), dtype=np.float32)
        return np.concatenate([self._sample_chunk(q[start:start + _CHUNK]) for start in range(0, len(q), _CHUNK)]
                              or [np.zeros((0, self.values.shape[1]), np.float32)])

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Values at world points (M, 3), as float32 (M, C)."""
        return self.sample_grid((np.asarray(points, dtype=np.float64) - self.origin) / self.voxel_size)


def _torch_sampler(coords: Any, values: Any, origin: np.ndarray, voxel_size: np.ndarray, device: Any = None
                   ) -> Callable[[Any], Any] | None:
    """sparsetensor's sampler on `device` (default: the tensor `values`' own; the volume is moved there when needed):
    points as an array or tensor, values as a float32 tensor there; None when sparsetensor is not installed."""
    try:
        import torch
        from sparsetensor.ops import sample_sparse_volume
    except ImportError:
        return None
    device = values.device if device is None else device
    coords = torch.as_tensor(coords, device=device)
    values = torch.as_tensor(values, device=device).float()
    coords4 = torch.cat([torch.zeros_like(coords[:, :1]), coords], 1).to(torch.int64)
    origin_t = torch.as_tensor(origin, dtype=torch.float64, device=device)
    size_t = torch.as_tensor(voxel_size, dtype=torch.float64, device=device)

    def sample(points: Any) -> Any:
        q = (torch.as_tensor(points, dtype=torch.float64, device=device) - origin_t) / size_t
        parts = [sample_sparse_volume(coords4, values, q[None, start:start + 4 * _CHUNK])[0]
                 for start in range(0, len(q), 4 * _CHUNK)]  # bounds the 8-corner lookup tensors to ~1 GB
        return torch.cat(parts) if parts else values.new_zeros((0, values.shape[1]))

    return sample


def make_sampler(coords: Any, values: Any, origin: np.ndarray, voxel_size: np.ndarray, device: Any = None
                 ) -> Callable[[Any], Any]:
    """A world-point sampler for voxels `coords` (N, 3) holding `values` (N, C): sparsetensor's on `device` (the
    GPU bake's, returning tensors there) or, without one, on the GPU when both are CUDA tensors; the numpy one
    otherwise or when sparsetensor is not installed."""
    if device is None and all(getattr(getattr(x, "device", None), "type", None) == "cuda" for x in (coords, values)):
        device = values.device
    if device is not None:
        sampler = _torch_sampler(coords, values, origin, voxel_size, device)
        if sampler is not None:
            return sampler
    return SparseVolumeSampler(as_numpy(coords), as_numpy(values).astype(np.float32), origin, voxel_size)
