"""Z-order (Morton) and Hilbert codes of 10-bit 3D coordinates, as in o-voxel's serializer (30-bit codes)."""

from __future__ import annotations

from typing import Literal

import torch

BITS = 10


def _spread(v: torch.Tensor) -> torch.Tensor:
    """Put bit i of v at bit 3i."""
    out = torch.zeros_like(v)
    for i in range(BITS):
        out |= ((v >> i) & 1) << (3 * i)
    return out


def _gather(v: torch.Tensor) -> torch.Tensor:
    """Inverse of _spread: collect every third bit."""
    out = torch.zeros_like(v)
    for i in range(BITS):
        out |= ((v >> (3 * i)) & 1) << i
    return out


def _interleave(axes: list[torch.Tensor]) -> torch.Tensor:
    return (_spread(axes[0]) << 2) | (_spread(axes[1]) << 1) | _spread(axes[2])


def _deinterleave(code: torch.Tensor) -> list[torch.Tensor]:
    return [_gather(code >> 2), _gather(code >> 1), _gather(code)]


def _exchange_or_invert(axes: list[torch.Tensor], i: int, bit: int) -> None:
    """Skilling's per-level step: invert low bits of axis 0 if axis i has `bit`, else swap their low bits."""
    low = bit - 1
    has = (axes[i] & bit) != 0
    swap = (axes[0] ^ axes[i]) & low
    axes[0] = torch.where(has, axes[0] ^ low, axes[0] ^ swap)
    if i:
        axes[i] = torch.where(has, axes[i], axes[i] ^ swap)


def _hilbert_transpose(axes: list[torch.Tensor]) -> list[torch.Tensor]:
    """Axes -> transposed Hilbert index (J. Skilling, 'Programming the Hilbert curve', 2004)."""
    axes = list(axes)
    bit = 1 << (BITS - 1)
    while bit > 1:
        for i in range(3):
            _exchange_or_invert(axes, i, bit)
        bit >>= 1
    axes[1] = axes[1] ^ axes[0]
    axes[2] = axes[2] ^ axes[1]
    flips = torch.zeros_like(axes[0])
    bit = 1 << (BITS - 1)
    while bit > 1:
        flips = torch.where((axes[2] & bit) != 0, flips ^ (bit - 1), flips)
        bit >>= 1
    return [a ^ flips for a in axes]


def _hilbert_untranspose(axes: list[torch.Tensor]) -> list[torch.Tensor]:
    """Transposed Hilbert index -> axes (inverse of _hilbert_transpose)."""
    axes = list(axes)
    top = axes[2] >> 1
    axes[2] = axes[2] ^ axes[1]
    axes[1] = axes[1] ^ axes[0]
    axes[0] = axes[0] ^ top
    bit = 2
    while bit != 1 << BITS:
        for i in (2, 1, 0):
            _exchange_or_invert(axes, i, bit)
        bit <<= 1
    return axes


def encode_seq(coords: torch.Tensor, permute: tuple[int, int, int] = (0, 1, 2),
               mode: Literal["z_order", "hilbert"] = "z_order") -> torch.Tensor:
    """30-bit serialization code [N] (int32) of coords [N, 3] in [0, 1024), axes taken in `permute` order."""
    if coords.dim() != 2 or coords.shape[1] != 3:
        raise ValueError(f"coords must be [N, 3], got {tuple(coords.shape)}")
    if coords.numel() and (coords.min() < 0 or coords.max() >= 1 << BITS):
        raise ValueError(f"coords must lie in [0, {1 << BITS}) for {BITS}-bit serialization")
    axes = [coords[:, p].long() for p in permute]
    if mode == "hilbert":
        axes = _hilbert_transpose(axes)
    elif mode != "z_order":
        raise ValueError(f"mode must be 'z_order' or 'hilbert', got {mode!r}")
    return _interleave(axes).int()


def decode_seq(code: torch.Tensor, permute: tuple[int, int, int] = (0, 1, 2),
               mode: Literal["z_order", "hilbert"] = "z_order") -> torch.Tensor:
    """Inverse of encode_seq: coords [N, 3] (int32) from codes [N]."""
    if code.dim() != 1:
        raise ValueError(f"code must be 1-D, got {tuple(code.shape)}")
    axes = _deinterleave(code.long())
    if mode == "hilbert":
        axes = _hilbert_untranspose(axes)
    elif mode != "z_order":
        raise ValueError(f"mode must be 'z_order' or 'hilbert', got {mode!r}")
    return torch.stack([axes[permute.index(d)] for d in range(3)], 1).int()
