"""Scaled dot-product attention over variable-length batches (self and cross), with selectable backends."""

from __future__ import annotations

import importlib.util
import math
import os

import torch
import torch.nn.functional as F

from ..tensor import VarLenTensor

BACKENDS = ("flash_attn", "sdpa", "math")
AttnInput = VarLenTensor | torch.Tensor


def attention_backend(device: torch.device) -> str:
    """Backend name: env var SPARSETENSOR_ATTN_BACKEND if set, else flash_attn / sdpa on CUDA, math on CPU."""
    chosen = os.environ.get("SPARSETENSOR_ATTN_BACKEND")
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"SPARSETENSOR_ATTN_BACKEND={chosen!r}; expected one of {BACKENDS}")
        return chosen
    if device.type != "cuda":
        return "math"
    return "flash_attn" if importlib.util.find_spec("flash_attn") is not None else "sdpa"


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


def _flash_attention(qs: list[torch.Tensor], ks: list[torch.Tensor], vs: list[torch.Tensor]) -> list[torch.Tensor]:
    from flash_attn import flash_attn_varlen_func

    def cum(seqs: list[torch.Tensor]) -> torch.Tensor:
        lengths = torch.tensor([0] + [s.shape[0] for s in seqs], device=seqs[0].device)
        return lengths.cumsum(0).int()

    out = flash_attn_varlen_func(torch.cat(qs), torch.cat(ks), torch.cat(vs), cum(qs), cum(ks),
                                 max(s.shape[0] for s in qs), max(s.shape[0] for s in ks))
    return list(out.split([s.shape[0] for s in qs]))


def _attend(qs: list[torch.Tensor], ks: list[torch.Tensor], vs: list[torch.Tensor]) -> list[torch.Tensor]:
    if len(qs) != len(ks):
        raise ValueError(f"batch sizes differ: {len(qs)} query sequences vs {len(ks)} key sequences")
    for q, k, v in zip(qs, ks, vs, strict=False):
        if q.shape[-2:] != k.shape[-2:] or k.shape != v.shape:
            raise ValueError(f"incompatible head shapes q={tuple(q.shape)} k={tuple(k.shape)} v={tuple(v.shape)}")
    device = qs[0].device if qs else torch.device("cpu")
    backend = attention_backend(device)
    nonempty = [i for i, (q, k) in enumerate(zip(qs, ks, strict=False)) if q.shape[0] and k.shape[0]]
    outs = [q.new_zeros(q.shape[0], q.shape[1], v.shape[-1]) for q, v in zip(qs, vs, strict=False)]
    if backend == "flash_attn" and nonempty:
        results = _flash_attention([qs[i] for i in nonempty], [ks[i] for i in nonempty], [vs[i] for i in nonempty])
        for i, r in zip(nonempty, results, strict=False):
            outs[i] = r
        return outs
    single = _sdpa_attention if backend == "sdpa" else _math_attention
    for i in nonempty:
        outs[i] = single(qs[i], ks[i], vs[i])
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
