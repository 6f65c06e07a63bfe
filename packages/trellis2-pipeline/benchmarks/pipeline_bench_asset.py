"""A real asset steering the data-dependent parts of a random-weight pipeline so that workloads match a real object.

Random weights decode a random sparse structure and random subdivisions, which would make every later token count
arbitrary. `AssetSurface` voxelizes a real mesh (its flexible dual grid, fitted into the output box) at any
resolution; `AssetGuide` uses it to supply the sparse structure, to answer the shape decoder's subdivision queries
(which children of a voxel exist) and to give decoded dual grids the asset's dual vertices and edge flags, so mesh
extraction and hole filling work on a real surface. The networks themselves still run in full.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import nn

OUTPUT_BOX = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
LOOKUP_STAGE = "benchmark: asset lookups"
#: Local offset of child k inside its parent, as sparsetensor orders children (x + 2y + 4z).
CHILD_OFFSETS = torch.tensor([[k % 2, k // 2 % 2, k // 4] for k in range(8)])
SUBDIVISION_LOGIT = 10.0


def voxel_keys(xyz: torch.Tensor, resolution: int) -> torch.Tensor:
    """Row-major int64 key of integer voxel coordinates [..., 3] on a resolution^3 grid."""
    xyz = xyz.long()
    return (xyz[..., 0] * resolution + xyz[..., 1]) * resolution + xyz[..., 2]


def _lookup(sorted_keys: torch.Tensor, wanted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of `wanted` in `sorted_keys` (clamped) and whether each was found."""
    pos = torch.searchsorted(sorted_keys, wanted).clamp_(max=max(sorted_keys.numel() - 1, 0))
    return pos, sorted_keys[pos] == wanted


class AssetSurface:
    """A mesh fitted into the [-0.5, 0.5]^3 output box (longest side `extent`) and its dual grids per resolution."""

    def __init__(self, path: str | Path, extent: float = 0.95) -> None:
        if not 0.0 < extent <= 1.0:
            raise ValueError(f"asset extent must be in (0, 1], got {extent!r}")
        from ovoxel.mesh_loading import load_parts

        parts = load_parts(str(path))
        offsets = np.cumsum([0] + [len(part.vertices) for part in parts[:-1]])
        vertices = np.concatenate([part.vertices for part in parts])
        faces = np.concatenate([part.faces + offset for part, offset in zip(parts, offsets, strict=True)])
        low, high = vertices.min(axis=0), vertices.max(axis=0)
        self.vertices = ((vertices - (low + high) / 2) * (extent / (high - low).max())).astype(np.float32)
        self.faces = faces.astype(np.int64)
        self.path = Path(path)
        self._grids: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._levels: dict[tuple[int, int], torch.Tensor] = {}

    def grid(self, resolution: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sorted keys [N], coords [N, 3], in-voxel dual vertices [N, 3], edge flags [N, 3]) at `resolution`, on
        the CPU; computed once per resolution."""
        if resolution not in self._grids:
            from ovoxel import mesh_to_flexible_dual_grid

            coords, dual, flags = mesh_to_flexible_dual_grid(self.vertices, self.faces, grid_size=resolution,
                                                             aabb=OUTPUT_BOX)
            coords = torch.as_tensor(np.asarray(coords)).long()
            offsets = torch.as_tensor(np.asarray(dual, np.float32)) * resolution - coords
            keys, order = voxel_keys(coords, resolution).sort()
            flags = torch.as_tensor(np.asarray(flags)).bool()
            self._grids[resolution] = (keys, coords[order], offsets[order], flags[order])
        return self._grids[resolution]

    def level_keys(self, resolution: int, level: int) -> torch.Tensor:
        """Sorted keys of the voxels at grid size `level` (resolution / 2^k) that contain a voxel of the dual grid at
        `resolution`: the asset's occupancy at a coarser level, consistent with the fine one."""
        if resolution % level or (resolution // level) & (resolution // level - 1):
            raise ValueError(f"level {level} must be resolution {resolution} divided by a power of two")
        if (resolution, level) not in self._levels:
            coords = self.grid(resolution)[1] // (resolution // level)
            self._levels[resolution, level] = voxel_keys(coords, level).unique()
        return self._levels[resolution, level]

    def level_coords(self, resolution: int, level: int) -> torch.Tensor:
        """Voxel coordinates [M, 3] (int32) of `level_keys`."""
        keys = self.level_keys(resolution, level)
        return torch.stack([keys // level**2, keys // level % level, keys % level], dim=1).int()


class _AssetSubdivision(nn.Module):
    """Stands in for an up block's `to_subdiv` layer: the children that exist are the asset's."""

    def __init__(self, guide: AssetGuide, level: int) -> None:
        super().__init__()
        self.guide = guide
        self.level = level
        self.parents: torch.Tensor | None = None

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.parents is None or self.parents.shape[0] != feats.shape[0]:
            raise RuntimeError("asset subdivision called without the parent coordinates of its block")
        return self.guide.child_logits(self.parents, self.level).to(feats.dtype)


class AssetGuide:
    """Feeds an `AssetSurface` into a pipeline run: sparse structure, shape-decoder subdivisions, dual grids.

    Set `latent_resolution` (the latent grid size the shape decoder is about to decode from) before each decoder
    call; lookups run inside the timer's excluded stage `LOOKUP_STAGE` so they do not count as pipeline time.
    """

    def __init__(self, surface: AssetSurface, timer) -> None:
        self.surface = surface
        self.timer = timer
        self.latent_resolution: int | None = None
        self.num_upsamplings = 0

    def sparse_structure(self, resolution: int, num_samples: int, device: torch.device) -> torch.Tensor:
        """The asset's occupied voxels [N * num_samples, 4] (batch, x, y, z) on the sparse-structure grid."""
        from trellis2.pipelines.cascade import LATENT_DOWNSAMPLING

        xyz = self.surface.level_coords(resolution * LATENT_DOWNSAMPLING, resolution)
        batch = torch.arange(num_samples, dtype=torch.int32).repeat_interleave(xyz.shape[0])
        return torch.cat([batch[:, None], xyz.repeat(num_samples, 1)], dim=1).to(device)

    def install(self, shape_decoder: nn.Module) -> None:
        """Replace the subdivision layer of every up block of `shape_decoder` by the asset's answer."""
        from trellis2_models.sc_vaes.blocks import UP_BLOCKS

        up_blocks = [block for level in shape_decoder.blocks for block in level if isinstance(block, UP_BLOCKS)]
        for index, block in enumerate(up_blocks):
            subdivision = _AssetSubdivision(self, index)
            block.to_subdiv = subdivision
            block.register_forward_pre_hook(
                lambda _module, args, target=subdivision: setattr(target, "parents", args[0].coords[:, 1:])
            )
        self.num_upsamplings = len(up_blocks)

    def child_logits(self, parents: torch.Tensor, level: int) -> torch.Tensor:
        """Logits [N, 8], positive where the asset has the child voxel of `parents` [N, 3] one level finer."""
        if self.latent_resolution is None:
            raise RuntimeError("AssetGuide.latent_resolution must be set before the shape decoder runs")
        with self.timer.stage(LOOKUP_STAGE, excluded=True):
            child_resolution = self.latent_resolution << (level + 1)
            final = self.latent_resolution << self.num_upsamplings
            keys = self.surface.level_keys(final, child_resolution).to(parents.device)
            children = parents.long()[:, None, :] * 2 + CHILD_OFFSETS.to(parents.device)
            _, found = _lookup(keys, voxel_keys(children, child_resolution))
            logits = torch.where(found, SUBDIVISION_LOGIT, -SUBDIVISION_LOGIT)
            del keys, children, found
        return logits

    def dual_grid(self, grid):
        """`grid` (a decoded DualGrid) with the asset's dual vertices and edge flags at its voxels (voxels the
        asset lacks, if any, get a centred vertex and no flags)."""
        with self.timer.stage(LOOKUP_STAGE, excluded=True):
            keys, _, offsets, flags = self.surface.grid(grid.resolution)
            keys, offsets, flags = (t.to(grid.coords.device) for t in (keys, offsets, flags))
            pos, found = _lookup(keys, voxel_keys(grid.coords, grid.resolution))
            centre = torch.full_like(grid.offsets, 0.5)
            grid = dataclasses.replace(
                grid,
                offsets=torch.where(found[:, None], offsets[pos], centre),
                intersected=flags[pos] & found[:, None],
            )
            del keys, offsets, flags, pos, found
        return grid
