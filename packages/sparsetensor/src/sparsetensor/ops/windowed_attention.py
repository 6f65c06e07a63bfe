"""Self/cross attention restricted to axis-aligned (optionally shifted) windows of a sparse tensor."""

from __future__ import annotations

from typing import Literal

import torch

from ..tensor import SparseTensor, VarLenTensor
from .attention import scaled_dot_product_attention
from .serialize import encode_seq


def _triple(value: int | tuple[int, int, int]) -> torch.Tensor:
    return torch.tensor(value if isinstance(value, (tuple, list)) else (value,) * 3, dtype=torch.long)


def window_partition(x: SparseTensor, window_size: int | tuple[int, int, int],
                     shift_window: int | tuple[int, int, int] = 0) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Group voxels by window (batch, (xyz + shift) // window_size), ordered by window id.

    Returns the gather order, its inverse and the voxel count per non-empty window; cached on x.
    """
    key = f"window_partition_{window_size}_{shift_window}"
    cached = x.get_spatial_cache(key)
    if cached is not None:
        return cached
    size, shift = _triple(window_size).to(x.device), _triple(shift_window).to(x.device)
    cells = x.coords.long().clone()
    cells[:, 1:] = (cells[:, 1:] + shift) // size
    _, window_id, counts = torch.unique(cells, dim=0, return_inverse=True, return_counts=True)
    order = torch.argsort(window_id, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.shape[0], device=x.device)
    result = (order, inverse, counts.tolist())
    x.register_spatial_cache(key, result)
    return result


def serialized_partition(x: SparseTensor, window_size: int, mode: Literal["z_order", "hilbert"] = "z_order",
                         permute: tuple[int, int, int] = (0, 1, 2), shift_sequence: int = 0,
                         shift_window: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Order voxels of each batch item along a space-filling curve of (xyz + shift_window) and cut the sequence into
    runs of `window_size` tokens, the first run holding window_size - shift_sequence tokens; cached on x."""
    key = f"serialized_partition_{window_size}_{mode}_{tuple(permute)}_{shift_sequence}_{shift_window}"
    cached = x.get_spatial_cache(key)
    if cached is not None:
        return cached
    if window_size < 1 or not 0 <= shift_sequence < window_size:
        raise ValueError(f"need window_size >= 1 and 0 <= shift_sequence < window_size, got {window_size}, "
                         f"{shift_sequence}")
    batch = x.coords[:, 0].long()
    codes = encode_seq(x.coords[:, 1:].long() + shift_window, permute, mode).long()
    order = torch.argsort(batch * (1 << 30) + codes, stable=True)
    starts = torch.searchsorted(batch[order], batch[order], right=False)
    rank = torch.arange(order.shape[0], device=x.device) - starts
    window = batch[order] * (x.feats.shape[0] + window_size) + (rank + shift_sequence) // window_size
    _, counts = torch.unique_consecutive(window, return_counts=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.shape[0], device=x.device)
    result = (order, inverse, counts.tolist())
    x.register_spatial_cache(key, result)
    return result


def _as_windows(x: SparseTensor, window_size, shift_window) -> tuple[VarLenTensor, torch.Tensor]:
    return _pack(x, window_partition(x, window_size, shift_window))


def _pack(x: SparseTensor, partition: tuple[torch.Tensor, torch.Tensor, list[int]]) -> tuple[VarLenTensor,
                                                                                             torch.Tensor]:
    order, inverse, counts = partition
    layout = VarLenTensor.from_tensor_list([x.feats.new_empty(n, 0) for n in counts]).layout
    return VarLenTensor(x.feats[order], layout), inverse


def windowed_self_attention(qkv: SparseTensor, window_size: int | tuple[int, int, int],
                            shift_window: int | tuple[int, int, int] = 0) -> SparseTensor:
    """Self attention within each window; qkv feats [N, 3, H, D] -> [N, H, D] on the same coords."""
    if qkv.feats.dim() != 4 or qkv.feats.shape[1] != 3:
        raise ValueError(f"qkv feats must be [N, 3, H, D], got {tuple(qkv.feats.shape)}")
    windows, inverse = _as_windows(qkv, window_size, shift_window)
    return qkv.replace(scaled_dot_product_attention(windows).feats[inverse])


def windowed_cross_attention(q: SparseTensor, kv: SparseTensor, q_window_size: int | tuple[int, int, int],
                             kv_window_size: int | tuple[int, int, int],
                             q_shift_window: int | tuple[int, int, int] = 0,
                             kv_shift_window: int | tuple[int, int, int] = 0) -> SparseTensor:
    """Attention from the i-th non-empty window of q to the i-th non-empty window of kv (counts must match)."""
    q_windows, inverse = _as_windows(q, q_window_size, q_shift_window)
    kv_windows, _ = _as_windows(kv, kv_window_size, kv_shift_window)
    if len(q_windows) != len(kv_windows):
        raise ValueError(f"q has {len(q_windows)} non-empty windows but kv has {len(kv_windows)}")
    return q.replace(scaled_dot_product_attention(q_windows, kv_windows).feats[inverse])


def serialized_self_attention(qkv: SparseTensor, window_size: int, mode: Literal["z_order", "hilbert"] = "z_order",
                              permute: tuple[int, int, int] = (0, 1, 2), shift_sequence: int = 0,
                              shift_window: int = 0) -> SparseTensor:
    """Self attention within runs of `window_size` consecutive voxels along a z-order/Hilbert curve (per batch item);
    qkv feats [N, 3, H, D] -> [N, H, D]. Coordinates plus shift_window must stay below 1024."""
    if qkv.feats.dim() != 4 or qkv.feats.shape[1] != 3:
        raise ValueError(f"qkv feats must be [N, 3, H, D], got {tuple(qkv.feats.shape)}")
    partition = serialized_partition(qkv, window_size, mode, permute, shift_sequence, shift_window)
    windows, inverse = _pack(qkv, partition)
    return qkv.replace(scaled_dot_product_attention(windows).feats[inverse])
