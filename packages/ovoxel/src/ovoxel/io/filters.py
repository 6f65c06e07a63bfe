"""Reversible byte-wise (mod 256) delta filters applied to attribute rows in octree (Morton) order.

Each filter names, for every row, an earlier row it is predicted from (or -1); encoding subtracts that row's
value and decoding re-accumulates along the prediction chains by pointer jumping.
"""

from __future__ import annotations

import numpy as np

FILTERS = ("none", "parent", "neighbor")


def parent_predictors(codes: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Predecessor of each row under the sibling-delta scheme, and the slot order of the filtered rows.

    Row i > 0 starts a new child of the deepest node it shares with row i-1; it is predicted from the first
    row of its previous sibling. Slots follow the pre-order of those shared nodes, the root value first.
    """
    codes = np.asarray(codes, dtype=np.int64)
    n = codes.size
    predictor = np.full(n, -1, dtype=np.int64)
    if n <= 1:
        return predictor, np.arange(n)
    differing = codes[1:] ^ codes[:-1]
    sibling_shift = 3 * (np.floor(np.log2(differing)).astype(np.int64) // 3)  # octant where rows i-1, i diverge
    sibling_start = (codes[:-1] >> sibling_shift) << sibling_shift
    predictor[1:] = np.searchsorted(codes, sibling_start)
    parent_shift = sibling_shift + 3
    parent_start = (codes[1:] >> parent_shift) << parent_shift
    order = np.lexsort((codes[1:], -parent_shift, parent_start)) + 1
    return predictor, np.concatenate([[0], order])


def neighbor_predictors(local_coords: np.ndarray, resolution: int) -> np.ndarray:
    """Predecessor of each row from its causal neighbours in raster order (x fastest), -1 when it has none.

    Candidates are checked in the order -x, -y, -z, -x-y, -x-z, -y-z, -x-y-z and the last present one wins.
    """
    coords = np.asarray(local_coords, dtype=np.int64)
    keys = (coords[:, 2] * resolution + coords[:, 1]) * resolution + coords[:, 0]
    sorted_rows = np.argsort(keys)
    sorted_keys = keys[sorted_rows]
    predictor = np.full(len(coords), -1, dtype=np.int64)
    for dx, dy, dz in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)):
        inside = (coords[:, 0] >= dx) & (coords[:, 1] >= dy) & (coords[:, 2] >= dz)
        wanted = keys - ((dz * resolution + dy) * resolution + dx)
        slot = np.clip(np.searchsorted(sorted_keys, wanted), 0, max(len(keys) - 1, 0))
        found = inside & (sorted_keys[slot] == wanted) if len(keys) else inside
        predictor[found] = sorted_rows[slot[found]]
    return predictor


def apply_deltas(values: np.ndarray, predictor: np.ndarray) -> np.ndarray:
    """Subtract each row's predictor row (mod 256)."""
    out = values.copy()
    has = predictor >= 0
    out[has] -= values[predictor[has]]
    return out


def undo_deltas(deltas: np.ndarray, predictor: np.ndarray) -> np.ndarray:
    """Invert `apply_deltas` by summing deltas along predictor chains (pointer jumping, O(N log N))."""
    values = deltas.copy()
    pointer = predictor.copy()
    active = np.nonzero(pointer >= 0)[0]
    while active.size:
        target = pointer[active]
        values[active] += values[target]
        pointer[active] = pointer[target]
        active = active[pointer[active] >= 0]
    return values
