"""Token batch layouts: how per-sample vectors broadcast to tokens and how attention groups tokens by sample.

`DenseTokens` holds equal-length sequences as [B, L, C]; `PackedTokens` holds variable-length sequences packed as
[N, C] with a per-token sample index, as in a sparse voxel batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Context = torch.Tensor | list[torch.Tensor]


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention for sequences laid out as [B, L, H, D] or a single [L, H, D]; returns the same layout.

    Inputs are always handed to torch as 4-D [B, H, L, D]: its flash and memory-efficient kernels reject other
    ranks, and the fallback would materialise the full L x L score matrix.
    """
    if q.ndim == 3:
        return _attend(q[None], k[None], v[None])[0]
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


class DenseTokens:
    """Layout of a dense batch [B, L, C] where every sample has the same number of tokens."""

    def row_samples(self, x: torch.Tensor) -> dict:
        """How rows of `x` [B, L, C] flattened to [B*L, C] map to samples (keyword arguments of the fused ops)."""
        return {"rows_per_sample": x.shape[1]}

    def self_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention within each sample; q, k, v are [B, L, H, D]."""
        return _attend(q, k, v)

    def cross_attention(self, q: torch.Tensor, k: Context, v: Context) -> torch.Tensor:
        """Attention from each sample's tokens to that sample's context tokens."""
        if isinstance(k, list):
            return torch.stack([_attend(qi, ki, vi) for qi, ki, vi in zip(q, k, v, strict=True)])
        return _attend(q, k, v)


class PackedTokens:
    """Layout of variable-length samples packed into [N, C], token i belonging to sample `batch_index[i]`."""

    def __init__(self, batch_index: torch.Tensor, batch_size: int) -> None:
        if batch_index.ndim != 1:
            raise ValueError(f"batch_index must be 1-D, got shape {tuple(batch_index.shape)}")
        self.batch_index = batch_index.long()
        self.batch_size = batch_size
        counts = torch.bincount(self.batch_index, minlength=batch_size)
        if counts.numel() > batch_size:
            raise ValueError(f"tokens refer to sample {counts.numel() - 1} but only {batch_size} samples were given")
        self.lengths = counts.tolist()
        is_sorted = bool((self.batch_index[1:] >= self.batch_index[:-1]).all()) if len(batch_index) > 1 else True
        self.order = None if is_sorted else torch.argsort(self.batch_index, stable=True)

    def row_samples(self, x: torch.Tensor) -> dict:
        """How rows of `x` [N, C] map to samples (keyword arguments of the fused ops)."""
        return {"sample_index": None if self.batch_size == 1 else self.batch_index}

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        grouped = x if self.order is None else x[self.order]
        return torch.split(grouped, self.lengths)

    def _merge(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        grouped = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
        if self.order is None:
            return grouped
        merged = torch.empty_like(grouped)
        merged[self.order] = grouped
        return merged

    def self_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention restricted to tokens of the same sample; q, k, v are [N, H, D]."""
        pieces = zip(self._split(q), self._split(k), self._split(v), strict=True)
        return self._merge([_attend(qi, ki, vi) for qi, ki, vi in pieces])

    def cross_attention(self, q: torch.Tensor, k: Context, v: Context) -> torch.Tensor:
        """Attention from each sample's tokens [N_b, H, D] to that sample's context [L_b, H, D]."""
        if len(k) != self.batch_size:
            raise ValueError(f"context has {len(k)} samples but the sparse batch has {self.batch_size}")
        pieces = zip(self._split(q), k, v, strict=True)
        return self._merge([_attend(qi, ki, vi) for qi, ki, vi in pieces])


#: Either layout; the transformer blocks only use `row_samples`, `self_attention` and `cross_attention`.
TokenLayout = DenseTokens | PackedTokens
