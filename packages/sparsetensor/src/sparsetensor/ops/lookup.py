"""Exact voxel lookup by sorted 64-bit keys (torch ops only, so it runs on CPU and GPU alike)."""

from __future__ import annotations

import math

import torch

DUPLICATE_VOXELS = "coords contain duplicate voxels; a neighbour map needs unique (batch, x, y, z) rows"


def key_extent(coords: torch.Tensor, margin: int) -> tuple[int, int, int, int]:
    """Key extent of non-empty `coords` [N, 4]: the batch count, then per axis the largest coordinate + 2 * margin + 1
    (as VoxelLookup uses).

    Checks on the host that the keys are exact: coordinates must be non-negative and every key must fit in int64.
    """
    low, high = torch.stack(coords.long().aminmax(dim=0)).tolist()
    if min(low) < 0:
        raise ValueError(f"coords must be non-negative, got a minimum of {min(low)}")
    extent = (high[0] + 1, *(h + 2 * margin + 1 for h in high[1:]))
    if math.prod(extent) > 2**63:
        raise ValueError(f"coords up to {high} are too large for 64-bit voxel keys")
    return extent  # type: ignore[return-value]


class VoxelLookup:
    """Find the row of a (batch, x, y, z) voxel among `coords` [N, 4]; queries outside [0, extent) miss."""

    def __init__(self, coords: torch.Tensor, margin: int = 0):
        self.n = coords.shape[0]
        self.margin = margin
        high = coords.long().max(0).values if self.n else torch.zeros(4, dtype=torch.long, device=coords.device)
        self.extent = high[1:] + 2 * margin + 1
        self.keys, self.order = self._keys(coords.long()).sort()

    def has_duplicates(self) -> bool:
        """Whether two rows of coords hold the same voxel (equal keys are adjacent once sorted)."""
        return bool((self.keys[1:] == self.keys[:-1]).any())

    def _keys(self, coords: torch.Tensor) -> torch.Tensor:
        xyz = coords[:, 1:] + self.margin
        return ((coords[:, 0] * self.extent[0] + xyz[:, 0]) * self.extent[1] + xyz[:, 1]) * self.extent[2] + xyz[:, 2]

    def find_shifted(self, coords: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Row index [M, K] int32 of coords[m] + offsets[k] (|offsets| <= margin, so keys shift linearly), -1 if absent.

        int32 is what the convolution kernels read; row indices must therefore stay below 2**31.
        """
        if offsets.numel() and int(offsets.abs().max()) > self.margin:
            raise ValueError(f"offsets exceed the lookup margin {self.margin}")
        shift = (offsets[:, 0] * self.extent[1] + offsets[:, 1]) * self.extent[2] + offsets[:, 2]
        keys = self._keys(coords.long())[:, None] + shift.to(coords.device)[None, :]
        if self.n == 0:
            return torch.full_like(keys, -1, dtype=torch.int32)
        pos = torch.searchsorted(self.keys, keys.reshape(-1)).clamp_(max=self.n - 1).reshape(keys.shape)
        return torch.where(self.keys[pos] == keys, self.order[pos], -1).to(torch.int32)

    def find(self, queries: torch.Tensor) -> torch.Tensor:
        """Row index [M] of each query voxel [M, 4] (int64), -1 where absent."""
        queries = queries.long()
        xyz = queries[:, 1:] + self.margin
        inside = ((xyz >= 0) & (xyz < self.extent)).all(1)
        if self.n == 0:
            return torch.full_like(queries[:, 0], -1)
        keys = self._keys(queries)
        pos = torch.searchsorted(self.keys, keys).clamp_(max=self.n - 1)
        hit = inside & (self.keys[pos] == keys)
        return torch.where(hit, self.order[pos], torch.full_like(pos, -1))
