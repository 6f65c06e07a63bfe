"""Minimal sparse-voxel batch and the three sparse operators the TRELLIS.2 VAEs need, in plain torch.

Stand-in until `sparsetensor` ships its `SparseTensor`/`SparseConv3d`/`SparseChannel2Spatial`: same data layout
(`coords` [N, 4] int32 rows (batch, x, y, z), `feats` [N, C]) and the same conv weight layout [Co, 3, 3, 3, Ci],
so swapping the backend does not change checkpoints or results.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

CHILDREN = 8  # a voxel splits into 2x2x2 children; child k sits at offset (k & 1, k >> 1 & 1, k >> 2 & 1)


@dataclass(frozen=True)
class SparseVoxels:
    """A batch of sparse voxels: integer `coords` [N, 4] (batch, x, y, z) and their `feats` [N, C]."""

    feats: torch.Tensor
    coords: torch.Tensor

    def __post_init__(self) -> None:
        if self.coords.ndim != 2 or self.coords.shape[1] != 4:
            raise ValueError(f"coords must be [N, 4] (batch, x, y, z), got shape {tuple(self.coords.shape)}")
        if self.feats.ndim != 2 or self.feats.shape[0] != self.coords.shape[0]:
            raise ValueError(f"feats must be [N, C] with N = {self.coords.shape[0]}, got {tuple(self.feats.shape)}")

    def replace(self, feats: torch.Tensor) -> SparseVoxels:
        """Same voxels, new features."""
        return SparseVoxels(feats, self.coords)

    @property
    def batch_size(self) -> int:
        """Number of batch items (largest batch index + 1)."""
        return int(self.coords[:, 0].max()) + 1 if len(self.coords) else 0

    def split(self) -> list[SparseVoxels]:
        """One SparseVoxels per batch item, each keeping its batch column."""
        return [SparseVoxels(self.feats[mask], self.coords[mask]) for mask in
                (self.coords[:, 0] == b for b in range(self.batch_size))]


def _voxel_keys(coords: torch.Tensor, extent: int) -> torch.Tensor:
    """Pack (batch, x, y, z) rows into one int64 key per voxel; `extent` bounds every spatial coordinate + 2."""
    c = coords.long()
    return ((c[:, 0] * extent + c[:, 1] + 1) * extent + c[:, 2] + 1) * extent + c[:, 3] + 1


class SubmanifoldConv3d(nn.Module):
    """3x3x3 sparse convolution evaluated only at the input voxels (missing neighbours count as zero)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size != 3:
            raise ValueError(f"only kernel_size=3 is supported, got {kernel_size}")
        self.weight = nn.Parameter(torch.empty(out_channels, 3, 3, 3, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.kaiming_uniform_(self.weight.view(out_channels, -1), a=5**0.5)

    def forward(self, x: SparseVoxels) -> SparseVoxels:
        extent = int(x.coords[:, 1:].max()) + 3 if len(x.coords) else 3
        keys = _voxel_keys(x.coords, extent)
        sorted_keys, order = keys.sort()
        feats = x.feats.to(self.weight.dtype)
        out = self.bias.expand(len(keys), -1).clone()
        for dx, dy, dz in itertools.product(range(3), repeat=3):
            shifted = x.coords.long() + torch.tensor([0, dx - 1, dy - 1, dz - 1], device=x.coords.device)
            wanted = _voxel_keys(shifted, extent)
            slot = torch.searchsorted(sorted_keys, wanted).clamp(max=len(keys) - 1)
            found = sorted_keys[slot] == wanted
            rows = found.nonzero().squeeze(1)
            out.index_add_(0, rows, feats[order[slot[rows]]] @ self.weight[:, dx, dy, dz].T)
        return x.replace(out)


def channel_to_spatial(x: SparseVoxels, child_mask: torch.Tensor) -> SparseVoxels:
    """Split each voxel into the children flagged in `child_mask` [N, 8]; child k takes feature slice k of 8."""
    if child_mask.shape != (len(x.coords), CHILDREN):
        raise ValueError(f"child mask must be [{len(x.coords)}, 8], got {tuple(child_mask.shape)}")
    parent, child = child_mask.nonzero(as_tuple=True)
    offsets = torch.stack([child & 1, child >> 1 & 1, child >> 2 & 1], dim=1).to(x.coords.dtype)
    coords = x.coords[parent].clone()
    coords[:, 1:] = coords[:, 1:] * 2 + offsets
    feats = x.feats.reshape(len(x.coords), CHILDREN, -1)[parent, child]
    return SparseVoxels(feats, coords)


def spatial_to_channel(x: SparseVoxels) -> SparseVoxels:
    """Merge each 2x2x2 cell into its parent voxel, stacking child k's features in slice k (absent children: 0)."""
    parent_coords = x.coords.clone()
    parent_coords[:, 1:] = torch.div(parent_coords[:, 1:], 2, rounding_mode="floor")
    local = x.coords[:, 1:] - parent_coords[:, 1:] * 2
    child = (local[:, 0] + 2 * local[:, 1] + 4 * local[:, 2]).long()
    unique, parent = parent_coords.unique(dim=0, return_inverse=True)
    feats = x.feats.new_zeros(len(unique), CHILDREN, x.feats.shape[1])
    feats[parent, child] = x.feats
    return SparseVoxels(feats.reshape(len(unique), -1), unique)
