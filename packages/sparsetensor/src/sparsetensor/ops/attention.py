"""Scaled dot-product attention over variable-length batches (self and cross), with selectable backends.

Inputs stay packed: q, k and v are [N, H, D] views of the caller's features (no per-sequence split or concatenation
of the inputs), and everything derived from the sequence lengths (offsets, the device cu_seqlens, maxima) is cached
per layout, so a repeated call costs the kernel launches plus a few microseconds of Python.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

from ..tensor import VarLenTensor

BACKENDS = ("flash_attn", "varlen", "cudnn", "sdpa", "math")
AttnInput = VarLenTensor | torch.Tensor
# Auto choice on CUDA (H200 table in benchmarks/bench_attention.py): one sequence, or at most this many sequences of
# at least this many queries on average, run one SDPA call each (cuDNN first on Hopper); more or shorter sequences
# take one varlen launch, where the per-call overhead of a loop would dominate (4 x 1k tokens: varlen wins).
LOOP_MAX_SEQUENCES = 8
LOOP_MIN_MEAN_LENGTH = 2048
# Putting cuDNN first while keeping the other SDPA kernels as fallbacks needs torch >= 2.6 (SDPA priority order);
# older torch never gets the 'cudnn' backend.
_SDPA_PRIORITY = hasattr(torch._C, "_set_sdp_priority_order") and hasattr(SDPBackend, "CUDNN_ATTENTION")
_PLAN_CACHE_SIZE = 64


def attention_backend(device: torch.device, dtype: torch.dtype | None = None, head_dim: int = 64,
                      lengths: Sequence[int] = ()) -> str:
    """Backend for attention over sequences of these query `lengths`: env var SPARSETENSOR_ATTN_BACKEND if set.

    Otherwise 'math' on CPU, and on CUDA: 'cudnn' (SDPA per sequence, cuDNN kernels first) on Hopper for one or a
    few long fp16/bf16 sequences, where cuDNN's kernels beat FlashAttention-2; else 'flash_attn' when installed, else
    torch's one-launch FlashAttention-2 'varlen' kernel (sm_80 and newer); 'sdpa' (per sequence, torch's priority) for
    everything else.
    """
    chosen = os.environ.get("SPARSETENSOR_ATTN_BACKEND")
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"SPARSETENSOR_ATTN_BACKEND={chosen!r}; expected one of {BACKENDS}")
        if chosen == "cudnn" and not _SDPA_PRIORITY:
            raise ValueError("SPARSETENSOR_ATTN_BACKEND=cudnn needs torch >= 2.6 (SDPA priority order)")
        return chosen
    if device.type != "cuda":
        return "math"
    if dtype not in (torch.float16, torch.bfloat16) or head_dim % 8 or head_dim > 256:
        return "sdpa"
    few_long = len(lengths) == 1 or (len(lengths) <= LOOP_MAX_SEQUENCES
                                     and sum(lengths) >= LOOP_MIN_MEAN_LENGTH * len(lengths))
    if few_long and _cudnn_preferred(device):
        return "cudnn"
    if _flash_attn_installed():
        return "flash_attn"
    return "varlen" if _capability(device) >= (8, 0) and _has_flash_forward_op() else "sdpa"


def _cudnn_preferred(device: torch.device) -> bool:
    """Whether SDPA's cuDNN kernels are usable and the device is Hopper (sm_90), where they are the fastest."""
    return _SDPA_PRIORITY and torch.backends.cuda.cudnn_sdp_enabled() and _capability(device)[0] == 9


@functools.cache
def _capability(device: torch.device) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device)


@functools.cache
def _has_flash_forward_op() -> bool:
    """Whether this torch build has the FlashAttention forward op the 'varlen' backend calls (CUDA builds do)."""
    return hasattr(torch.ops.aten, "_flash_attention_forward")


@functools.cache
def _flash_attn_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def _torch_varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
                  max_q: int, max_k: int) -> torch.Tensor:
    """torch's FlashAttention-2 varlen kernel (differentiable), called as the op itself: torch.nn.attention.varlen's
    varlen_attn wraps the same op in a Python custom op plus an extra allocation, host time on every call."""
    return torch.ops.aten._flash_attention_forward(q, k, v, cu_q, cu_k, max_q, max_k, 0.0, False, False)[0]


@functools.cache
def _varlen_kernel(backend: str) -> Callable[..., torch.Tensor]:
    """flash_attn's or torch's varlen kernel: (q, k, v, cu_q, cu_k, max_q, max_k) over packed [N, H, D] tensors."""
    if backend == "flash_attn":
        from flash_attn import flash_attn_varlen_func
        return flash_attn_varlen_func
    return _torch_varlen


@dataclass(frozen=True)
class _Plan:
    """What a call needs from the query/key lengths, computed once per pair of layouts."""

    q_lengths: tuple[int, ...]
    k_lengths: tuple[int, ...]
    q_starts: tuple[int, ...]  # cumulative, as cu_seqlens
    k_starts: tuple[int, ...]
    attended_q_lengths: tuple[int, ...]  # of the sequences with queries and keys (the others give zeros)
    keyless_queries: bool  # some sequence has queries but no keys
    max_q: int
    max_k: int


@functools.lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _plan(q_lengths: tuple[int, ...], k_lengths: tuple[int, ...]) -> _Plan:
    pairs = tuple(zip(q_lengths, k_lengths, strict=True))
    return _Plan(q_lengths, k_lengths, tuple(itertools.accumulate(q_lengths, initial=0)),
                 tuple(itertools.accumulate(k_lengths, initial=0)), tuple(nq for nq, nk in pairs if nq and nk),
                 any(nq and not nk for nq, nk in pairs), max(q_lengths, default=0), max(k_lengths, default=0))


@functools.lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _device_offsets(starts: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """int32 cu_seqlens on `device`, made once per layout: building it is a host-to-device copy that waits for the
    device, which would otherwise stall every call. Made outside inference mode so autograd may use it later."""
    with torch.inference_mode(False):
        return torch.tensor(starts, dtype=torch.int32, device=device)


def _packed(x: AttnInput, parts: int, name: str) -> tuple[tuple[torch.Tensor, ...], tuple[int, ...]]:
    """The `parts` tensors [N, H, D] packed in x (views of its features) and the length of every sequence."""
    expect = 3 if parts == 1 else 4
    if isinstance(x, VarLenTensor):
        if x.feats.dim() != expect:
            raise ValueError(f"{name} feats must have {expect} dims, got {tuple(x.feats.shape)}")
        feats, lengths = x.feats, tuple(s.stop - s.start for s in x.layout)
    elif isinstance(x, torch.Tensor):
        if x.dim() != expect + 1:
            raise ValueError(f"dense {name} must have {expect + 1} dims [B, L, ...], got {tuple(x.shape)}")
        feats, lengths = x.flatten(0, 1), (x.shape[1],) * x.shape[0]
    else:
        raise TypeError(f"{name} must be a SparseTensor, VarLenTensor or torch.Tensor, got {type(x).__name__}")
    return ((feats,) if parts == 1 else feats.unbind(1)), lengths


def _math_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Naive softmax(QK^T/sqrt(D))V for one sequence: q [Lq, H, D], k/v [Lk, H, D]."""
    scores = torch.einsum("qhd,khd->hqk", q, k) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.einsum("hqk,khd->qhd", scores.softmax(-1), v)


def _sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """torch's SDPA for one sequence given as [1, H, L, D] views; the result is [Lq, H, D]."""
    return F.scaled_dot_product_attention(q, k, v)[0].transpose(0, 1)


@contextlib.contextmanager
def _cudnn_first() -> Iterator[None]:
    """SDPA tries its cuDNN kernels first inside (the others stay as fallbacks); sdpa_kernel(set_priority=True) does
    the same but also rewrites every backend's enable flag, several times the host cost."""
    previous = torch._C._get_sdp_priority_order()
    cudnn = int(SDPBackend.CUDNN_ATTENTION)
    torch._C._set_sdp_priority_order([cudnn, *(b for b in previous if b != cudnn)])
    try:
        yield
    finally:
        torch._C._set_sdp_priority_order(previous)


def _rows(x: torch.Tensor, lengths: tuple[int, ...], dim: int) -> tuple[torch.Tensor, ...]:
    """Per-sequence views of x along `dim`, in one op (x itself for one sequence)."""
    return x.split(lengths, dim) if len(lengths) > 1 else (x,)


def _per_sequence(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: _Plan, backend: str) -> torch.Tensor:
    """One attention call per sequence on views of the packed tensors: plain math, or SDPA (cuDNN first for 'cudnn')
    on [1, H, L, D] views; sequences without queries or keys give zeros. One sequence's result is not copied."""
    attend, dim = _math_attention, 0
    if backend != "math":  # SDPA takes heads first: [1, H, N, D] views, split along N
        attend, dim = _sdpa_attention, 2
        q, k, v = q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None]
    outs = []
    with _cudnn_first() if backend == "cudnn" else contextlib.nullcontext():
        for q_i, k_i, v_i, nq, nk in zip(_rows(q, plan.q_lengths, dim), _rows(k, plan.k_lengths, dim),
                                         _rows(v, plan.k_lengths, dim), plan.q_lengths, plan.k_lengths, strict=True):
            outs.append(attend(q_i, k_i, v_i) if nq and nk else q.new_zeros(nq, q.shape[1], v.shape[-1]))
    return outs[0].contiguous() if len(outs) == 1 else torch.cat(outs)


def _one_launch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: _Plan, backend: str) -> torch.Tensor:
    """All sequences in one varlen kernel over the packed (strided) tensors, with cached device cu_seqlens."""
    cu_q = _device_offsets(plan.q_starts, q.device)
    cu_k = _device_offsets(plan.k_starts, q.device)
    out = _varlen_kernel(backend)(q, k, v, cu_q, cu_k, plan.max_q, plan.max_k)
    if not plan.keyless_queries:
        return out
    # Queries whose sequence has no keys: softmax over nothing is undefined, zeros as in the per-sequence path.
    return torch.cat([out.narrow(0, start, nq) if nk else out.new_zeros(nq, *out.shape[1:])
                      for start, nq, nk in zip(plan.q_starts, plan.q_lengths, plan.k_lengths, strict=False)])


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_lengths: tuple[int, ...],
            k_lengths: tuple[int, ...]) -> torch.Tensor:
    """Attention of packed q [Nq, H, D] to packed k/v [Nk, H, D(v)], sequence by sequence; result [Nq, H, Dv]."""
    if len(q_lengths) != len(k_lengths):
        raise ValueError(f"batch sizes differ: {len(q_lengths)} query sequences vs {len(k_lengths)} key sequences")
    if q.shape[1:] != k.shape[1:] or k.shape != v.shape:
        raise ValueError(f"incompatible head shapes q={tuple(q.shape)} k={tuple(k.shape)} v={tuple(v.shape)}")
    plan = _plan(q_lengths, k_lengths)
    if not plan.attended_q_lengths:
        return q.new_zeros(q.shape[0], q.shape[1], v.shape[-1])
    backend = attention_backend(q.device, q.dtype, q.shape[-1], plan.attended_q_lengths)
    attend = _one_launch if backend in ("flash_attn", "varlen") else _per_sequence
    return attend(q, k, v, plan, backend)


def scaled_dot_product_attention(*args: AttnInput) -> AttnInput:
    """Attention per batch item; call as (qkv), (q, kv) or (q, k, v) like upstream's sparse SDPA.

    Shapes: packed qkv [N, 3, H, D]; kv [N, 2, H, D]; q/k/v [N, H, D] (SparseTensor/VarLenTensor) or dense
    [B, L, ...]. The result has q's type (and layout/coords), feats [N, H, Dv].
    """
    if len(args) == 1:
        (q, k, v), q_lengths = _packed(args[0], 3, "qkv")
        k_lengths = q_lengths
    elif len(args) == 2:
        (q,), q_lengths = _packed(args[0], 1, "q")
        (k, v), k_lengths = _packed(args[1], 2, "kv")
    elif len(args) == 3:
        (q,), q_lengths = _packed(args[0], 1, "q")
        (k,), k_lengths = _packed(args[1], 1, "k")
        (v,), v_lengths = _packed(args[2], 1, "v")
        if v_lengths != k_lengths:
            raise ValueError(f"k and v sequence lengths differ: {list(k_lengths)} vs {list(v_lengths)}")
    else:
        raise TypeError(f"scaled_dot_product_attention takes 1, 2 or 3 tensors, got {len(args)}")
    out = _attend(q, k, v, q_lengths, k_lengths)
    if isinstance(args[0], VarLenTensor):
        return args[0].replace(out)
    return out.unflatten(0, args[0].shape[:2])
