"""Triton implicit-GEMM submanifold convolution: each program computes a [BM, BN] output tile by reading neighbour
rows straight from `feats` through the cached neighbour map, so no [N, K, C] gather is ever materialised."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _implicit_gemm_kernel(
    feats_ptr, nmap_ptr, weight_ptr, bias_ptr, out_ptr,
    n_rows, n_offsets, c_in, c_out,
    HAS_BIAS: tl.constexpr, IEEE: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    cols = tl.program_id(1) * BN + tl.arange(0, BN)
    chans = tl.arange(0, BK)
    row_ok = rows < n_rows
    col_ok = cols < c_out
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(n_offsets):
        src = tl.load(nmap_ptr + rows.to(tl.int64) * n_offsets + k, mask=row_ok, other=-1).to(tl.int64)
        src_ok = src >= 0
        for c0 in range(0, c_in, BK):
            ch = c0 + chans
            a = tl.load(feats_ptr + src[:, None] * c_in + ch[None, :], mask=src_ok[:, None] & (ch[None, :] < c_in),
                        other=0.0)
            w = tl.load(weight_ptr + (k * c_in + ch[:, None]).to(tl.int64) * c_out + cols[None, :],
                        mask=(ch[:, None] < c_in) & col_ok[None, :], other=0.0)
            if IEEE:
                acc += tl.dot(a, w, input_precision="ieee")
            else:
                acc += tl.dot(a, w)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    out_offsets = rows.to(tl.int64)[:, None] * c_out + cols[None, :]
    tl.store(out_ptr + out_offsets, acc.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


def _tile(size: int, largest: int) -> int:
    """Power-of-two tile in [16, largest] covering `size` where possible (tl.dot needs >= 16)."""
    return max(16, min(largest, triton.next_power_of_2(size)))


def submanifold_conv3d_triton(
    feats: torch.Tensor,
    neighbor_map: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Same function as `submanifold_conv3d_reference` (forward only), fp32 accumulation, output in feats' dtype."""
    n, c_in = feats.shape
    c_out = weight.shape[0]
    weight_kcc = weight.reshape(c_out, -1, c_in).permute(1, 2, 0).contiguous().to(feats.dtype)
    nmap = neighbor_map.to(torch.int32).contiguous()
    out = torch.empty(n, c_out, dtype=feats.dtype, device=feats.device)
    if n == 0:
        return out
    bm, bn, bk = 64, _tile(c_out, 128), _tile(c_in, 64)
    grid = (triton.cdiv(n, bm), triton.cdiv(c_out, bn))
    _implicit_gemm_kernel[grid](
        feats.contiguous(), nmap, weight_kcc, bias if bias is not None else out, out,
        n, nmap.shape[1], c_in, c_out,
        HAS_BIAS=bias is not None, IEEE=feats.dtype == torch.float32, BM=bm, BN=bn, BK=bk,
    )
    return out
