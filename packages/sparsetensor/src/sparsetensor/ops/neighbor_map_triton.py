"""Triton neighbour-map construction through a hash table of voxel bricks.

Voxels are grouped into bricks of 2**brick_bits cells per axis (4^3 by default). A power-of-two hash table
(Fibonacci multiplicative hash, linear probing, int32 keys whenever the brick keys fit) gives every occupied brick
a compact id, and a dense [bricks, cells] int32 array holds the row of each voxel inside its brick. A neighbour
query is then one array read, plus a hash lookup of the neighbour's brick only when it is not the voxel's own
(the own brick covers about 58% of a 3^3 kernel's offsets at 4^3): spatially close voxels share a few bricks, so
the 27 lookups per voxel hit the same cache lines instead of 27 scattered hash slots.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .lookup import DUPLICATE_VOXELS

_EMPTY = tl.constexpr(-1)  # free slot / empty cell; brick keys and rows are >= 0
_NEVER = tl.constexpr(-2)  # compare value that matches no slot, so the CAS of a finished lane writes nothing
# Sizes that change with every voxel set: no value specialisation, so a new shape never triggers a recompile.
_GEOMETRY_ARGS = ["n_rows", "margin", "bx", "by", "bz", "hash_shift", "slot_mask"]


@triton.jit
def _brick_cells(coords_ptr, rows, ok, margin, bx, by, bz, KEY64: tl.constexpr, BRICK_BITS: tl.constexpr):
    """(b, x, y, z) of `rows` shifted by the margin, their brick keys and their cell index inside the brick."""
    key_type = tl.int64 if KEY64 else tl.int32
    base = coords_ptr + rows.to(tl.int64) * 4
    b = tl.load(base, mask=ok, other=0).to(key_type)
    x = tl.load(base + 1, mask=ok, other=0).to(key_type) + margin
    y = tl.load(base + 2, mask=ok, other=0).to(key_type) + margin
    z = tl.load(base + 3, mask=ok, other=0).to(key_type) + margin
    keys, cells = _brick_key(b, x, y, z, bx, by, bz, BRICK_BITS)
    return b, x, y, z, keys, cells


@triton.jit
def _brick_key(b, x, y, z, bx, by, bz, BRICK_BITS: tl.constexpr):
    """Linear key of the brick holding voxel (b, x, y, z) (non-negative coords) and the voxel's cell in it."""
    low = (1 << BRICK_BITS) - 1
    keys = ((b * bx + (x >> BRICK_BITS)) * by + (y >> BRICK_BITS)) * bz + (z >> BRICK_BITS)
    cells = ((((x & low) << BRICK_BITS) | (y & low)) << BRICK_BITS) | (z & low)
    return keys, cells.to(tl.int32)


@triton.jit
def _home_slot(keys, hash_shift, slot_mask, KEY64: tl.constexpr):
    """Fibonacci hashing: the top bits of key * 2^W / golden ratio, so consecutive brick keys scatter (the mask only
    guards the slot range should a Triton version ever shift arithmetically)."""
    if KEY64:
        h = keys.to(tl.uint64, bitcast=True) * 0x9E3779B97F4A7C15
    else:
        h = keys.to(tl.uint32, bitcast=True) * 0x9E3779B1
    return (h >> hash_shift).to(tl.int32) & slot_mask


@triton.jit
def _find_bricks(keys_ptr, ids_ptr, queries, active, hash_shift, slot_mask, KEY64: tl.constexpr):
    """Compact id of each queried brick key (any shape), -1 where it is absent or the lane is inactive."""
    slots = _home_slot(queries, hash_shift, slot_mask, KEY64)
    found = tl.full(queries.shape, -1, tl.int32)
    searching = active
    while tl.max(searching.to(tl.int32)) > 0:
        stored = tl.load(keys_ptr + slots, mask=searching, other=_EMPTY)
        hit = searching & (stored == queries)
        found = tl.where(hit, tl.load(ids_ptr + slots, mask=hit, other=-1), found)
        searching = searching & (stored != queries) & (stored != _EMPTY)
        slots = (slots + 1) & slot_mask
    return found


@triton.jit(do_not_specialize=_GEOMETRY_ARGS)
def _insert_bricks_kernel(
    coords_ptr, keys_ptr, ids_ptr, count_ptr,
    n_rows, margin, bx, by, bz, hash_shift, slot_mask,
    KEY64: tl.constexpr, BRICK_BITS: tl.constexpr, BLOCK: tl.constexpr,
):
    """Claim a slot per distinct brick (64/32-bit CAS on the key) and number the claims with one atomic per program."""
    lanes = tl.arange(0, BLOCK)
    rows = tl.program_id(0) * BLOCK + lanes
    ok = rows < n_rows
    _, _, _, _, keys, _ = _brick_cells(coords_ptr, rows, ok, margin, bx, by, bz, KEY64, BRICK_BITS)
    slots = _home_slot(keys, hash_shift, slot_mask, KEY64)
    pending = ok
    claimed = rows < 0
    while tl.max(pending.to(tl.int32)) > 0:
        expected = tl.where(pending, _EMPTY, _NEVER).to(keys.dtype)
        old = tl.atomic_cas(keys_ptr + slots, expected, keys, sem="relaxed")
        claimed = claimed | (pending & (old == _EMPTY))
        pending = pending & (old != _EMPTY) & (old != keys)
        slots = tl.where(pending, (slots + 1) & slot_mask, slots)
    n_claims = tl.sum(claimed.to(tl.int32))
    first = lanes == 0
    base = tl.atomic_add(count_ptr + lanes * 0, tl.where(first, n_claims, 0), mask=first, sem="relaxed")
    base = tl.sum(tl.where(first, base, 0))
    rank = tl.cumsum(claimed.to(tl.int32), 0) - 1
    tl.store(ids_ptr + slots, base + rank, mask=claimed)


@triton.jit(do_not_specialize=_GEOMETRY_ARGS)
def _scatter_rows_kernel(
    coords_ptr, keys_ptr, ids_ptr, cells_ptr,
    n_rows, margin, bx, by, bz, hash_shift, slot_mask,
    KEY64: tl.constexpr, BRICK_BITS: tl.constexpr, BLOCK: tl.constexpr,
):
    """Write each row into its cell of the dense brick array (duplicates overwrite; the probe kernel finds them)."""
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = rows < n_rows
    _, _, _, _, keys, cells = _brick_cells(coords_ptr, rows, ok, margin, bx, by, bz, KEY64, BRICK_BITS)
    ids = _find_bricks(keys_ptr, ids_ptr, keys, ok, hash_shift, slot_mask, KEY64)
    tl.store(cells_ptr + ids.to(tl.int64) * (1 << 3 * BRICK_BITS) + cells, rows, mask=ok)


@triton.jit(do_not_specialize=_GEOMETRY_ARGS)
def _probe_kernel(
    coords_ptr, offsets_ptr, keys_ptr, ids_ptr, cells_ptr, out_ptr, duplicate_ptr,
    n_rows, n_offsets, margin, bx, by, bz, hash_shift, slot_mask,
    KEY64: tl.constexpr, BRICK_BITS: tl.constexpr, BLOCK_ROWS: tl.constexpr, BLOCK_OFFSETS: tl.constexpr,
):
    """[BLOCK_ROWS, K] block of the map in one store; flags a duplicate when a row lost its own cell."""
    brick_cells: tl.constexpr = 1 << 3 * BRICK_BITS
    rows = tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)
    row_ok = rows < n_rows
    b, x, y, z, own_keys, own_cells = _brick_cells(coords_ptr, rows, row_ok, margin, bx, by, bz, KEY64, BRICK_BITS)
    own_ids = _find_bricks(keys_ptr, ids_ptr, own_keys, row_ok, hash_shift, slot_mask, KEY64)
    own_base = own_ids.to(tl.int64) * brick_cells
    lost = row_ok & (tl.load(cells_ptr + own_base + own_cells, mask=row_ok, other=0) != rows)
    tl.atomic_max(duplicate_ptr + rows * 0, 1, mask=lost, sem="relaxed")

    ks = tl.arange(0, BLOCK_OFFSETS)
    k_ok = ks < n_offsets
    dx = tl.load(offsets_ptr + 3 * ks, mask=k_ok, other=0).to(b.dtype)
    dy = tl.load(offsets_ptr + 3 * ks + 1, mask=k_ok, other=0).to(b.dtype)
    dz = tl.load(offsets_ptr + 3 * ks + 2, mask=k_ok, other=0).to(b.dtype)
    valid = row_ok[:, None] & k_ok[None, :]
    keys, cells = _brick_key(b[:, None], x[:, None] + dx[None, :], y[:, None] + dy[None, :], z[:, None] + dz[None, :],
                             bx, by, bz, BRICK_BITS)
    own = keys == own_keys[:, None]
    other_ids = _find_bricks(keys_ptr, ids_ptr, keys, valid & ~own, hash_shift, slot_mask, KEY64)
    base = tl.where(own, own_base[:, None], other_ids.to(tl.int64) * brick_cells)
    found = tl.load(cells_ptr + base + cells, mask=valid & (own | (other_ids >= 0)), other=-1)
    out = out_ptr + rows.to(tl.int64)[:, None] * n_offsets + ks[None, :]
    tl.store(out, found, mask=valid)


def build_neighbor_map_triton(
    coords: torch.Tensor,
    offsets: torch.Tensor,
    extent: tuple[int, int, int, int],
    margin: int,
    tile: int = 1024,
    num_warps: int = 4,
    brick_bits: int = 2,
) -> torch.Tensor:
    """Row index [N, K] int32 of coords[i] + offsets[k] (-1 if absent) for non-empty, validated coords.

    `extent` (batches, then per-axis key extent) and `margin` are key_extent's geometry (every |offset| <= margin);
    one probe program handles `tile` (row, offset) pairs, offsets padded to a power of two; bricks have
    2**brick_bits cells per axis. Raises ValueError when two rows hold the same voxel.
    """
    n, k = coords.shape[0], offsets.shape[0]
    device = coords.device
    coords = coords.contiguous() if coords.dtype in (torch.int32, torch.int64) else coords.long().contiguous()
    batches, *axes = extent
    bx, by, bz = (((e - 1) >> brick_bits) + 1 for e in axes)
    key64 = max(extent) >= 2**31 or batches * bx * by * bz >= 2**31
    capacity = max(64, 1 << (2 * min(n, batches * bx * by * bz) - 1).bit_length())
    keys = torch.full((capacity,), _EMPTY.value, dtype=torch.int64 if key64 else torch.int32, device=device)
    ids = torch.empty(capacity, dtype=torch.int32, device=device)  # read only where a key was claimed
    count = torch.zeros(1, dtype=torch.int32, device=device)
    word = 64 if key64 else 32
    geometry = (margin, bx, by, bz, word - capacity.bit_length() + 1, capacity - 1)
    flags = {"KEY64": key64, "BRICK_BITS": brick_bits, "num_warps": num_warps}
    block = 256
    _insert_bricks_kernel[(triton.cdiv(n, block),)](coords, keys, ids, count, n, *geometry, BLOCK=block, **flags)
    cells = torch.full((int(count.item()) << 3 * brick_bits,), _EMPTY.value, dtype=torch.int32, device=device)
    _scatter_rows_kernel[(triton.cdiv(n, block),)](coords, keys, ids, cells, n, *geometry, BLOCK=block, **flags)
    out = torch.empty(n, k, dtype=torch.int32, device=device)
    duplicate = torch.zeros(1, dtype=torch.int32, device=device)
    block_offsets = triton.next_power_of_2(k)
    block_rows = max(1, tile // block_offsets)
    _probe_kernel[(triton.cdiv(n, block_rows),)](
        coords, offsets.to(device=device, dtype=torch.int32).contiguous(), keys, ids, cells, out, duplicate,
        n, k, *geometry, BLOCK_ROWS=block_rows, BLOCK_OFFSETS=block_offsets, **flags)
    if duplicate.item():  # the second host sync (after the brick count): probing a table with duplicates is safe
        raise ValueError(DUPLICATE_VOXELS)
    return out
