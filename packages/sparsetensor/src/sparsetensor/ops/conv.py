"""Submanifold sparse 3D convolution: neighbour maps and the exact gather-free-per-offset CPU/torch reference."""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from .lookup import DUPLICATE_VOXELS, VoxelLookup, key_extent


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
    """Index [N, K] int32 of the voxel at coords[i] + offset[k] in the same batch item, or -1 when it is empty.

    Both backends give the same map: a Triton GPU hash table (neighbor_map_triton) or sort-and-search over the same
    64-bit voxel keys with plain torch ops (VoxelLookup). Coords must be non-negative and unique (ValueError if not).
    """
    if coords.dim() != 2 or coords.shape[1] != 4:
        raise ValueError(f"coords must be [N, 4], got {tuple(coords.shape)}")
    if coords.shape[0] >= 2**31:
        raise ValueError(f"{coords.shape[0]} voxels do not fit the int32 neighbour map")
    offsets = kernel_offsets(kernel_size, dilation)
    if coords.shape[0] == 0:
        return torch.empty(0, offsets.shape[0], dtype=torch.int32, device=coords.device)
    margin = int(offsets.abs().max())
    extent = key_extent(coords, margin)
    if neighbor_map_backend(coords) == "triton":
        from .neighbor_map_triton import build_neighbor_map_triton

        return build_neighbor_map_triton(coords, offsets, extent, margin)
    lookup = VoxelLookup(coords, margin=margin)
    if lookup.has_duplicates():
        raise ValueError(DUPLICATE_VOXELS)
    return lookup.find_shifted(coords, offsets.to(coords.device))


def neighbor_map_backend(coords: torch.Tensor) -> str:
    """'triton' for CUDA coords when triton is importable, else 'torch'; SPARSETENSOR_NMAP_BACKEND overrides."""
    return _backend_override("SPARSETENSOR_NMAP_BACKEND") or _triton_if_cuda(coords)


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


def submanifold_conv3d_to_children(
    feats: torch.Tensor,
    coords: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    parent: torch.Tensor,
    child: torch.Tensor,
    dilation: int | tuple[int, int, int] = 1,
    neighbor_map: torch.Tensor | None = None,
) -> torch.Tensor:
    """Submanifold conv fused with the channel-to-spatial unpacking that follows it in up blocks.

    The Co output channels form 8 child blocks of Co / 8; output row i is block `child[i]` of the conv at voxel
    `parent[i]`, i.e. `submanifold_conv3d(...).view(N, 8, Co // 8)[parent, child]`. The Triton path computes and
    writes only the listed blocks (half the work on surface-like subdivisions), without the [N, Co] intermediate.
    """
    if weight.dim() != 5 or weight.shape[0] % 8:
        raise ValueError(f"weight must be [Co, Kx, Ky, Kz, Ci] with Co divisible by 8, got {tuple(weight.shape)}")
    if parent.shape != child.shape or parent.dim() != 1:
        raise ValueError(f"parent and child must be equal 1-D index tensors, got {tuple(parent.shape)} and "
                         f"{tuple(child.shape)}")
    if neighbor_map is None:
        neighbor_map = build_neighbor_map(coords, tuple(weight.shape[1:4]), dilation)
    if conv_backend(feats, weight) == "triton":
        from .conv_triton import submanifold_conv3d_to_children_triton

        return submanifold_conv3d_to_children_triton(feats, neighbor_map, weight, bias, parent, child)
    full = submanifold_conv3d(feats, coords, weight, bias, dilation, neighbor_map)
    return full.view(len(full), 8, -1)[parent, child]


def conv_backend(feats: torch.Tensor, weight: torch.Tensor) -> str:
    """'triton' for CUDA inference when triton is importable, else 'torch'; SPARSETENSOR_CONV_BACKEND overrides.

    The Triton kernel is forward-only, so tensors that need gradients always take the torch path.
    """
    chosen = _backend_override("SPARSETENSOR_CONV_BACKEND")
    if torch.is_grad_enabled() and (feats.requires_grad or weight.requires_grad):
        return "torch"
    return chosen or _triton_if_cuda(feats)


def _backend_override(variable: str) -> str | None:
    """The backend named by environment variable `variable` ('triton' or 'torch'), None when unset or empty."""
    chosen = os.environ.get(variable)
    if chosen not in (None, "", "triton", "torch"):
        raise ValueError(f"{variable}={chosen!r}; expected 'triton' or 'torch'")
    return chosen or None


def _triton_if_cuda(tensor: torch.Tensor) -> str:
    """The default backend: Triton kernels for CUDA tensors when triton is installed, torch otherwise."""
    return "triton" if tensor.is_cuda and _triton_installed() else "torch"


@functools.cache
def _triton_installed() -> bool:
    """Looked up once: a module search costs ~35 us, and the fused ops ask several times per transformer block."""
    return importlib.util.find_spec("triton") is not None
