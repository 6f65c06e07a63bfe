"""Trilinear / nearest sampling of a sparse voxel attribute volume at arbitrary 3D points (FlexGEMM semantics)."""

from __future__ import annotations

from typing import Literal

import torch

from .lookup import VoxelLookup

_CORNERS = torch.tensor([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)])


def _to_voxel_units(points: torch.Tensor, aabb: torch.Tensor | None, resolution: int | None) -> torch.Tensor:
    if aabb is None:
        return points.double()
    if resolution is None:
        raise ValueError("resolution is required when aabb is given")
    aabb = torch.as_tensor(aabb, dtype=torch.float64, device=points.device).reshape(2, 3)
    return (points.double() - aabb[0]) / (aabb[1] - aabb[0]) * resolution


def sample_sparse_volume(
    coords: torch.Tensor,
    attrs: torch.Tensor,
    points: torch.Tensor,
    mode: Literal["trilinear", "nearest"] = "trilinear",
    aabb: torch.Tensor | None = None,
    resolution: int | None = None,
) -> torch.Tensor:
    """Sample attrs [N, C] stored at voxels coords [N, 4] at points [B, L, 3]; returns [B, L, C].

    Points are in voxel units (voxel i covers [i, i+1), centre i + 0.5) unless `aabb` [[min], [max]] and `resolution`
    are given, which map world points into that grid. 'nearest' reads the voxel containing the point (zero if empty);
    'trilinear' blends the up to 8 surrounding voxel centres that exist, renormalising weights over the present ones
    (zero where none exists).
    """
    if coords.dim() != 2 or coords.shape[1] != 4 or attrs.dim() != 2 or attrs.shape[0] != coords.shape[0]:
        raise ValueError(f"need coords [N, 4] and attrs [N, C], got {tuple(coords.shape)} and {tuple(attrs.shape)}")
    if points.dim() != 3 or points.shape[2] != 3:
        raise ValueError(f"points must be [B, L, 3], got {tuple(points.shape)}")
    if mode not in ("trilinear", "nearest"):
        raise ValueError(f"mode must be 'trilinear' or 'nearest', got {mode!r}")
    b, length = points.shape[:2]
    q = _to_voxel_units(points, aabb, resolution).reshape(-1, 3)
    batch = torch.arange(b, device=points.device).repeat_interleave(length)
    lookup = VoxelLookup(coords)
    if mode == "nearest":
        idx = lookup.find(torch.cat([batch[:, None], q.floor().long()], 1))
        return torch.where(idx[:, None] >= 0, attrs[idx.clamp(min=0)], 0).reshape(b, length, -1).to(attrs.dtype)
    base = (q - 0.5).floor().long()
    corners = base[:, None, :] + _CORNERS.to(points.device)
    idx = lookup.find(torch.cat([batch[:, None, None].expand(-1, 8, 1), corners], 2).reshape(-1, 4)).reshape(-1, 8)
    weights = (1 - (q[:, None, :] - corners - 0.5).abs()).prod(2) * (idx >= 0)
    weights = weights / weights.sum(1, keepdim=True).clamp(min=1e-12)
    out = (weights[..., None] * attrs[idx.clamp(min=0)].double()).sum(1)
    return out.reshape(b, length, -1).to(attrs.dtype)
