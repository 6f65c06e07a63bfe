"""Row arithmetic shared by the numpy and torch paths (``xp`` is either module) and sums per index in a fixed
pairwise order, so that host and device computations of normals, charts and sums agree bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np


def pairwise_sums(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Rows of ``values`` (N, ...) summed per ``index`` into ``size`` rows by a fixed pairwise tree over each index's
    rows in row order (neighbours added, then neighbouring pair sums, ...): the order ``uv_torch`` reproduces on
    any device, so that per-chart sums agree bit for bit (principal axes of near-isotropic charts hinge on them)."""
    order = np.argsort(index, kind="stable")
    x, segment = values[order], index[order]
    counts = np.bincount(index, minlength=size)
    rank = np.arange(len(index)) - (np.cumsum(counts) - counts)[segment]
    while len(x) > np.count_nonzero(counts):
        keep = np.flatnonzero(rank % 2 == 0)
        partner = np.minimum(keep + 1, len(x) - 1)
        paired = (keep + 1 < len(x)) & (segment[partner] == segment[keep])
        summed = x[keep]
        summed[paired] = summed[paired] + x[partner[paired]]
        x, segment, rank = summed, segment[keep], rank[keep] // 2
    sums = np.zeros((size,) + values.shape[1:], values.dtype)
    sums[segment] = x
    return sums


def cross_rows(xp: Any, a: Any, b: Any) -> Any:
    """Row-wise cross product of (N, 3) arrays, in ``np.cross``'s arithmetic."""
    return xp.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], 1)


def dot_rows(a: Any, b: Any) -> Any:
    """Row-wise dot product over the last axis of length 3, added left to right."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def unit_rows(xp: Any, rows: Any) -> Any:
    """(N, 3) rows divided by their length (``np.linalg.norm``'s arithmetic), zero rows kept at zero."""
    length = xp.sqrt(dot_rows(rows, rows))
    return rows / xp.where(length > 1e-300, length, 1e-300)[:, None]


def divide(values: Any, divisor: float) -> Any:
    """``values / divisor`` rounded once on every device: torch divides a CUDA tensor by a Python number through
    its reciprocal (two roundings, measured on an H200), so torch tensors get a 0-d divisor tensor on their device."""
    if isinstance(values, np.ndarray):
        return values / divisor
    return values / values.new_full((), float(divisor))
