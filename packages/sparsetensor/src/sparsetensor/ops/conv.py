"""Submanifold sparse 3D convolution: neighbour maps and the exact gather-free-per-offset CPU/torch reference."""

from __future__ import annotations

import importlib.util
import os

import torch

from .lookup import VoxelLookup


def _triple(value: int | tuple[int, int, int], name: str) -> tuple[int, int, int]:
    triple = tuple(value) if isinstance(value, (tuple, list)) else (value,) * 3
    if len(triple) != 3 or any(int(v) < 1 for v in triple):
        raise ValueError(f"{name} must be a positive int or a triple of positive ints, got {value}")
    return tuple(int(v) for v in triple)  # type: ignore[return-value]


def kernel_offsets(kernel_size: int | tuple[int, int, int], dilation: int | tuple[int, int, int] = 1) -> torch.Tensor:
    """Voxel offsets [K, 3] of a centred kernel, x slowest and z fastest (matching weight[:, kx, ky, kz, :])."""
    ks, dil = _triple(kernel_size, "kernel_size"), _triple(dilation, "dilation")
    axes = [(torch.arange(k) - (k - 1) // 2) * d for k, d in zip(ks, dil, strict=False)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def build_neighbor_map(
    coords: torch.Tensor,
    kernel_size: int | tuple[int, int, int],
    dilation: int | tuple[int, int, int] = 1,
) -> torch.Tensor:
    """Index [N, K] of the voxel at coords[i] + offset[k] in the same batch item, or -1 when it is empty.

    Sort-and-search over 64-bit voxel keys (see VoxelLookup), so it runs with plain torch ops on any device.
    """
    if coords.dim() != 2 or coords.shape[1] != 4:
        raise ValueError(f"coords must be [N, 4], got {tuple(coords.shape)}")
    offsets = kernel_offsets(kernel_size, dilation).to(coords.device)
    lookup = VoxelLookup(coords, margin=int(offsets.abs().max()))
    return lookup.find_shifted(coords, offsets)


def submanifold_conv3d_reference(
    feats: torch.Tensor,
    neighbor_map: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Output [N, Co] = sum over offsets of W_k @ feats[neighbour_k]; one offset at a time, so memory stays O(N*C)."""
    co, ci = weight.shape[0], weight.shape[-1]
    w = weight.reshape(co, -1, ci)
    out = feats.new_zeros(feats.shape[0], co)
    if bias is not None:
        out += bias.to(feats.dtype)
    for k in range(w.shape[1]):
        idx = neighbor_map[:, k]
        rows = (idx >= 0).nonzero().squeeze(1)
        if rows.numel():
            out.index_add_(0, rows, feats[idx[rows]] @ w[:, k].t().to(feats.dtype))
    return out


def submanifold_conv3d(
    feats: torch.Tensor,
    coords: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    dilation: int | tuple[int, int, int] = 1,
    neighbor_map: torch.Tensor | None = None,
) -> torch.Tensor:
    """Submanifold 3D convolution (output on the input voxels) with `weight` [Co, Kx, Ky, Kz, Ci] and `bias` [Co]."""
    if weight.dim() != 5:
        raise ValueError(f"weight must be [Co, Kx, Ky, Kz, Ci], got {tuple(weight.shape)}")
    if feats.dim() != 2 or feats.shape[1] != weight.shape[-1]:
        raise ValueError(f"feats must be [N, {weight.shape[-1]}] to match weight, got {tuple(feats.shape)}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"bias must be [{weight.shape[0]}], got {tuple(bias.shape)}")
    if neighbor_map is None:
        neighbor_map = build_neighbor_map(coords, tuple(weight.shape[1:4]), dilation)
    if conv_backend(feats, weight) == "triton":
        from .conv_triton import submanifold_conv3d_triton

        return submanifold_conv3d_triton(feats, neighbor_map, weight, bias)
    return submanifold_conv3d_reference(feats, neighbor_map, weight, bias)


def conv_backend(feats: torch.Tensor, weight: torch.Tensor) -> str:
    """'triton' for CUDA inference when triton is importable, else 'torch'; SPARSETENSOR_CONV_BACKEND overrides.

    The Triton kernel is forward-only, so tensors that need gradients always take the torch path.
    """
    chosen = os.environ.get("SPARSETENSOR_CONV_BACKEND")
    if chosen not in (None, "", "triton", "torch"):
        raise ValueError(f"SPARSETENSOR_CONV_BACKEND={chosen!r}; expected 'triton' or 'torch'")
    if torch.is_grad_enabled() and (feats.requires_grad or weight.requires_grad):
        return "torch"
    if chosen:
        return chosen
    return "triton" if feats.is_cuda and importlib.util.find_spec("triton") is not None else "torch"
