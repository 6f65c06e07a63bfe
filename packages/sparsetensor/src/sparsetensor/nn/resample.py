"""Resolution changes of sparse tensors: pooling/nearest (Down/Upsample) and space<->channel packing.

Child order inside a parent voxel is x + f*y + f*f*z of the local offsets; caches registered at the coarse scale let the
matching upsampling restore the fine voxels (upstream semantics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn

from ..tensor import SparseTensor


def _coarsen(x: SparseTensor, factor: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Parent coords [M, 4], parent index [N] and child index [N] of every voxel, plus the coarse grid size."""
    coarse = x.coords.long().clone()
    coarse[:, 1:] //= factor
    local = x.coords[:, 1:].long() % factor
    child = local[:, 0] + factor * local[:, 1] + factor * factor * local[:, 2]
    grid = [(s + factor - 1) // factor for s in x.spatial_shape]
    extent = [max(g, 1) for g in grid]
    key = ((coarse[:, 0] * extent[0] + coarse[:, 1]) * extent[1] + coarse[:, 2]) * extent[2] + coarse[:, 3]
    unique_keys, parent = torch.unique(key, return_inverse=True)
    z = unique_keys % extent[2]
    rest = unique_keys // extent[2]
    y = rest % extent[1]
    rest = rest // extent[1]
    new_coords = torch.stack([rest // extent[0], rest % extent[0], y, z], 1).int()
    return new_coords, parent, child, grid


def _coarse_tensor(x: SparseTensor, feats: torch.Tensor, coords: torch.Tensor, factor: int) -> SparseTensor:
    out = SparseTensor(feats, coords, check_duplicates=False, scale=tuple(s * factor for s in x._scale),
                       spatial_cache=x._spatial_cache, batch_size=len(x))
    return out


def _refine(coarse: SparseTensor, subdivision: SparseTensor, factor: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  torch.Tensor]:
    """Fine coords, parent index and child index from a boolean subdivision mask [M, factor**3]."""
    mask = subdivision.feats
    if mask.shape != (coarse.feats.shape[0], factor**3):
        raise ValueError(f"subdivision feats must be [{coarse.feats.shape[0]}, {factor ** 3}], got {tuple(mask.shape)}")
    parent, child = mask.bool().nonzero(as_tuple=True)
    fine = coarse.coords[parent].long().clone()
    fine[:, 1:] *= factor
    fine[:, 1] += child % factor
    fine[:, 2] += child // factor % factor
    fine[:, 3] += child // (factor * factor)
    return fine.int(), parent, child


def _register_coarse_caches(x: SparseTensor, out: SparseTensor, name: str, parent: torch.Tensor,
                            child: torch.Tensor, grid: list[int], training: bool, factor: int) -> None:
    out.register_spatial_cache(f"{name}_{factor}", (x.coords, parent, child))
    out.register_spatial_cache("shape", torch.Size(grid))
    if training:
        mask = torch.zeros(out.feats.shape[0], factor**3, dtype=torch.bool, device=x.device)
        mask[parent, child] = True
        out.register_spatial_cache("subdivision", mask)


class SparseDownsample(nn.Module):
    """Pool voxels into their parent at 1/factor resolution ('mean' or 'max')."""

    def __init__(self, factor: int, mode: Literal["mean", "max"] = "mean"):
        super().__init__()
        if mode not in ("mean", "max"):
            raise ValueError(f"mode must be 'mean' or 'max', got {mode!r}")
        self.factor, self.mode = factor, mode

    def forward(self, x: SparseTensor) -> SparseTensor:
        cached = x.get_spatial_cache(f"downsample_{self.factor}")
        new_coords, parent, child, grid = _coarsen(x, self.factor) if cached is None else (*cached, None)
        index = parent[:, None].expand(-1, x.feats.shape[1])
        base = x.feats.new_zeros(new_coords.shape[0], x.feats.shape[1])
        feats = base.scatter_reduce(0, index, x.feats, reduce="mean" if self.mode == "mean" else "amax",
                                    include_self=False)
        out = _coarse_tensor(x, feats, new_coords, self.factor)
        if cached is None:
            x.register_spatial_cache(f"downsample_{self.factor}", (new_coords, parent, child))
            _register_coarse_caches(x, out, "upsample", parent, child, grid, self.training, self.factor)
        return out


class SparseSpatial2Channel(nn.Module):
    """Pack the factor**3 children of each parent voxel into channels: out channel = child * C + c (empty -> 0)."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor

    def forward(self, x: SparseTensor) -> SparseTensor:
        cached = x.get_spatial_cache(f"spatial2channel_{self.factor}")
        new_coords, parent, child, grid = _coarsen(x, self.factor) if cached is None else (*cached, None)
        children = self.factor**3
        packed = x.feats.new_zeros(new_coords.shape[0] * children, x.feats.shape[1])
        packed[parent * children + child] = x.feats
        packed = packed.reshape(new_coords.shape[0], children * x.feats.shape[1])
        out = _coarse_tensor(x, packed, new_coords, self.factor)
        if cached is None:
            x.register_spatial_cache(f"spatial2channel_{self.factor}", (new_coords, parent, child))
            _register_coarse_caches(x, out, "channel2spatial", parent, child, grid, self.training, self.factor)
        return out


def _fine_tensor(x: SparseTensor, feats: torch.Tensor, coords: torch.Tensor, factor: int,
                 keep_cache: bool) -> SparseTensor:
    return SparseTensor(feats, coords, check_duplicates=False, scale=tuple(s / factor for s in x._scale),
                        spatial_cache=x._spatial_cache if keep_cache else None, batch_size=len(x))


class SparseUpsample(nn.Module):
    """Nearest upsampling by `factor`: back to the voxels of the matching SparseDownsample, or to those selected by a
    boolean `subdivision` mask [M, factor**3] (child order x + f*y + f*f*z)."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x: SparseTensor, subdivision: SparseTensor | None = None) -> SparseTensor:
        cached = x.get_spatial_cache(f"upsample_{self.factor}")
        if cached is None and subdivision is None:
            raise ValueError("SparseUpsample: no cache from a SparseDownsample; pass a subdivision mask")
        coords, parent, _ = cached if cached is not None else _refine(x, subdivision, self.factor)
        return _fine_tensor(x, x.feats[parent], coords, self.factor, cached is not None)


@dataclass(frozen=True)
class ChildLayout:
    """Where channel-to-spatial puts things: fine `coords` [M, 4], each fine voxel's `parent` row and `child` block,
    and whether it came from a packing step's cache (then the fine tensor shares that cache)."""

    coords: torch.Tensor
    parent: torch.Tensor
    child: torch.Tensor
    from_cache: bool


class SparseChannel2Spatial(nn.Module):
    """Inverse of SparseSpatial2Channel: unpack channel block `child` to the child voxel (cache or subdivision).

    `layout(x, subdivision)` computes the fine voxels once; `unpack(x, layout)` and `place(x, feats, layout)` reuse it
    (up blocks unpack two tensors onto the same children, one of them produced directly by a fused conv).
    """

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor

    def layout(self, x: SparseTensor, subdivision: SparseTensor | None = None) -> ChildLayout:
        """The fine voxels of `x`: from the packing step's cache, else from the boolean `subdivision` mask."""
        cached = x.get_spatial_cache(f"channel2spatial_{self.factor}")
        if cached is None and subdivision is None:
            raise ValueError("SparseChannel2Spatial: no cache from a SparseSpatial2Channel; pass a subdivision mask")
        coords, parent, child = cached if cached is not None else _refine(x, subdivision, self.factor)
        return ChildLayout(coords, parent, child, cached is not None)

    def unpack(self, x: SparseTensor, layout: ChildLayout) -> SparseTensor:
        """Channel block `child` of row `parent` becomes each fine voxel's features."""
        children = self.factor**3
        if x.feats.shape[1] % children:
            raise ValueError(f"channels ({x.feats.shape[1]}) must be divisible by factor**3 = {children}")
        unpacked = x.feats.reshape(x.feats.shape[0] * children, x.feats.shape[1] // children)
        return self.place(x, unpacked[layout.parent * children + layout.child], layout)

    def place(self, x: SparseTensor, feats: torch.Tensor, layout: ChildLayout) -> SparseTensor:
        """The fine sparse tensor of `layout` holding already-unpacked `feats` [M, C]."""
        return _fine_tensor(x, feats, layout.coords, self.factor, layout.from_cache)

    def forward(self, x: SparseTensor, subdivision: SparseTensor | None = None) -> SparseTensor:
        return self.unpack(x, self.layout(x, subdivision))
