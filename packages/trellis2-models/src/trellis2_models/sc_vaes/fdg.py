"""Flexible-dual-grid VAE: the shape VAE of TRELLIS.2, encoding/decoding per-voxel dual vertices and edge flags.

The decoder stops at the dual grid (`DualGrid`); turning it into a mesh is `ovoxel`'s job in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from sparsetensor import SparseTensor

from .unet import SparseUnetVaeDecoder, SparseUnetVaeEncoder

DUAL_GRID_CHANNELS = 7  # 3 dual-vertex offsets, 3 edge-intersection logits, 1 quad-split weight
ENCODER_INPUT_CHANNELS = 6  # 3 dual-vertex offsets, 3 intersection flags


@dataclass(frozen=True)
class DualGrid:
    """One decoded shape: voxel `coords` [N, 3] on a `resolution`^3 grid over the box [-0.5, 0.5]^3.

    `offsets` [N, 3]: dual vertex inside its voxel (0..1, may exceed by the decoder's voxel margin);
    `intersected` [N, 3] bool: whether the grid edge along x/y/z at the voxel's maximal corner crosses the surface;
    `split_weights` [N, 1]: positive weights choosing how each quad is cut into triangles.
    """

    coords: torch.Tensor
    offsets: torch.Tensor
    intersected: torch.Tensor
    split_weights: torch.Tensor
    resolution: int

    @property
    def voxel_size(self) -> float:
        """Edge length of one voxel in the unit box."""
        return 1.0 / self.resolution


class FlexiDualGridVaeEncoder(SparseUnetVaeEncoder):
    """Dual-vertex offsets in [0,1]^3 plus intersection flags per voxel -> shape latent."""

    def __init__(
        self,
        model_channels: list[int],
        latent_channels: int,
        num_blocks: list[int],
        block_type: list[str],
        down_block_type: list[str],
        block_args: list[dict[str, Any]],
        use_fp16: bool = False,
    ) -> None:
        super().__init__(ENCODER_INPUT_CHANNELS, model_channels, latent_channels, num_blocks, block_type,
                         down_block_type, block_args, use_fp16)

    def forward(self, offsets: SparseTensor, intersected: SparseTensor, sample_posterior: bool = False,
                return_raw: bool = False):
        """Encode a dual grid given as two SparseTensor with the same coords (offsets [N,3], flags [N,3])."""
        if not torch.equal(offsets.coords, intersected.coords):
            raise ValueError("offsets and intersected must share the same coords")
        feats = torch.cat([offsets.feats.float() - 0.5, intersected.feats.float() - 0.5], dim=1)
        return super().forward(offsets.replace(feats), sample_posterior, return_raw)


class FlexiDualGridVaeDecoder(SparseUnetVaeDecoder):
    """Shape latent -> flexible dual grid at `resolution`, predicting its own subdivisions."""

    def __init__(
        self,
        resolution: int,
        model_channels: list[int],
        latent_channels: int,
        num_blocks: list[int],
        block_type: list[str],
        up_block_type: list[str],
        block_args: list[dict[str, Any]],
        voxel_margin: float = 0.5,
        use_fp16: bool = False,
    ) -> None:
        super().__init__(DUAL_GRID_CHANNELS, model_channels, latent_channels, num_blocks, block_type,
                         up_block_type, block_args, use_fp16)
        self.resolution = resolution
        self.voxel_margin = voxel_margin

    def set_resolution(self, resolution: int) -> None:
        """Change the output grid size (the pipeline decodes at 512, 1024 or 1536)."""
        self.resolution = resolution

    def to_dual_grids(self, raw: SparseTensor) -> list[DualGrid]:
        """Map the raw 7-channel output to one DualGrid per batch item."""
        grids = []
        for rows in raw.layout:
            feats, coords = raw.feats[rows].float(), raw.coords[rows]
            offsets = (1 + 2 * self.voxel_margin) * torch.sigmoid(feats[:, 0:3]) - self.voxel_margin
            grids.append(DualGrid(coords[:, 1:], offsets, feats[:, 3:6] > 0, F.softplus(feats[:, 6:7]),
                                  self.resolution))
        return grids

    def forward(self, latent: SparseTensor) -> list[DualGrid]:  # type: ignore[override]
        """Decode a batch of shape latents into dual grids (meshes are extracted from them by ovoxel)."""
        return self.to_dual_grids(self.decode_features(latent)[0])
