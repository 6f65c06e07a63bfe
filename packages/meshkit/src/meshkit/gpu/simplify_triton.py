"""Triton kernels for ``meshkit.simplify_torch``: edge collapse placements in one pass (per edge, the merged vertex
position, its quadric error and the candidate sort key, by the same rules and float64 arithmetic as the torch code,
which needs about a dozen (E, 10) temporaries per round for this) and, with integer logic only (so exactly the torch
results), the edge list around its one sort, the candidates' lock/boundary/link rules in one launch, the claim
rounds of the independent set in four launches each and the collapse (winner cut-off, face remap, merge of the
kept ends: copies and one float addition each) in three, each in place of tens of small torch operations.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

_BLOCK = 256
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)  # simplify_torch's edge-hash multiplier (as int64)


@triton.jit
def _error(q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, x, y, z):
    """p^T Q p for p = (x, y, z, 1) and Q given by its 10 upper entries (xx xy xz xw yy yz yw zz zw ww)."""
    return (q0 * x * x + 2 * q1 * x * y + 2 * q2 * x * z + 2 * q3 * x + q4 * y * y + 2 * q5 * y * z + 2 * q6 * y
            + q7 * z * z + 2 * q8 * z + q9)


@triton.jit
def _pick(take, ax, ay, az, bx, by, bz):
    """Point a where ``take`` holds, else point b."""
    return tl.where(take, ax, bx), tl.where(take, ay, by), tl.where(take, az, bz)


@triton.jit(do_not_specialize=["n", "nv"])  # the edge count changes every round
def _placement_kernel(quadrics, positions, locked, u_ptr, v_ptr, points, costs, sort_keys, n, nv, GOLDEN: tl.constexpr,
                      BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    u = tl.load(u_ptr + i, mask=mask, other=0)
    v = tl.load(v_ptr + i, mask=mask, other=0)
    qu, qv = quadrics + 10 * u, quadrics + 10 * v
    q0 = tl.load(qu, mask=mask, other=0.0) + tl.load(qv, mask=mask, other=0.0)
    q1 = tl.load(qu + 1, mask=mask, other=0.0) + tl.load(qv + 1, mask=mask, other=0.0)
    q2 = tl.load(qu + 2, mask=mask, other=0.0) + tl.load(qv + 2, mask=mask, other=0.0)
    q3 = tl.load(qu + 3, mask=mask, other=0.0) + tl.load(qv + 3, mask=mask, other=0.0)
    q4 = tl.load(qu + 4, mask=mask, other=0.0) + tl.load(qv + 4, mask=mask, other=0.0)
    q5 = tl.load(qu + 5, mask=mask, other=0.0) + tl.load(qv + 5, mask=mask, other=0.0)
    q6 = tl.load(qu + 6, mask=mask, other=0.0) + tl.load(qv + 6, mask=mask, other=0.0)
    q7 = tl.load(qu + 7, mask=mask, other=0.0) + tl.load(qv + 7, mask=mask, other=0.0)
    q8 = tl.load(qu + 8, mask=mask, other=0.0) + tl.load(qv + 8, mask=mask, other=0.0)
    q9 = tl.load(qu + 9, mask=mask, other=0.0) + tl.load(qv + 9, mask=mask, other=0.0)
    ux = tl.load(positions + 3 * u, mask=mask, other=0.0)
    uy = tl.load(positions + 3 * u + 1, mask=mask, other=0.0)
    uz = tl.load(positions + 3 * u + 2, mask=mask, other=0.0)
    vx = tl.load(positions + 3 * v, mask=mask, other=0.0)
    vy = tl.load(positions + 3 * v + 1, mask=mask, other=0.0)
    vz = tl.load(positions + 3 * v + 2, mask=mask, other=0.0)
    mx, my, mz = (ux + vx) / 2, (uy + vy) / 2, (uz + vz) / 2
    # Minimiser by Cramer's rule, trusted when well-conditioned and within two edge lengths of the midpoint.
    minor0, minor1, minor2 = q4 * q7 - q5 * q5, q1 * q7 - q2 * q5, q1 * q5 - q2 * q4
    det = q0 * minor0 - q1 * minor1 + q2 * minor2
    scale = tl.abs(q0) + tl.abs(q4) + tl.abs(q7)
    safe = tl.where(det == 0, 1.0, det)
    r0, r1, r2 = -q3, -q6, -q8
    bx = (r0 * minor0 - q1 * (r1 * q7 - q5 * r2) + q2 * (r1 * q5 - q4 * r2)) / safe
    by = (q0 * (r1 * q7 - q5 * r2) - r0 * minor1 + q2 * (q1 * r2 - r1 * q2)) / safe
    bz = (q0 * (q4 * r2 - r1 * q5) - q1 * (q1 * r2 - r1 * q2) + r0 * minor2) / safe
    finite = (tl.abs(bx) < float("inf")) & (tl.abs(by) < float("inf")) & (tl.abs(bz) < float("inf"))
    dx, dy, dz = bx - mx, by - my, bz - mz
    ex, ey, ez = ux - vx, uy - vy, uz - vz
    use = (tl.abs(det) > 1e-12 * scale * scale * scale) & finite
    use = use & (dx * dx + dy * dy + dz * dz <= 4 * (ex * ex + ey * ey + ez * ez))
    x, y, z = _pick(use, bx, by, bz, mx, my, mz)
    cost = _error(q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, x, y, z)
    # Otherwise the best of midpoint, u and v (in that order, strictly better only).
    end_cost = _error(q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, ux, uy, uz)
    better = ~use & (end_cost < cost)
    x, y, z = _pick(better, ux, uy, uz, x, y, z)
    cost = tl.where(better, end_cost, cost)
    end_cost = _error(q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, vx, vy, vz)
    better = ~use & (end_cost < cost)
    x, y, z = _pick(better, vx, vy, vz, x, y, z)
    cost = tl.where(better, end_cost, cost)
    # A locked end stays where it is.
    lock_u = tl.load(locked + u, mask=mask, other=0) != 0
    lock_v = tl.load(locked + v, mask=mask, other=0) != 0
    px, py, pz = _pick(lock_u, ux, uy, uz, vx, vy, vz)
    pinned = lock_u | lock_v
    x, y, z = _pick(pinned, px, py, pz, x, y, z)
    cost = tl.where(pinned, _error(q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, px, py, pz), cost)
    tl.store(points + 3 * i, x, mask=mask)
    tl.store(points + 3 * i + 1, y, mask=mask)
    tl.store(points + 3 * i + 2, z, mask=mask)
    cost = tl.maximum(cost, 0.0)
    tl.store(costs + i, cost, mask=mask)
    # simplify_torch._sort_keys: cost as float32 bits (NaN and +inf as 3e38), then a hash of the edge key u * nv + v.
    finite = tl.where((cost != cost) | (cost == float("inf")), 3e38, cost)
    bits = tl.where(finite > 0, finite, 0.0).to(tl.float32).to(tl.int32, bitcast=True).to(tl.int64)
    mixed = ((u * nv + v) * GOLDEN) >> 32
    low = mixed - ((mixed >> 32) << 32)  # its low 32 bits, 0 .. 2^32 - 1 (no literal whose type could vary)
    tl.store(sort_keys + i, (bits << 32) | low, mask=mask)


@triton.jit(do_not_specialize=["n", "nv"])
def _half_edge_key_kernel(faces, keys, n, nv, BLOCK: tl.constexpr):
    """Key ``min * nv + max`` of each half-edge ``3 * face + corner`` (from that corner to the next)."""
    h = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = h < n
    start = tl.load(faces + h, mask=mask, other=0)
    end = tl.load(faces + h - h % 3 + (h % 3 + 1) % 3, mask=mask, other=0)
    tl.store(keys + h, tl.minimum(start, end) * nv + tl.maximum(start, end), mask=mask)


@triton.jit(do_not_specialize=["n", "nv"])
def _edge_start_kernel(keys, locked, first, totals, n, nv, BLOCK: tl.constexpr):
    """Flags the first of each run of equal sorted ``keys`` and counts (atomically, integers) those runs and the
    runs with an end not locked."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    key = tl.load(keys + i, mask=mask, other=0)
    starts = mask & ((i == 0) | (key != tl.load(keys + i - 1, mask=mask & (i > 0), other=0)))
    pinned = (tl.load(locked + key // nv, mask=starts, other=0) != 0) & (tl.load(locked + key % nv, mask=starts,
                                                                                other=0) != 0)
    tl.store(first + i, starts.to(tl.uint8), mask=mask)
    tl.atomic_add(totals, tl.sum(starts.to(tl.int64), 0))
    tl.atomic_add(totals + 1, tl.sum((starts & ~pinned).to(tl.int64), 0))


@triton.jit(do_not_specialize=["edges", "n", "nv"])
def _edge_kernel(first, keys, order, faces, locked, unique, u_ptr, v_ptr, count, opposite, half_edge, movable, edges,
                 n, nv, BLOCK: tl.constexpr):
    """Per edge (its first position in the sorted half-edges): key, ends, face count, the opposite corners of its
    first two half-edges (-1 for a missing second), its first half-edge and whether an end is not locked."""
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = e < edges
    at = tl.load(first + e, mask=mask, other=0)
    following = tl.load(first + e + 1, mask=mask & (e + 1 < edges), other=n)
    key = tl.load(keys + at, mask=mask, other=0)
    u, v = key // nv, key % nv
    h = tl.load(order + at, mask=mask, other=0)
    second = tl.load(order + tl.minimum(at + 1, n - 1), mask=mask, other=0)
    corner = tl.load(faces + h - h % 3 + (h % 3 + 2) % 3, mask=mask, other=0)
    other = tl.load(faces + second - second % 3 + (second % 3 + 2) % 3, mask=mask, other=0)
    pinned = (tl.load(locked + u, mask=mask, other=0) != 0) & (tl.load(locked + v, mask=mask, other=0) != 0)
    tl.store(unique + e, key, mask=mask)
    tl.store(u_ptr + e, u, mask=mask)
    tl.store(v_ptr + e, v, mask=mask)
    tl.store(count + e, following - at, mask=mask)
    tl.store(opposite + e, corner, mask=mask)
    tl.store(opposite + edges + e, tl.where(following - at > 1, other, -1), mask=mask)
    tl.store(half_edge + e, h, mask=mask)
    tl.store(movable + e, (~pinned).to(tl.uint8), mask=mask)


def edge_list(faces: Any, nv: int, locked: Any) -> tuple[Any, ...]:
    """``simplify_torch._edge_list``'s fields (keys, u, v, count, opposite (2, E), half_edge, listed) of the int64
    ``faces`` (F, 3) over ``nv`` vertices with boolean ``locked`` (V,): one sort of the half-edge keys, three
    launches around it and one read-back of the two counts."""
    n, device = faces.numel(), faces.device
    keys = torch.empty(n, dtype=torch.int64, device=device)
    first = torch.zeros(n, dtype=torch.bool, device=device)
    totals = torch.zeros(2, dtype=torch.int64, device=device)
    locked_bytes = locked.view(torch.uint8)
    grid = (triton.cdiv(n, _BLOCK),)
    if n:
        _half_edge_key_kernel[grid](faces, keys, n, nv, BLOCK=_BLOCK)
    keys, order = torch.sort(keys, stable=True)
    if n:
        _edge_start_kernel[grid](keys, locked_bytes, first.view(torch.uint8), totals, n, nv, BLOCK=_BLOCK)
    edges, listed = totals.tolist()
    starts = torch.nonzero_static(first, size=edges).squeeze(1)
    unique, u, v, count, half_edge = (torch.empty(edges, dtype=torch.int64, device=device) for _ in range(5))
    opposite = torch.empty(2, edges, dtype=torch.int64, device=device)
    movable = torch.empty(edges, dtype=torch.bool, device=device)
    if edges:
        _edge_kernel[(triton.cdiv(edges, _BLOCK),)](starts, keys, order, faces, locked_bytes, unique, u, v, count,
                                                    opposite, half_edge, movable.view(torch.uint8), edges, n, nv,
                                                    BLOCK=_BLOCK)
    return unique, u, v, count, opposite, half_edge, torch.nonzero_static(movable, size=listed).squeeze(1)


def edge_placements(quadrics: Any, positions: Any, locked: Any, u: Any, v: Any, nv: int) -> tuple[Any, Any, Any]:
    """(points (E, 3), cost (E,), sort keys (E,) as ``simplify_torch._sort_keys`` makes them) of merging each ``v``
    into ``u`` (u < v, ``nv`` vertices): float64 ``quadrics`` (V, 10) and ``positions`` (V, 3), boolean ``locked``
    (V,), int64 ends (E,), all contiguous on one device."""
    n = len(u)
    points = torch.empty(n, 3, dtype=torch.float64, device=u.device)
    costs = torch.empty(n, dtype=torch.float64, device=u.device)
    sort_keys = torch.empty(n, dtype=torch.int64, device=u.device)
    if n:
        _placement_kernel[(triton.cdiv(n, _BLOCK),)](quadrics, positions, locked.view(torch.uint8), u, v, points,
                                                     costs, sort_keys, n, nv, GOLDEN=_GOLDEN, BLOCK=_BLOCK)
    return points, costs, sort_keys


@triton.jit
def _link_total(u, v, mask, start, neighbours, keys, nv, num_keys, steps):
    """Per candidate edge (u, v): how many neighbours w != v of u have an edge (v, w) in the sorted ``keys``
    (binary search for v/w's key ``min * nv + max``)."""
    low = tl.load(start + u, mask=mask, other=0)
    degree = tl.load(start + u + 1, mask=mask, other=0) - low
    total = tl.zeros_like(degree)
    for j in range(0, tl.max(degree, 0)):
        has = mask & (j < degree)
        w = tl.load(neighbours + low + j, mask=has, other=0)
        look = tl.minimum(w, v) * nv + tl.maximum(w, v)
        left = tl.zeros_like(look)
        right = left + num_keys
        for _ in range(steps):  # lower bound of look
            middle = (left + right) // 2
            below = tl.load(keys + middle, mask=has & (left < right), other=0) < look
            left = tl.where((left < right) & below, middle + 1, left)
            right = tl.where((left < right) & ~below, middle, right)
        found = tl.load(keys + left, mask=has & (left < num_keys), other=-1) == look
        total += (has & (w != v) & found).to(total.dtype)
    return total


@triton.jit(do_not_specialize=["n", "nv", "num_keys", "steps"])
def _rules_kernel(chosen, edge_u, edge_v, edge_count, locked, boundary, start, neighbours, keys, kept_ptr, moving_ptr,
                  count_ptr, legal_ptr, n, nv, num_keys, steps, BLOCK: tl.constexpr):
    """Per candidate edge: its kept and moving ends (the locked one is kept), face count and whether the boundary,
    lock and link conditions allow the collapse."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    edge = tl.load(chosen + i, mask=mask, other=0)
    u = tl.load(edge_u + edge, mask=mask, other=0)
    v = tl.load(edge_v + edge, mask=mask, other=0)
    count = tl.load(edge_count + edge, mask=mask, other=0)
    lock_u = tl.load(locked + u, mask=mask, other=0) != 0
    lock_v = tl.load(locked + v, mask=mask, other=0) != 0
    swap = lock_v & ~lock_u
    both_open = (tl.load(boundary + u, mask=mask, other=0) != 0) & (tl.load(boundary + v, mask=mask, other=0) != 0)
    legal = ~tl.where(swap, lock_u, lock_v) & (count <= 2) & ((count == 2) ^ both_open)
    legal = legal & (_link_total(u, v, mask, start, neighbours, keys, nv, num_keys, steps) == count)
    tl.store(kept_ptr + i, tl.where(swap, v, u), mask=mask)
    tl.store(moving_ptr + i, tl.where(swap, u, v), mask=mask)
    tl.store(count_ptr + i, count, mask=mask)
    tl.store(legal_ptr + i, legal.to(tl.uint8), mask=mask)


def candidate_rules(keys: Any, edge_u: Any, edge_v: Any, edge_count: Any, neighbours: Any, start: Any, chosen: Any,
                    locked: Any, boundary: Any, nv: int) -> tuple[Any, Any, Any, Any]:
    """(kept, moving, face count, legal) of the ``chosen`` edges as ``simplify_torch._plan`` makes them before its
    face checks: boundary, lock and link conditions (``neighbours[start[u]:start[u + 1]]`` are u's neighbours, the
    sorted int64 edge ``keys`` are ``u * nv + v``); integer logic, one launch."""
    n, device = len(chosen), chosen.device
    kept, moving, count = (torch.empty(n, dtype=torch.int64, device=device) for _ in range(3))
    legal = torch.empty(n, dtype=torch.bool, device=device)
    if n:
        _rules_kernel[(triton.cdiv(n, _BLOCK),)](chosen, edge_u, edge_v, edge_count, locked.view(torch.uint8),
                                                 boundary.view(torch.uint8), start, neighbours, keys, kept, moving,
                                                 count, legal.view(torch.uint8), n, nv, len(keys),
                                                 max(len(keys).bit_length(), 1), BLOCK=_BLOCK)
    return kept, moving, count, legal


@triton.jit(do_not_specialize=["n", "excess"])
def _cutoff_kernel(winner, removes, removed, kept, moving, merged, totals, excess, n, BLOCK: tl.constexpr):
    """Keeps the winners that start while faces remain above the target (``removed``: running sum of the winners'
    ``removes``), points each moving end at its kept end (atomic minimum) and counts them."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    wins = tl.load(winner + i, mask=mask, other=0) != 0
    before = tl.load(removed + i, mask=mask, other=0) - tl.where(wins, tl.load(removes + i, mask=mask, other=0), 0)
    wins = wins & (excess - before > 0)
    tl.store(winner + i, wins.to(tl.uint8), mask=mask)
    tl.atomic_min(merged + tl.load(moving + i, mask=mask, other=0), tl.load(kept + i, mask=mask, other=0),
                  mask=mask & wins)
    tl.atomic_add(totals, tl.sum(wins.to(tl.int64), 0))


@triton.jit(do_not_specialize=["n", "nv"])
def _remap_kernel(faces, merged, out, alive, totals, n, nv, BLOCK: tl.constexpr):
    """Faces with their moving corners replaced by the kept ones; flags and counts those still a triangle."""
    f = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = f < n
    a = tl.load(faces + 3 * f, mask=mask, other=0)
    b = tl.load(faces + 3 * f + 1, mask=mask, other=0)
    c = tl.load(faces + 3 * f + 2, mask=mask, other=0)
    ma = tl.load(merged + a, mask=mask, other=nv)
    mb = tl.load(merged + b, mask=mask, other=nv)
    mc = tl.load(merged + c, mask=mask, other=nv)
    a, b, c = tl.where(ma < nv, ma, a), tl.where(mb < nv, mb, b), tl.where(mc < nv, mc, c)
    tl.store(out + 3 * f, a, mask=mask)
    tl.store(out + 3 * f + 1, b, mask=mask)
    tl.store(out + 3 * f + 2, c, mask=mask)
    triangle = mask & (a != b) & (b != c) & (a != c)
    tl.store(alive + f, triangle.to(tl.uint8), mask=mask)
    tl.atomic_add(totals + 1, tl.sum(triangle.to(tl.int64), 0))


@triton.jit(do_not_specialize=["n"])
def _merge_kernel(winner, kept_ptr, moving_ptr, points, positions, quadrics, boundary, n, BLOCK: tl.constexpr):
    """Each winner's kept end moves to its point and adds the moving end's quadric (one addition per entry, as
    ``index_add_`` of distinct rows makes it) and boundary flag."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = (i < n) & (tl.load(winner + i, mask=i < n, other=0) != 0)
    kept = tl.load(kept_ptr + i, mask=mask, other=0)
    moving = tl.load(moving_ptr + i, mask=mask, other=0)
    for axis in tl.static_range(3):
        tl.store(positions + 3 * kept + axis, tl.load(points + 3 * i + axis, mask=mask, other=0.0), mask=mask)
    for entry in tl.static_range(10):
        total = tl.load(quadrics + 10 * kept + entry, mask=mask, other=0.0) + tl.load(quadrics + 10 * moving + entry,
                                                                                      mask=mask, other=0.0)
        tl.store(quadrics + 10 * kept + entry, total, mask=mask)
    flag = tl.load(boundary + kept, mask=mask, other=0) | tl.load(boundary + moving, mask=mask, other=0)
    tl.store(boundary + kept, flag, mask=mask)


def collapse_plan(faces: Any, winner: Any, removes: Any, kept: Any, moving: Any, excess: int,
                  nv: int) -> tuple[Any, Any, int, int]:
    """(remapped faces, alive, collapses, live faces): keeps the ``winner`` candidates (updated in place) whose
    collapse starts while faces remain above the target and remaps the faces through them; one read-back of both
    counts. Integer logic only."""
    n, device = len(winner), winner.device
    removed = torch.cumsum(torch.where(winner, removes, 0), 0)
    merged = torch.full((nv,), nv, dtype=torch.int64, device=device)
    totals = torch.zeros(2, dtype=torch.int64, device=device)
    out = torch.empty_like(faces)
    alive = torch.empty(len(faces), dtype=torch.bool, device=device)
    if n:
        _cutoff_kernel[(triton.cdiv(n, _BLOCK),)](winner.view(torch.uint8), removes, removed, kept, moving, merged,
                                                  totals, excess, n, BLOCK=_BLOCK)
    if len(faces):
        _remap_kernel[(triton.cdiv(len(faces), _BLOCK),)](faces, merged, out, alive.view(torch.uint8), totals,
                                                          len(faces), nv, BLOCK=_BLOCK)
    collapses, live = totals.tolist()
    return out, alive, collapses, live


def merge_winners(winner: Any, kept: Any, moving: Any, points: Any, positions: Any, quadrics: Any,
                  boundary: Any) -> None:
    """Moves each ``winner``'s kept end to its point and folds the moving end's quadric and boundary flag into it,
    in place (float64 contiguous ``positions``/``quadrics``); the same additions as the torch code."""
    n = len(winner)
    if n:
        _merge_kernel[(triton.cdiv(n, _BLOCK),)](winner.view(torch.uint8), kept, moving, points, positions, quadrics,
                                                 boundary.view(torch.uint8), n, BLOCK=_BLOCK)


@triton.jit(do_not_specialize=["n"])
def _claim_kernel(owner_ptr, face_ptr, undecided, claim, taken, n, BLOCK: tl.constexpr):
    """Undecided candidates claim their faces with their rank (atomic minimum); clears the faces' taken flags."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    owner = tl.load(owner_ptr + i, mask=mask, other=0)
    face = tl.load(face_ptr + i, mask=mask, other=0)
    active = tl.load(undecided + owner, mask=mask, other=0) != 0
    tl.atomic_min(claim + face, owner, mask=mask & active)
    tl.store(taken + face, tl.zeros_like(face).to(tl.uint8), mask=mask)


@triton.jit(do_not_specialize=["n"])
def _outrank_kernel(owner_ptr, face_ptr, undecided, claim, outranked, n, BLOCK: tl.constexpr):
    """An undecided candidate with a face claimed by a lower rank is outranked."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    owner = tl.load(owner_ptr + i, mask=mask, other=0)
    face = tl.load(face_ptr + i, mask=mask, other=0)
    active = tl.load(undecided + owner, mask=mask, other=0) != 0
    lost = active & (tl.load(claim + face, mask=mask, other=0) != owner)
    tl.store(outranked + owner, tl.full(owner.shape, 1, tl.uint8), mask=mask & lost)


@triton.jit(do_not_specialize=["n"])
def _take_kernel(owner_ptr, face_ptr, undecided, outranked, winner, taken, n, BLOCK: tl.constexpr):
    """Undecided candidates not outranked win and take their faces."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    owner = tl.load(owner_ptr + i, mask=mask, other=0)
    face = tl.load(face_ptr + i, mask=mask, other=0)
    new = (tl.load(undecided + owner, mask=mask, other=0) != 0) & (tl.load(outranked + owner, mask=mask, other=1) == 0)
    one = tl.full(owner.shape, 1, tl.uint8)
    tl.store(taken + face, one, mask=mask & new)
    tl.store(winner + owner, one, mask=mask & new)


@triton.jit(do_not_specialize=["n", "ranks"])
def _block_kernel(owner_ptr, face_ptr, undecided, outranked, claim, taken, ranks, n, BLOCK: tl.constexpr):
    """Candidates with a taken face are decided (winners included); resets the claims and outranked flags that the
    next round reads."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    owner = tl.load(owner_ptr + i, mask=mask, other=0)
    face = tl.load(face_ptr + i, mask=mask, other=0)
    blocked = tl.load(taken + face, mask=mask, other=0) != 0
    zero = tl.zeros_like(owner).to(tl.uint8)
    tl.store(undecided + owner, zero, mask=mask & blocked)
    tl.store(outranked + owner, zero, mask=mask)
    tl.store(claim + face, tl.zeros_like(owner) + ranks, mask=mask)


class ClaimRounds:
    """One claim round per call on entries (``owner``, ``face``: int64, a candidate's rank and a face around its
    edge), updating the boolean ``undecided`` and ``winner`` masks (n,) in place like the torch rounds; the claim
    and flag buffers over the ``nf`` faces persist between calls (each round leaves them reset for the next). The
    kernels are not specialised on their sizes, which change every round (no recompiles mid-call)."""

    def __init__(self, n: int, nf: int, device: Any) -> None:
        self.n = n
        self.claim = torch.full((nf,), n, dtype=torch.int64, device=device)
        self.taken = torch.zeros(nf, dtype=torch.uint8, device=device)
        self.outranked = torch.zeros(n, dtype=torch.uint8, device=device)

    def __call__(self, owner: Any, face: Any, undecided: Any, winner: Any) -> None:
        entries = len(owner)
        if entries == 0:
            return
        grid = (triton.cdiv(entries, _BLOCK),)
        undecided_bytes, winner_bytes = undecided.view(torch.uint8), winner.view(torch.uint8)
        _claim_kernel[grid](owner, face, undecided_bytes, self.claim, self.taken, entries, BLOCK=_BLOCK)
        _outrank_kernel[grid](owner, face, undecided_bytes, self.claim, self.outranked, entries, BLOCK=_BLOCK)
        _take_kernel[grid](owner, face, undecided_bytes, self.outranked, winner_bytes, self.taken, entries,
                           BLOCK=_BLOCK)
        _block_kernel[grid](owner, face, undecided_bytes, self.outranked, self.claim, self.taken, self.n, entries,
                            BLOCK=_BLOCK)
