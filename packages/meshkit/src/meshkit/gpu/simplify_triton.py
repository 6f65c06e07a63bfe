"""Triton kernels for ``meshkit.simplify_torch``: edge collapse placements in one pass (per edge, the merged vertex
position, its quadric error and the candidate sort key, by the same rules and float64 arithmetic as the torch code,
which needs about a dozen (E, 10) temporaries per round for this), the candidates' link-condition counts (one
launch instead of about 20 torch operations over every candidate's neighbours) and the claim rounds of the
independent set in four launches each instead of about 25 torch operations (integer logic only, so both give
exactly the torch results).
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


@triton.jit(do_not_specialize=["n", "nv", "num_keys", "steps"])
def _link_kernel(u_ptr, v_ptr, start, neighbours, keys, counts, n, nv, num_keys, steps, BLOCK: tl.constexpr):
    """Per candidate edge (u, v): how many neighbours w != v of u have an edge (v, w) in the sorted ``keys``
    (binary search for v/w's key ``min * nv + max``)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    u = tl.load(u_ptr + i, mask=mask, other=0)
    v = tl.load(v_ptr + i, mask=mask, other=0)
    low = tl.load(start + u, mask=mask, other=0)
    degree = tl.load(start + u + 1, mask=mask, other=0) - low
    total = tl.zeros_like(degree).to(tl.int32)
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
        total += (has & (w != v) & found).to(tl.int32)
    tl.store(counts + i, total, mask=mask)


def link_counts(keys: Any, neighbours: Any, start: Any, u: Any, v: Any, nv: int) -> Any:
    """int32 (n,): for each candidate edge (u, v), the neighbours w != v of u (``neighbours[start[u]:start[u + 1]]``)
    that share an edge with v (its key ``min * nv + max`` is in the sorted int64 ``keys``)."""
    n = len(u)
    counts = torch.empty(n, dtype=torch.int32, device=u.device)
    if n:
        _link_kernel[(triton.cdiv(n, _BLOCK),)](u, v, start, neighbours, keys, counts, n, nv, len(keys),
                                                max(len(keys).bit_length(), 1), BLOCK=_BLOCK)
    return counts


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
