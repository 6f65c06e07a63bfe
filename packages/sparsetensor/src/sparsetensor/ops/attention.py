"""Scaled dot-product attention over variable-length batches (self and cross), with selectable backends."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import itertools
import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..tensor import VarLenTensor

BACKENDS = ("flash_attn", "varlen", "cudnn", "sdpa", "math")
AttnInput = VarLenTensor | torch.Tensor
# Auto choice on CUDA: at most this many sequences, of at least this many queries on average, run one SDPA call each
# (cuDNN first on Hopper); more or shorter sequences take one varlen launch, where per-call overhead would dominate.
LOOP_MAX_SEQUENCES = 8
LOOP_MIN_MEAN_LENGTH = 1024
# sdpa_kernel(..., set_priority=True), which lets cuDNN go first while keeping the other kernels as fallbacks, is
# torch >= 2.6; older torch never gets the 'cudnn' backend.
_SDPA_PRIORITY = "set_priority" in inspect.signature(sdpa_kernel).parameters


def attention_backend(device: torch.device, dtype: torch.dtype | None = None, head_dim: int = 64,
                      lengths: Sequence[int] = ()) -> str:
    """Backend for attention over sequences of these query `lengths`: env var SPARSETENSOR_ATTN_BACKEND if set.

    Otherwise 'math' on CPU, and on CUDA: 'cudnn' (SDPA per sequence, cuDNN kernels first) on Hopper for a few
    long fp16/bf16 sequences, where cuDNN's kernels beat FlashAttention-2; else 'flash_attn' when installed, else
    torch's one-launch 'varlen' kernel when it exists; 'sdpa' (per sequence, torch's priority) for everything else.
    """
    chosen = os.environ.get("SPARSETENSOR_ATTN_BACKEND")
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"SPARSETENSOR_ATTN_BACKEND={chosen!r}; expected one of {BACKENDS}")
        if chosen == "cudnn" and not _SDPA_PRIORITY:
            raise ValueError("SPARSETENSOR_ATTN_BACKEND=cudnn needs torch >= 2.6 (sdpa_kernel set_priority)")
        return chosen
    if device.type != "cuda":
        return "math"
    if dtype not in (torch.float16, torch.bfloat16) or head_dim % 8 or head_dim > 256:
        return "sdpa"
    few_long = len(lengths) <= LOOP_MAX_SEQUENCES and sum(lengths) >= LOOP_MIN_MEAN_LENGTH * len(lengths)
    if few_long and _cudnn_preferred(device):
        return "cudnn"
    if importlib.util.find_spec("flash_attn") is not None:
        return "flash_attn"
    return "varlen" if _has_varlen_attn() else "sdpa"


def _cudnn_preferred(device: torch.device) -> bool:
    """Whether SDPA's cuDNN kernels are usable and the device is Hopper (sm_90), where they are the fastest."""
    return (_SDPA_PRIORITY and hasattr(SDPBackend, "CUDNN_ATTENTION") and torch.backends.cuda.cudnn_sdp_enabled()
            and torch.cuda.get_device_capability(device)[0] == 9)


def _has_varlen_attn() -> bool:
    return importlib.util.find_spec("torch.nn.attention.varlen") is not None


def _split(x: AttnInput, packed: int, name: str) -> tuple[list[torch.Tensor], VarLenTensor | None]:
    """Per-sequence tensors [L_i, (packed,) H, D] and the VarLenTensor template (None for dense input)."""
    expect = 3 if packed == 1 else 4
    if isinstance(x, VarLenTensor):
        if x.feats.dim() != expect:
            raise ValueError(f"{name} feats must have {expect} dims, got {tuple(x.feats.shape)}")
        return [x.feats[part] for part in x.layout], x
    if isinstance(x, torch.Tensor):
        if x.dim() != expect + 1:
            raise ValueError(f"dense {name} must have {expect + 1} dims [B, L, ...], got {tuple(x.shape)}")
        return list(x.unbind(0)), None
    raise TypeError(f"{name} must be a SparseTensor, VarLenTensor or torch.Tensor, got {type(x).__name__}")


def _math_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Naive softmax(QK^T/sqrt(D))V for one sequence: q [Lq, H, D], k/v [Lk, H, D]."""
    scores = torch.einsum("qhd,khd->hqk", q, k) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.einsum("hqk,khd->qhd", scores.softmax(-1), v)


def _sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    out = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None])
    return out[0].transpose(0, 1)


def _per_sequence(qs: list[torch.Tensor], ks: list[torch.Tensor], vs: list[torch.Tensor],
                  backend: str) -> list[torch.Tensor]:
    """One attention call per sequence: plain math, or SDPA (with cuDNN kernels first for 'cudnn')."""
    if backend == "math":
        return [_math_attention(q, k, v) for q, k, v in zip(qs, ks, vs, strict=True)]
    order = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    with sdpa_kernel(order, set_priority=True) if backend == "cudnn" else contextlib.nullcontext():
        return [_sdpa_attention(q, k, v) for q, k, v in zip(qs, ks, vs, strict=True)]


def _one_launch(qs: list[torch.Tensor], ks: list[torch.Tensor], vs: list[torch.Tensor],
                backend: str) -> list[torch.Tensor]:
    """All sequences in one varlen kernel (flash_attn's, or torch's varlen_attn) over the concatenated tokens."""
    if backend == "flash_attn":
        from flash_attn import flash_attn_varlen_func as varlen
    else:
        from torch.nn.attention.varlen import varlen_attn as varlen
    q_lengths, k_lengths = [q.shape[0] for q in qs], [k.shape[0] for k in ks]
    cu_q, cu_k = (torch.tensor([0, *itertools.accumulate(lengths)], dtype=torch.int32, device=qs[0].device)
                  for lengths in (q_lengths, k_lengths))
    out = varlen(torch.cat(qs), torch.cat(ks), torch.cat(vs), cu_q, cu_k, max(q_lengths), max(k_lengths))
    return list(out.split(q_lengths))


def _attend(qs: list[torch.Tensor], ks: list[torch.Tensor], vs: list[torch.Tensor]) -> list[torch.Tensor]:
    if len(qs) != len(ks):
        raise ValueError(f"batch sizes differ: {len(qs)} query sequences vs {len(ks)} key sequences")
    for q, k, v in zip(qs, ks, vs, strict=False):
        if q.shape[-2:] != k.shape[-2:] or k.shape != v.shape:
            raise ValueError(f"incompatible head shapes q={tuple(q.shape)} k={tuple(k.shape)} v={tuple(v.shape)}")
    nonempty = [i for i, (q, k) in enumerate(zip(qs, ks, strict=False)) if q.shape[0] and k.shape[0]]
    outs = [q.new_zeros(q.shape[0], q.shape[1], v.shape[-1]) if i not in nonempty else None
            for i, (q, v) in enumerate(zip(qs, vs, strict=False))]
    if not nonempty:
        return outs
    picked = [qs[i] for i in nonempty], [ks[i] for i in nonempty], [vs[i] for i in nonempty]
    backend = attention_backend(qs[0].device, qs[0].dtype, qs[0].shape[-1], [q.shape[0] for q in picked[0]])
    attend = _one_launch if backend in ("flash_attn", "varlen") else _per_sequence
    for i, out in zip(nonempty, attend(*picked, backend), strict=True):
        outs[i] = out
    return outs


def scaled_dot_product_attention(*args: AttnInput) -> AttnInput:
    """Attention per batch item; call as (qkv), (q, kv) or (q, k, v) like upstream's sparse SDPA.

    Shapes: packed qkv [N, 3, H, D]; kv [N, 2, H, D]; q/k/v [N, H, D] (SparseTensor/VarLenTensor) or dense
    [B, L, ...]. The result has q's type (and layout/coords), feats [N, H, Dv].
    """
    if len(args) == 1:
        seqs, template = _split(args[0], 3, "qkv")
        qs, ks, vs = [s[:, 0] for s in seqs], [s[:, 1] for s in seqs], [s[:, 2] for s in seqs]
    elif len(args) == 2:
        qs, template = _split(args[0], 1, "q")
        kv, _ = _split(args[1], 2, "kv")
        ks, vs = [s[:, 0] for s in kv], [s[:, 1] for s in kv]
    elif len(args) == 3:
        qs, template = _split(args[0], 1, "q")
        ks, _ = _split(args[1], 1, "k")
        vs, _ = _split(args[2], 1, "v")
    else:
        raise TypeError(f"scaled_dot_product_attention takes 1, 2 or 3 tensors, got {len(args)}")
    outs = _attend(qs, ks, vs)
    if template is None:
        return torch.stack(outs)
    feats = torch.cat(outs) if outs else template.feats.new_zeros(0, 0, 0)
    return template.replace(feats)
