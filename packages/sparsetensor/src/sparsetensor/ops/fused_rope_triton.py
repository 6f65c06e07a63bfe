"""Triton kernel behind `fused_rope.rms_norm_rope`: each program loads a block of whole (token, head) vectors
(contiguous, vectorised loads), normalises them and splits them into even/odd channels for the rotation."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rms_norm_rope_kernel(
    x_ptr, gamma_ptr, cos_ptr, sin_ptr, out_ptr,
    n_vectors, n_heads, n_positions, row_stride, head_stride, scale,
    HAS_GAMMA: tl.constexpr, HAS_ROTATION: tl.constexpr, HALF: tl.constexpr, BLOCK_V: tl.constexpr,
):
    vectors = (tl.program_id(0) * BLOCK_V + tl.arange(0, BLOCK_V)).to(tl.int64)
    channels = tl.arange(0, 2 * HALF)
    ok = (vectors < n_vectors)[:, None]
    rows = vectors // n_heads
    heads = vectors % n_heads
    out_type = out_ptr.dtype.element_ty
    x = tl.load(x_ptr + (rows * row_stride + heads * head_stride)[:, None] + channels[None, :], mask=ok, other=0.0)
    x = x.to(tl.float32)
    if HAS_GAMMA:
        norm = tl.sqrt(tl.sum(x * x, axis=1))
        gamma = tl.load(gamma_ptr + heads[:, None] * (2 * HALF) + channels[None, :], mask=ok, other=0.0)
        x = (x / tl.maximum(norm, 1e-12)[:, None] * gamma * scale).to(out_type).to(tl.float32)
    if HAS_ROTATION:
        even, odd = tl.split(tl.reshape(x, (BLOCK_V, HALF, 2)))
        table = ((rows % n_positions) * HALF)[:, None] + tl.arange(0, HALF)[None, :]
        cos = tl.load(cos_ptr + table, mask=ok, other=1.0)
        sin = tl.load(sin_ptr + table, mask=ok, other=0.0)
        x = tl.reshape(tl.join(even * cos - odd * sin, even * sin + odd * cos), (BLOCK_V, 2 * HALF))
    tl.store(out_ptr + vectors[:, None] * (2 * HALF) + channels[None, :], x.to(out_type), mask=ok)


def _as_rows(x: torch.Tensor) -> torch.Tensor:
    """A view of `x` [..., H, D] whose token axes collapse to one row axis with a single stride (copy if not)."""
    if x.stride(-1) != 1:
        x = x.contiguous()
    for axis in range(x.ndim - 3):
        if x.stride(axis) != x.shape[axis + 1] * x.stride(axis + 1):
            return x.contiguous()
    return x


def rms_norm_rope_triton(x, gamma, scale, rotation):
    """Launch the fused RMS norm + rotary embedding (see `fused_rope.rms_norm_rope`)."""
    x = _as_rows(x)
    n_heads, head_dim = x.shape[-2:]
    n_positions = x.shape[-3]
    n_vectors = x.numel() // head_dim
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if rotation is not None:
        cos, sin = (table.float().contiguous() for table in rotation)
    else:
        cos = sin = out
    gamma_arg = out if gamma is None else gamma.float().contiguous()
    block_v = max(1, 4096 // head_dim)
    _rms_norm_rope_kernel[(triton.cdiv(n_vectors, block_v),)](
        x, gamma_arg, cos, sin, out, n_vectors, n_heads, n_positions, x.stride(-3), x.stride(-2), float(scale),
        HAS_GAMMA=gamma is not None, HAS_ROTATION=rotation is not None, HALF=head_dim // 2, BLOCK_V=block_v,
        num_warps=4, enable_fp_fusion=False,
    )
    return out
