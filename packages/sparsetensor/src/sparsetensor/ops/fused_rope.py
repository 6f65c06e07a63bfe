"""Per-head RMS normalisation of query/key heads fused with the rotary embedding that follows it.

`rms_norm_rope(x, gamma, scale, rotation)` equals the unfused
`y = (F.normalize(x.float(), dim=-1) * gamma * scale).to(x.dtype)` followed by rotating consecutive channel pairs of
`y` by the (cos, sin) tables in float32 and casting back, as the TRELLIS.2 attention layers do. The Triton kernel
for CUDA tensors reads the (possibly strided, e.g. a slice of a fused QKV projection) heads once and writes
contiguous [..., H, D] heads, rounding where the reference rounds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fused_norm import fused_backend

Rotation = tuple[torch.Tensor, torch.Tensor]


def rotate_pairs(x: torch.Tensor, rotation: Rotation) -> torch.Tensor:
    """Rotate consecutive channel pairs of `x` [..., D] by `rotation` = (cos, sin) broadcastable to [..., D/2],
    computed in float32 and cast back to `x.dtype`."""
    cos, sin = rotation
    pairs = x.float().unflatten(-1, (-1, 2))
    first, second = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([first * cos - second * sin, first * sin + second * cos], dim=-1)
    return rotated.flatten(-2).to(x.dtype)


def rms_norm_rope(
    x: torch.Tensor, gamma: torch.Tensor | None, scale: float, rotation: Rotation | None = None
) -> torch.Tensor:
    """RMS-normalise each head vector of `x` [..., L, H, D] (unit L2 norm times `gamma` [H, D] times `scale`; no
    normalisation when `gamma` is None), then apply `rotation` (cos, sin) of shape [L, 1, D/2] when given.

    Leading axes beyond L (a batch) share the rotation; the result is a new contiguous tensor in `x.dtype`.
    """
    if x.ndim < 3 or x.shape[-1] % 2:
        raise ValueError(f"heads must be [..., L, H, D] with even D, got {tuple(x.shape)}")
    if gamma is not None and gamma.shape != x.shape[-2:]:
        raise ValueError(f"gamma must be {tuple(x.shape[-2:])}, got {tuple(gamma.shape)}")
    if rotation is not None and rotation[0].shape != (x.shape[-3], 1, x.shape[-1] // 2):
        raise ValueError(f"rotation tables must be [{x.shape[-3]}, 1, {x.shape[-1] // 2}], got "
                         f"{tuple(rotation[0].shape)}")
    if gamma is None and rotation is None:
        return x.contiguous()
    tensors = (gamma, *(rotation or ()))
    half = x.shape[-1] // 2
    if fused_backend(x, *tensors) == "triton" and x.numel() and half & (half - 1) == 0:
        from .fused_rope_triton import rms_norm_rope_triton

        return rms_norm_rope_triton(x, gamma, scale, rotation)
    return rms_norm_rope_reference(x, gamma, scale, rotation)


def rms_norm_rope_reference(
    x: torch.Tensor, gamma: torch.Tensor | None, scale: float, rotation: Rotation | None
) -> torch.Tensor:
    """The unfused torch expression `rms_norm_rope` computes."""
    if gamma is not None:
        x = (F.normalize(x.float(), dim=-1) * gamma * scale).to(x.dtype)
    return x.contiguous() if rotation is None else rotate_pairs(x, rotation)
