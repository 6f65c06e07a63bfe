"""Triton kernels behind `fused_norm`: one program normalises (or gates) a block of whole rows.

Rounding to the output dtype happens where the unfused torch expression rounds (after the norm, after `1 + scale`,
after each product and sum), so the result matches the reference path. The kernels are compiled without
floating-point contraction (`enable_fp_fusion=False`): an FMA would merge a product with the following sum across
the intermediate rounding (on the H200 that changed 23% of the bfloat16 outputs of the gated residual by one ulp).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _sample_of_rows(rows, sample_index_ptr, rows_per_sample, row_ok, MODE: tl.constexpr):
    """Sample of each row: 0 (one sample), rows // rows_per_sample (dense batch), or sample_index[rows]."""
    if MODE == 0:
        return rows * 0
    elif MODE == 1:
        return rows // rows_per_sample
    else:
        return tl.load(sample_index_ptr + rows, mask=row_ok, other=0).to(tl.int64)


@triton.jit
def _layer_norm_kernel(
    x_ptr, weight_ptr, bias_ptr, shift_ptr, scale_ptr, sample_index_ptr, out_ptr,
    n_rows, n_cols, x_stride, mod_stride, rows_per_sample, eps,
    HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_SHIFT: tl.constexpr, HAS_SCALE: tl.constexpr,
    SILU: tl.constexpr, SAMPLE_MODE: tl.constexpr, BLOCK_ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):
    rows = (tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)).to(tl.int64)
    cols = tl.arange(0, BLOCK_COLS)
    row_ok = rows < n_rows
    col_ok = cols < n_cols
    mask = row_ok[:, None] & col_ok[None, :]
    x = tl.load(x_ptr + rows[:, None] * x_stride + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=1) / n_cols
    centred = tl.where(mask, x - mean[:, None], 0.0)
    variance = tl.sum(centred * centred, axis=1) / n_cols
    y = centred * tl.rsqrt(variance + eps)[:, None]
    if HAS_WEIGHT:
        y = y * tl.load(weight_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if HAS_BIAS:
        y = y + tl.load(bias_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    out_type = out_ptr.dtype.element_ty
    y = y.to(out_type).to(tl.float32)
    if HAS_SHIFT or HAS_SCALE:
        samples = _sample_of_rows(rows, sample_index_ptr, rows_per_sample, row_ok, SAMPLE_MODE)
        mod_offsets = samples[:, None] * mod_stride + cols[None, :]
        if HAS_SCALE:
            scale = tl.load(scale_ptr + mod_offsets, mask=mask, other=0.0).to(tl.float32)
            y = (y * (1.0 + scale).to(out_type).to(tl.float32)).to(out_type).to(tl.float32)
        if HAS_SHIFT:
            shift = tl.load(shift_ptr + mod_offsets, mask=mask, other=0.0).to(tl.float32)
            y = (y + shift).to(out_type).to(tl.float32)
    if SILU:
        y = y / (1.0 + tl.exp(-y))
    tl.store(out_ptr + rows[:, None] * n_cols + cols[None, :], y.to(out_type), mask=mask)


@triton.jit
def _gated_residual_kernel(
    x_ptr, y_ptr, gate_ptr, sample_index_ptr, out_ptr,
    n_rows, n_cols, x_stride, y_stride, gate_stride, rows_per_sample,
    SAMPLE_MODE: tl.constexpr, BLOCK_ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
):
    rows = (tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
    row_ok = rows < n_rows
    mask = row_ok[:, None] & (cols < n_cols)[None, :]
    out_type = out_ptr.dtype.element_ty
    samples = _sample_of_rows(rows, sample_index_ptr, rows_per_sample, row_ok, SAMPLE_MODE)
    gate = tl.load(gate_ptr + samples[:, None] * gate_stride + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    x = tl.load(x_ptr + rows[:, None] * x_stride + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    y = tl.load(y_ptr + rows[:, None] * y_stride + cols[None, :], mask=mask, other=0.0).to(out_type).to(tl.float32)
    gated = (y * gate).to(out_type).to(tl.float32)
    tl.store(out_ptr + rows[:, None] * n_cols + cols[None, :], (x + gated).to(out_type), mask=mask)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """`x` with unit column stride (a row stride of its own is fine)."""
    return x if x.stride(-1) == 1 else x.contiguous()


def _sample_args(sample_index: torch.Tensor | None, rows_per_sample: int | None, like: torch.Tensor):
    if sample_index is not None:
        return 2, sample_index.contiguous(), 1
    if rows_per_sample is not None:
        return 1, like, rows_per_sample
    return 0, like, 1


def _row_block(n_cols: int) -> tuple[int, int, int]:
    """(rows per program, padded columns, warps): about 4K elements per program, at least one whole row."""
    block_cols = triton.next_power_of_2(n_cols)
    block_rows = max(1, min(64, 4096 // block_cols))
    warps = 4 if block_cols * block_rows <= 4096 else 8
    return block_rows, block_cols, warps


def layer_norm_triton(x, weight, bias, eps, shift, scale, sample_index, rows_per_sample, activation, out_dtype):
    """Launch the fused layer norm on rows `x` [N, C] (see `fused_norm.layer_norm`)."""
    x = _rows(x)
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=out_dtype, device=x.device)
    mode, index, per_sample = _sample_args(sample_index, rows_per_sample, x)
    shift = None if shift is None else _rows(shift.to(out_dtype))
    scale = None if scale is None else _rows(scale.to(out_dtype))
    if shift is not None and scale is not None and shift.stride(0) != scale.stride(0):
        shift, scale = shift.contiguous(), scale.contiguous()
    modulation = scale if scale is not None else shift
    block_rows, block_cols, warps = _row_block(n_cols)
    _layer_norm_kernel[(triton.cdiv(n_rows, block_rows),)](
        x, x if weight is None else weight, x if bias is None else bias,
        x if shift is None else shift, x if scale is None else scale, index, out,
        n_rows, n_cols, x.stride(0), 0 if modulation is None else modulation.stride(0), per_sample, eps,
        HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None, HAS_SHIFT=shift is not None,
        HAS_SCALE=scale is not None, SILU=activation == "silu", SAMPLE_MODE=mode,
        BLOCK_ROWS=block_rows, BLOCK_COLS=block_cols, num_warps=warps, enable_fp_fusion=False,
    )
    return out


def gated_residual_triton(x, y, gate, sample_index, rows_per_sample):
    """Launch the fused `x + y * gate` on rows [N, C] (see `fused_norm.gated_residual`)."""
    x, y, gate = _rows(x), _rows(y), _rows(gate.to(x.dtype))
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    mode, index, per_sample = _sample_args(sample_index, rows_per_sample, x)
    block_cols = min(triton.next_power_of_2(n_cols), 1024)
    block_rows = max(1, 4096 // block_cols)
    grid = (triton.cdiv(n_rows, block_rows), triton.cdiv(n_cols, block_cols))
    _gated_residual_kernel[grid](
        x, y, gate, index, out, n_rows, n_cols, x.stride(0), y.stride(0), gate.stride(0), per_sample,
        SAMPLE_MODE=mode, BLOCK_ROWS=block_rows, BLOCK_COLS=block_cols, num_warps=4, enable_fp_fusion=False,
    )
    return out
