"""Cascade resolution choice: map upsampled low-resolution coordinates onto the high-resolution latent grid."""

from __future__ import annotations

import torch

#: Voxels per latent cell: the structured latents live on a grid 16 times coarser than the output resolution.
LATENT_DOWNSAMPLING = 16
RESOLUTION_STEP = 128
MIN_CASCADE_RESOLUTION = 1024


def quantize_coords(hr_coords: torch.Tensor, source_resolution: int, target_resolution: int) -> torch.Tensor:
    """Unique latent coordinates [M, 4] at `target_resolution` of voxels `hr_coords` [N, 4] given at
    `source_resolution` (voxel centres are scaled, then floored)."""
    grid = target_resolution // LATENT_DOWNSAMPLING
    scaled = ((hr_coords[:, 1:].float() + 0.5) / source_resolution * grid).int()
    return torch.cat([hr_coords[:, :1].int(), scaled], dim=1).unique(dim=0)


def choose_cascade_resolution(
    hr_coords: torch.Tensor, source_resolution: int, target_resolution: int, max_num_tokens: int
) -> tuple[torch.Tensor, int]:
    """Largest resolution from `target_resolution` down (steps of 128, not below 1024) whose latent has fewer than
    `max_num_tokens` voxels; returns its coordinates and the resolution (1024 is used even when over budget)."""
    if max_num_tokens < 1:
        raise ValueError(f"max_num_tokens must be positive, got {max_num_tokens!r}")
    resolution = target_resolution
    while True:
        coords = quantize_coords(hr_coords, source_resolution, resolution)
        if coords.shape[0] < max_num_tokens or resolution <= MIN_CASCADE_RESOLUTION:
            return coords, resolution
        resolution -= RESOLUTION_STEP
