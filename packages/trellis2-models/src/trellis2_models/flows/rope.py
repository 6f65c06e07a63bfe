"""3D rotary position embedding: per-voxel complex phases and their application to query/key heads."""

from __future__ import annotations

import torch


def rope_phases(coords: torch.Tensor, head_dim: int, base: float = 10000.0, scale: float = 1.0) -> torch.Tensor:
    """Unit complex phases [N, head_dim/2] for integer positions `coords` [N, 3].

    Each axis gets `head_dim // 6` frequencies `scale / base**(i/n)`; the phases of x, y and z are laid out one axis
    after another and the remainder up to head_dim/2 is padded with phase 0 (identity rotation).
    """
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head dimension, got {head_dim}")
    num_axes = coords.shape[-1]
    per_axis = head_dim // 2 // num_axes
    steps = torch.arange(per_axis, dtype=torch.float32, device=coords.device) / per_axis
    frequencies = scale / base**steps
    angles = coords.to(torch.float32)[..., None] * frequencies  # [N, axes, per_axis]
    angles = angles.reshape(*coords.shape[:-1], num_axes * per_axis)
    angles = torch.nn.functional.pad(angles, (0, head_dim // 2 - angles.shape[-1]))
    return torch.polar(torch.ones_like(angles), angles)


Rotation = tuple[torch.Tensor, torch.Tensor]


def rotation_from_phases(phases: torch.Tensor) -> Rotation:
    """Split complex phases [N, D/2] into contiguous real (cos, sin) tables shaped [N, 1, D/2], the layout
    `sparsetensor.ops.fused_rope.rms_norm_rope` takes.

    Done once per forward pass so the blocks only see real tensors (cheaper, and compilable by torch.compile).
    """
    return phases.real.unsqueeze(-2).contiguous(), phases.imag.unsqueeze(-2).contiguous()
