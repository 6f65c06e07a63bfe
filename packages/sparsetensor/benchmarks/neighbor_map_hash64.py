"""The previous Triton neighbour map (one open-addressing hash table of 64-bit voxel keys), kept only so that
bench_neighbor_map.py can time it beside the brick-table implementation in sparsetensor.ops.neighbor_map_triton.

Keys linearise (b, x + m, y + m, z + m) exactly as VoxelLookup does (m = kernel margin), so a kernel offset is a
constant key shift. The table has a power-of-two capacity of at least 2N slots (load factor <= 1/2), 16-byte slots
(key, row) so that a hit reads one memory sector, a splitmix64 home slot and linear probing. One kernel claims a slot
per voxel with a 64-bit compare-and-swap on the key and then writes the row beside it; a second kernel probes, for
a block of rows, all K shifted keys at once and writes the [rows, K] int32 block of the map in one coalesced store.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from sparsetensor.ops.lookup import DUPLICATE_VOXELS
from sparsetensor.ops.triton_hash import splitmix64_slot

_EMPTY = tl.constexpr(-1)  # free slot; voxel keys are >= 0
_NEVER = tl.constexpr(-2)  # compare value that matches no slot, so the CAS of a finished lane writes nothing
# Sizes that change with every voxel set: no value specialisation, so a new shape never triggers a recompile.
_GEOMETRY_ARGS = ["n_rows", "margin", "ex", "ey", "ez", "slot_mask"]


@triton.jit
def _row_keys(coords_ptr, rows, ok, margin, ex, ey, ez):
    """Voxel keys of `rows` (int64), the same linearisation as VoxelLookup._keys."""
    base = coords_ptr + rows.to(tl.int64) * 4
    b = tl.load(base, mask=ok, other=0).to(tl.int64)
    x = tl.load(base + 1, mask=ok, other=0).to(tl.int64) + margin
    y = tl.load(base + 2, mask=ok, other=0).to(tl.int64) + margin
    z = tl.load(base + 3, mask=ok, other=0).to(tl.int64) + margin
    return ((b * ex + x) * ey + y) * ez + z


@triton.jit(do_not_specialize=_GEOMETRY_ARGS)
def _insert_kernel(
    coords_ptr, table_ptr, duplicate_ptr,
    n_rows, margin, ex, ey, ez, slot_mask,
    BLOCK: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = rows < n_rows
    keys = _row_keys(coords_ptr, rows, ok, margin, ex, ey, ez)
    slots = splitmix64_slot(keys, slot_mask)
    pending = ok
    duplicate = rows < 0
    while tl.max(pending.to(tl.int32), axis=0) > 0:
        expected = tl.where(pending, _EMPTY, _NEVER).to(tl.int64)
        old = tl.atomic_cas(table_ptr + 2 * slots, expected, keys, sem="relaxed")
        claimed = pending & (old == _EMPTY)
        tl.store(table_ptr + 2 * slots + 1, rows.to(tl.int64), mask=claimed)
        duplicate = duplicate | (pending & (old == keys))
        pending = pending & (old != _EMPTY) & (old != keys)
        slots = tl.where(pending, (slots + 1) & slot_mask, slots)
    tl.atomic_max(duplicate_ptr + rows * 0, 1, mask=duplicate, sem="relaxed")


@triton.jit(do_not_specialize=_GEOMETRY_ARGS)
def _probe_kernel(
    coords_ptr, shifts_ptr, table_ptr, out_ptr,
    n_rows, n_offsets, margin, ex, ey, ez, slot_mask,
    BLOCK_ROWS: tl.constexpr, BLOCK_OFFSETS: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)
    row_ok = rows < n_rows
    ks = tl.arange(0, BLOCK_OFFSETS)
    k_ok = ks < n_offsets
    shifts = tl.load(shifts_ptr + ks, mask=k_ok, other=0)
    queries = _row_keys(coords_ptr, rows, row_ok, margin, ex, ey, ez)[:, None] + shifts[None, :]
    valid = row_ok[:, None] & k_ok[None, :]
    slots = splitmix64_slot(queries, slot_mask)
    found = tl.full([BLOCK_ROWS, BLOCK_OFFSETS], -1, tl.int32)
    searching = valid
    while tl.max(tl.max(searching.to(tl.int32), axis=1), axis=0) > 0:
        stored = tl.load(table_ptr + 2 * slots, mask=searching, other=_EMPTY)
        hit = searching & (stored == queries)
        found = tl.where(hit, tl.load(table_ptr + 2 * slots + 1, mask=hit, other=-1).to(tl.int32), found)
        searching = searching & (stored != queries) & (stored != _EMPTY)
        slots = (slots + 1) & slot_mask
    out = out_ptr + rows.to(tl.int64)[:, None] * n_offsets + ks[None, :]
    tl.store(out, found, mask=valid)


def build_neighbor_map_triton(
    coords: torch.Tensor,
    offsets: torch.Tensor,
    extent: tuple[int, int, int],
    margin: int,
    tile: int = 512,
    num_warps: int = 4,
) -> torch.Tensor:
    """Row index [N, K] int32 of coords[i] + offsets[k] (-1 if absent) for non-empty, validated coords.

    `extent` and `margin` are the key geometry of VoxelLookup (every |offset| <= margin); one probe program handles
    `tile` (row, offset) pairs, offsets padded to a power of two. Raises ValueError when two rows hold the same voxel.
    """
    n, k = coords.shape[0], offsets.shape[0]
    device = coords.device
    coords = coords.contiguous() if coords.dtype in (torch.int32, torch.int64) else coords.long().contiguous()
    ex, ey, ez = extent
    offsets = offsets.long()
    shifts = ((offsets[:, 0] * ey + offsets[:, 1]) * ez + offsets[:, 2]).to(device)
    capacity = max(64, 1 << (2 * n - 1).bit_length())
    table = torch.full((capacity, 2), _EMPTY.value, dtype=torch.int64, device=device)  # (key, row) per slot
    duplicate = torch.zeros(1, dtype=torch.int32, device=device)
    geometry = (margin, ex, ey, ez, capacity - 1)
    block = 256
    _insert_kernel[(triton.cdiv(n, block),)](coords, table, duplicate, n, *geometry, BLOCK=block,
                                             num_warps=num_warps)
    out = torch.empty(n, k, dtype=torch.int32, device=device)
    block_offsets = triton.next_power_of_2(k)
    block_rows = max(1, tile // block_offsets)
    _probe_kernel[(triton.cdiv(n, block_rows),)](coords, shifts, table, out, n, k, *geometry, BLOCK_ROWS=block_rows,
                                                  BLOCK_OFFSETS=block_offsets, num_warps=num_warps)
    if duplicate.item():  # checked after both launches: one host sync, and probing a table with duplicates is safe
        raise ValueError(DUPLICATE_VOXELS)
    return out
