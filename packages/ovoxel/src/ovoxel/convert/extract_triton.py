"""Flexible dual grid -> mesh in Triton for CUDA tensors, with the same vertices and faces, in the same order, as
the torch path (`flexible_dual_grid._extract_torch`), which stays the CPU path and the reference.

Four steps and one host sync: (1) one kernel writes the vertices and each voxel's linear key, and inserts the keys in
an open-addressing hash (key -> smallest row holding it, what the torch path's stable sort and leftmost search find);
(2) torch sorts the keys, the torch path's owner order; (3) one kernel probes, for each owner in that order, the
three other voxels of the quad of each flagged edge and counts the complete quads per (axis, block); (4) after a
scan of those counts, one kernel gives each quad its output slot, picks its diagonal and writes its two triangles.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from sparsetensor.ops.triton_hash import splitmix64_slot

from .flexible_dual_grid import QUAD_NEIGHBOURS, SPLIT_02, SPLIT_13

_EMPTY = tl.constexpr(2**63 - 1)  # free slot key and "no row yet"; keys of in-grid voxels are < 2^61
_NEVER = tl.constexpr(-2)  # compare value no slot holds, so the CAS of a finished lane writes nothing
_BLOCK = 128  # rows per program; with 8 warps for the probe tile and 4 for faces, ~100 registers, no spills (sm_90)
# Sizes that change with every grid: no value specialisation, so a new voxel count never triggers a recompile.
_SIZE_ARGS = ["n", "span0", "span1", "span2", "slot_mask", "n_blocks"]


def _packed(values, bits: int) -> int:
    """values[k] << (bits * k), summed: a small per-lane table as one compile-time integer."""
    return sum(int(v) << (bits * k) for k, v in enumerate(values))


# Per probe lane 3a + k (a = edge axis, k = 0..2): the offset (dx, dy, dz) of the quad's k+1-th voxel as 4dx+2dy+dz.
_NEIGHBOUR_OFFSETS = tl.constexpr(_packed(QUAD_NEIGHBOURS[:, 1:].reshape(-1, 3) @ [4, 2, 1], 3))
# Per output lane (6 indices, 2 triangles): which of the quad's 4 voxels it takes for each diagonal.
_CORNERS_02 = tl.constexpr(_packed(SPLIT_02, 2))
_CORNERS_13 = tl.constexpr(_packed(SPLIT_13, 2))


@triton.jit
def _lane_table(packed: tl.constexpr, bits: tl.constexpr, lanes):
    """Entry `lanes` of a table packed by `_packed`."""
    return (tl.full(lanes.shape, packed, tl.int64) >> (bits * lanes)) & ((1 << bits) - 1)


@triton.jit(do_not_specialize=_SIZE_ARGS)
def _prepare_kernel(coords_ptr, offsets_ptr, verts_ptr, keys_ptr, table_ptr, outside_ptr,
                    n, span0, span1, span2, slot_mask,
                    size_x, size_y, size_z, min_x, min_y, min_z, BLOCK: tl.constexpr):
    """Vertices (coords + offset) * voxel size + aabb min, linear keys (as the torch path), hash insertion."""
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = rows < n
    base = rows.to(tl.int64) * 3
    x = tl.load(coords_ptr + base, mask=ok, other=0).to(tl.int64)
    y = tl.load(coords_ptr + base + 1, mask=ok, other=0).to(tl.int64)
    z = tl.load(coords_ptr + base + 2, mask=ok, other=0).to(tl.int64)
    vx = (x.to(tl.float32) + tl.load(offsets_ptr + base, mask=ok, other=0.0)) * size_x + min_x
    vy = (y.to(tl.float32) + tl.load(offsets_ptr + base + 1, mask=ok, other=0.0)) * size_y + min_y
    vz = (z.to(tl.float32) + tl.load(offsets_ptr + base + 2, mask=ok, other=0.0)) * size_z + min_z
    tl.store(verts_ptr + base, vx, mask=ok)
    tl.store(verts_ptr + base + 1, vy, mask=ok)
    tl.store(verts_ptr + base + 2, vz, mask=ok)
    inside = (x >= 0) & (x < span0) & (y >= 0) & (y < span1) & (z >= 0) & (z < span2)
    tl.store(outside_ptr, 1, mask=tl.max((ok & ~inside).to(tl.int32), axis=0) > 0)
    keys = (x * span1 + y) * span2 + z
    tl.store(keys_ptr + rows, keys.to(keys_ptr.dtype.element_ty), mask=ok)
    slots = splitmix64_slot(keys, slot_mask)
    pending = ok & inside
    while tl.max(pending.to(tl.int32), axis=0) > 0:
        expected = tl.where(pending, _EMPTY, _NEVER).to(tl.int64)
        old = tl.atomic_cas(table_ptr + 2 * slots, expected, keys, sem="relaxed")
        landed = pending & ((old == _EMPTY) | (old == keys))
        tl.atomic_min(table_ptr + 2 * slots + 1, rows.to(tl.int64), mask=landed, sem="relaxed")
        pending = pending & ~landed
        slots = tl.where(pending, (slots + 1) & slot_mask, slots)


@triton.jit(do_not_specialize=_SIZE_ARGS)
def _quads_kernel(order_ptr, sorted_keys_ptr, flags_ptr, table_ptr, valid_ptr, neighbours_ptr, counts_ptr,
                  n, span1, span2, slot_mask, n_blocks, BLOCK: tl.constexpr):
    """For owners in key order: the 9 neighbour rows of the 3 edge quads (one hash probe loop), whether each flagged
    edge's quad is complete (valid [3, n]) and the complete quads per (axis, block) (counts [3, n_blocks])."""
    pos = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = pos < n
    rows = tl.load(order_ptr + pos, mask=ok, other=0)
    keys = tl.load(sorted_keys_ptr + pos, mask=ok, other=0).to(tl.int64)
    lanes = tl.arange(0, 16)
    lane_axis = lanes // 3
    offset = _lane_table(_NEIGHBOUR_OFFSETS, 3, lanes)
    shifts = ((offset >> 2) * span1 + ((offset >> 1) & 1)) * span2 + (offset & 1)
    live = ok[:, None] & (lanes < 9)[None, :]
    flagged = tl.load(flags_ptr + rows[:, None] * 3 + lane_axis[None, :], mask=live, other=0) != 0
    queries = keys[:, None] + shifts[None, :]
    slots = splitmix64_slot(queries, slot_mask)
    found = tl.full([BLOCK, 16], -1, tl.int64)
    searching = live & flagged
    while tl.max(tl.max(searching.to(tl.int32), axis=1), axis=0) > 0:
        stored = tl.load(table_ptr + 2 * slots, mask=searching, other=_EMPTY)
        hit = searching & (stored == queries)
        found = tl.where(hit, tl.load(table_ptr + 2 * slots + 1, mask=hit, other=-1), found)
        searching = searching & (stored != queries) & (stored != _EMPTY)
        slots = (slots + 1) & slot_mask
    tl.store(neighbours_ptr + pos.to(tl.int64)[:, None] * 9 + lanes[None, :], found.to(tl.int32),
             mask=live & flagged)
    hits = (found >= 0).to(tl.int32)
    for axis in tl.static_range(3):
        complete = ok & (tl.sum(tl.where(lane_axis[None, :] == axis, hits, 0), axis=1) == 3)
        tl.store(valid_ptr + axis * n + pos, complete.to(tl.int8), mask=ok)
        tl.store(counts_ptr + axis * n_blocks + tl.program_id(0), tl.sum(complete.to(tl.int32), axis=0))


@triton.jit
def _normal(ax, ay, az, bx, by, bz, cx, cy, cz):
    """(b - a) x (c - a), in the torch path's operation order."""
    ux, uy, uz = bx - ax, by - ay, bz - az
    vx, vy, vz = cx - ax, cy - ay, cz - az
    return uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx


@triton.jit
def _cosine(mx, my, mz, nx, ny, nz):
    """Cosine of the angle between two normals, exactly as the torch path computes it (float64)."""
    dot = mx * nx + my * ny + mz * nz
    norms = tl.sqrt((mx * mx + my * my + mz * mz) * (nx * nx + ny * ny + nz * nz))
    return dot / (norms + tl.full([], 1e-30, tl.float64))


@triton.jit
def _corner(verts_ptr, rows, axis: tl.constexpr):
    """Coordinate `axis` of vertices `rows` in float64."""
    return tl.load(verts_ptr + rows * 3 + axis).to(tl.float64)


@triton.jit(do_not_specialize=_SIZE_ARGS)
def _faces_kernel(order_ptr, valid_ptr, neighbours_ptr, ends_ptr, counts_ptr, verts_ptr, weights_ptr, faces_ptr,
                  n, n_blocks, WEIGHTED: tl.constexpr, BLOCK: tl.constexpr):
    """Each complete quad of (axis, block): its slot (block start + rank in block), diagonal and two triangles."""
    block, axis = tl.program_id(0), tl.program_id(1)
    pos = block * BLOCK + tl.arange(0, BLOCK)
    ok = pos < n
    complete = tl.load(valid_ptr + axis * n + pos, mask=ok, other=0).to(tl.int32)
    tally = axis * n_blocks + block
    start = tl.load(ends_ptr + tally) - tl.load(counts_ptr + tally)
    slot = (start + tl.cumsum(complete, axis=0) - complete).to(tl.int64)
    live = complete != 0
    nb = neighbours_ptr + pos.to(tl.int64) * 9 + 3 * axis
    q0 = tl.load(order_ptr + pos, mask=live, other=0)
    q1 = tl.load(nb, mask=live, other=0).to(tl.int64)
    q2 = tl.load(nb + 1, mask=live, other=0).to(tl.int64)
    q3 = tl.load(nb + 2, mask=live, other=0).to(tl.int64)
    if WEIGHTED:
        w0 = tl.load(weights_ptr + q0, mask=live, other=0.0)
        w1 = tl.load(weights_ptr + q1, mask=live, other=0.0)
        w2 = tl.load(weights_ptr + q2, mask=live, other=0.0)
        w3 = tl.load(weights_ptr + q3, mask=live, other=0.0)
        use_02 = w0 * w2 > w1 * w3
    else:
        p0x, p0y, p0z = _corner(verts_ptr, q0, 0), _corner(verts_ptr, q0, 1), _corner(verts_ptr, q0, 2)
        p1x, p1y, p1z = _corner(verts_ptr, q1, 0), _corner(verts_ptr, q1, 1), _corner(verts_ptr, q1, 2)
        p2x, p2y, p2z = _corner(verts_ptr, q2, 0), _corner(verts_ptr, q2, 1), _corner(verts_ptr, q2, 2)
        p3x, p3y, p3z = _corner(verts_ptr, q3, 0), _corner(verts_ptr, q3, 1), _corner(verts_ptr, q3, 2)
        ax, ay, az = _normal(p0x, p0y, p0z, p1x, p1y, p1z, p2x, p2y, p2z)
        bx, by, bz = _normal(p0x, p0y, p0z, p2x, p2y, p2z, p3x, p3y, p3z)
        d02 = _cosine(ax, ay, az, bx, by, bz)
        ax, ay, az = _normal(p0x, p0y, p0z, p1x, p1y, p1z, p3x, p3y, p3z)
        bx, by, bz = _normal(p3x, p3y, p3z, p1x, p1y, p1z, p2x, p2y, p2z)
        d13 = _cosine(ax, ay, az, bx, by, bz)
        use_02 = d02 >= d13 - tl.full([], 1e-9, tl.float64)  # float64 constants, as torch's Python floats
    lanes = tl.arange(0, 8)
    corner = tl.where(use_02[:, None], _lane_table(_CORNERS_02, 2, lanes)[None, :],
                      _lane_table(_CORNERS_13, 2, lanes)[None, :])
    index = tl.where(corner == 0, q0[:, None], tl.where(corner == 1, q1[:, None],
                                                         tl.where(corner == 2, q2[:, None], q3[:, None])))
    tl.store(faces_ptr + slot[:, None] * 6 + lanes[None, :], index, mask=live[:, None] & (lanes < 6)[None, :])


def extract_triton(coords: torch.Tensor, offsets: torch.Tensor, flags: torch.Tensor, weights: torch.Tensor | None,
                   aabb_min, voxel_size, grid_size) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(vertices [N, 3] float32, faces [F, 3] int64) exactly as the torch path, or None when a coordinate lies
    outside [0, grid_size + 2) (not an O-Voxel) or N >= 2^31 / 3 (rows and quad slots are int32 here); the caller then
    runs the torch path, which defines those cases.

    Takes checked inputs: integer coords [N, 3], float32 offsets [N, 3], bool flags [N, 3], float32 weights [N] or
    None. Syncs with the host once, for the face count.
    """
    device, n = coords.device, coords.shape[0]
    if n == 0:
        return torch.zeros((0, 3), dtype=torch.float32, device=device), torch.zeros((0, 3), dtype=torch.int64,
                                                                                      device=device)
    if 3 * n >= 2**31:
        return None
    if coords.dtype not in (torch.int32, torch.int64):
        coords = coords.long()
    coords, offsets = coords.contiguous(), offsets.contiguous()
    weights = None if weights is None else weights.contiguous()
    flags = flags.contiguous().view(torch.uint8)
    span = [int(s) + 2 for s in grid_size]
    narrow = span[0] * span[1] * span[2] <= 2**31  # in-grid keys fit int32, which sorts faster
    capacity = max(64, 1 << (2 * n - 1).bit_length())
    table = torch.full((capacity, 2), _EMPTY.value, dtype=torch.int64, device=device)  # (key, smallest row)
    verts = torch.empty((n, 3), dtype=torch.float32, device=device)
    keys = torch.empty(n, dtype=torch.int32 if narrow else torch.int64, device=device)
    outside = torch.zeros(1, dtype=torch.int32, device=device)
    n_blocks = triton.cdiv(n, _BLOCK)
    _prepare_kernel[(n_blocks,)](coords, offsets, verts, keys, table, outside, n, *span, capacity - 1,
                                 *[float(v) for v in voxel_size], *[float(v) for v in aabb_min], BLOCK=_BLOCK,
                                 enable_fp_fusion=False)
    sorted_keys, order = torch.sort(keys, stable=True)
    valid = torch.empty((3, n), dtype=torch.int8, device=device)
    neighbours = torch.empty((n, 9), dtype=torch.int32, device=device)
    counts = torch.empty((3, n_blocks), dtype=torch.int32, device=device)
    _quads_kernel[(n_blocks,)](order, sorted_keys, flags, table, valid, neighbours, counts, n, span[1], span[2],
                               capacity - 1, n_blocks, BLOCK=_BLOCK, num_warps=8)
    ends = torch.cumsum(counts.reshape(-1), 0, dtype=torch.int32)
    quads, bad = torch.cat([ends[-1:], outside]).tolist()
    if bad:
        return None
    faces = torch.empty((quads * 2, 3), dtype=torch.int64, device=device)
    if quads:
        _faces_kernel[(n_blocks, 3)](order, valid, neighbours, ends, counts, verts, weights, faces, n, n_blocks,
                                     WEIGHTED=weights is not None, BLOCK=_BLOCK, enable_fp_fusion=False)
    return verts, faces
