"""Uniform access to dense latents ([B, C, ...] tensors) and sparse latents (objects with `.feats` / `.coords`).

Samplers do all arithmetic on the feature tensor and wrap the result back with `.replace`, so they work with any
sparse tensor type that offers `feats` [N, C], `coords` [N, 4] (batch index first), `shape` and `replace(feats)`.
"""

from __future__ import annotations

from typing import Any

import torch

Latent = Any  # torch.Tensor or a sparse tensor as described above


def is_sparse(x: Latent) -> bool:
    """True for sparse latents (they carry per-voxel `feats` and `coords`)."""
    return not isinstance(x, torch.Tensor) and hasattr(x, "feats") and hasattr(x, "coords")


def features(x: Latent) -> torch.Tensor:
    """The tensor holding the latent's values: the dense tensor itself or the sparse feature matrix."""
    return x.feats if is_sparse(x) else x


def with_features(like: Latent, values: torch.Tensor) -> Latent:
    """A latent with the layout (coordinates) of `like` and the given values."""
    return like.replace(values) if is_sparse(like) else values


def batch_size(x: Latent) -> int:
    """Number of samples in the batch (the leading entry of `shape` for both kinds)."""
    if not is_sparse(x):
        return int(x.shape[0])
    shape = getattr(x, "shape", None)
    if shape is not None:
        return int(shape[0])
    return int(x.coords[:, 0].max().item()) + 1 if x.coords.shape[0] else 0


def per_sample_std(x: Latent) -> torch.Tensor:
    """Population standard deviation of each sample's values, shaped to broadcast against `features(x)`.

    Sparse samples are the rows sharing a batch index. Only ratios of these values are used (guidance rescale), so
    the population/unbiased choice cancels out.
    """
    values = features(x)
    if not is_sparse(x):
        dims = list(range(1, values.ndim))
        return values.std(dim=dims, keepdim=True, correction=0)
    flat = values.reshape(values.shape[0], -1)
    flat = flat if flat.dtype == torch.float64 else flat.float()
    index, membership, rows = _sample_rows(x, flat.dtype)
    count = rows * flat.shape[1]
    mean = membership @ flat.sum(dim=1) / count
    centered = flat - mean[index, None]
    var = membership @ centered.square().sum(dim=1) / count
    return var.sqrt()[index].reshape(-1, *[1] * (values.ndim - 1)).to(values.dtype)


def _sample_rows(x: Latent, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sample index [N], membership [B, N] in `dtype`, rows per sample [B] (at least 1)) of sparse `x`.

    Per-sample sums are a membership matmul: deterministic on GPUs, unlike scatter/index_add atomics. They depend
    only on the coordinates, so they are kept in `x`'s spatial cache when it has one (every state of a sampling run
    shares it) instead of being rebuilt at every step.
    """
    key = f"sampler_sample_rows_{dtype}"
    cached = x.get_spatial_cache(key) if hasattr(x, "get_spatial_cache") else None
    if cached is None:
        index = x.coords[:, 0].long()
        membership = (torch.arange(batch_size(x), device=index.device)[:, None] == index[None, :]).to(dtype)
        cached = index, membership, membership.sum(dim=1).clamp_min(1)
        if hasattr(x, "register_spatial_cache"):
            x.register_spatial_cache(key, cached)
    return cached
