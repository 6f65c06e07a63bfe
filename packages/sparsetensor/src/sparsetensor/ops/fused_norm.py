"""Row-wise layer norm fused with what transformer and U-Net blocks do right after it: adaLN modulation
(`* (1 + scale) + shift` with per-sample vectors) and a SiLU, plus the gated residual `x + y * gate`.

Each function has a torch reference (the unfused expression, used on the CPU and whenever gradients are needed) and a
Triton kernel for CUDA tensors that reads the input once and writes the result once. The kernels round to the input
dtype at exactly the points where the unfused expression does, so both paths return the same values (up to the
last bit of the float32 reduction order) and the official checkpoints see the arithmetic they were trained with.

Per-sample vectors ([B, C]) reach rows of a flattened [N, C] input either through `rows_per_sample` (a dense batch
[B, L, C]: row r belongs to sample r // L) or through a per-row `sample_index` [N] (a packed variable-length batch).
`SPARSETENSOR_FUSED_BACKEND=torch|triton` overrides the automatic choice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .conv import _backend_override, _triton_if_cuda

ACTIVATIONS = (None, "silu")


def fused_backend(x: torch.Tensor, *tensors: torch.Tensor | None) -> str:
    """'triton' for CUDA inputs without autograd when triton is installed, else 'torch' (env var overrides)."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, *tensors)):
        return "torch"
    return _backend_override("SPARSETENSOR_FUSED_BACKEND") or _triton_if_cuda(x)


def per_row(values: torch.Tensor, rows: int, sample_index: torch.Tensor | None, rows_per_sample: int | None):
    """Expand per-sample vectors [B, C] to one per row [rows, C] (the reference path's broadcast)."""
    if sample_index is not None:
        return values[sample_index.long()]
    if rows_per_sample is not None:
        return values[:, None].expand(-1, rows_per_sample, -1).reshape(rows, -1)  # repeat_interleave syncs
    if values.shape[0] != 1:
        raise ValueError(f"{values.shape[0]} per-sample vectors need sample_index or rows_per_sample")
    return values.expand(rows, -1)


def _check_samples(x: torch.Tensor, values: torch.Tensor, sample_index, rows_per_sample, name: str) -> None:
    if values.ndim != 2 or values.shape[1] != x.shape[-1]:
        raise ValueError(f"{name} must be [B, {x.shape[-1]}], got {tuple(values.shape)}")
    if sample_index is not None and (sample_index.ndim != 1 or sample_index.shape[0] != x.shape[0]):
        raise ValueError(f"sample_index must be [{x.shape[0]}], got {tuple(sample_index.shape)}")
    if rows_per_sample is not None and rows_per_sample * values.shape[0] != x.shape[0]:
        raise ValueError(f"{values.shape[0]} samples of {rows_per_sample} rows do not make {x.shape[0]} rows")


def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
    *,
    shift: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    sample_index: torch.Tensor | None = None,
    rows_per_sample: int | None = None,
    activation: str | None = None,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Layer norm of each row of `x` [N, C] computed in float32 and cast to `out_dtype` (default `x.dtype`), then
    optionally modulated, `y * (1 + scale) + shift` with per-sample `scale`/`shift` [B, C], then optionally SiLU.

    Equals `F.layer_norm(x.float(), (C,), weight, bias, eps).to(out_dtype)` followed by those steps in `out_dtype`.
    """
    if x.ndim != 2:
        raise ValueError(f"layer_norm takes rows [N, C], got shape {tuple(x.shape)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    for name, values in (("shift", shift), ("scale", scale)):
        if values is not None:
            _check_samples(x, values, sample_index, rows_per_sample, name)
    if fused_backend(x, weight, bias, shift, scale) == "triton" and x.numel():
        from .fused_norm_triton import layer_norm_triton

        return layer_norm_triton(x, weight, bias, eps, shift, scale, sample_index, rows_per_sample, activation,
                                 out_dtype or x.dtype)
    return layer_norm_reference(x, weight, bias, eps, shift, scale, sample_index, rows_per_sample, activation,
                                out_dtype or x.dtype)


def layer_norm_reference(x, weight, bias, eps, shift, scale, sample_index, rows_per_sample, activation, out_dtype):
    """The unfused torch expression `layer_norm` computes (see there)."""
    weight = None if weight is None else weight.float()
    bias = None if bias is None else bias.float()
    y = F.layer_norm(x.float(), x.shape[-1:], weight, bias, eps).to(out_dtype)
    if scale is not None:
        y = y * (1 + per_row(scale.to(out_dtype), len(x), sample_index, rows_per_sample))
    if shift is not None:
        y = y + per_row(shift.to(out_dtype), len(x), sample_index, rows_per_sample)
    return F.silu(y) if activation == "silu" else y


def gated_residual(
    x: torch.Tensor,
    y: torch.Tensor,
    gate: torch.Tensor,
    *,
    sample_index: torch.Tensor | None = None,
    rows_per_sample: int | None = None,
) -> torch.Tensor:
    """`x + y * gate` for rows `x`, `y` [N, C] and per-sample gates [B, C], rounded to `x.dtype` after the product
    and after the sum (as the unfused expression in `x.dtype`)."""
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x and y must be equal [N, C] rows, got {tuple(x.shape)} and {tuple(y.shape)}")
    _check_samples(x, gate, sample_index, rows_per_sample, "gate")
    if fused_backend(x, y, gate) == "triton" and x.numel():
        from .fused_norm_triton import gated_residual_triton

        return gated_residual_triton(x, y, gate, sample_index, rows_per_sample)
    return x + y.to(x.dtype) * per_row(gate.to(x.dtype), len(x), sample_index, rows_per_sample)
