"""Quadric edge-collapse simplification as vectorised torch code, so that it runs on the GPU (``meshkit.simplify``
sends CUDA tensors here).

Same algorithm and rules as the native ``meshkit.simplify``: rounds that cost every edge, take the cheapest as
candidates and collapse together the legal ones whose face neighbourhoods do not overlap. The cheapest-first greedy
choice among them is found in parallel by repeated local-minimum claims. Runs on tensors of any device (CPU tensors
are how it is tested) and is deterministic there.

Boolean-mask indexing, ``bincount`` and ``repeat_interleave`` without a size make the host wait for the device, so
the rounds use fixed-size masked operations and ``nonzero_static`` with sizes read back together: one transfer for
the edge counts, one for the size of the candidates' face neighbourhoods (plus one for their edge neighbourhoods
where the link condition runs as torch code), one per few claim rounds and one for the collapse count. Rows of 16
bytes or a multiple (quadrics, attribute pairs, opposite-corner pairs) are gathered with ``index_select`` or kept as
separate columns: CUDA torch copies such rows under ``tensor[index]`` with one thread block per row.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .holes import _check_tensors
from .simplify import SimplifyResult
from .validation import check_positive, is_torch_tensor

# A symmetric 4x4 quadric is stored as its 10 upper entries (xx xy xz xw yy yz yw zz zw ww): row, column, and the
# factor of each in p^T Q p.
_ROW = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
_COLUMN = [0, 1, 2, 3, 1, 2, 3, 2, 3, 3]
_FACTOR = [1.0, 2.0, 2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 2.0, 1.0]
_MIS_ITERATIONS = 32  # claim rounds per collapse round; candidates still undecided then wait for the next round
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)  # odd multiplier (as int64) hashing edge keys into tie-breaking bits


@dataclass
class _State:
    """The mesh between rounds: live faces (original vertex ids) and per-vertex data, float64 on the device."""

    positions: Any
    quadrics: Any
    attributes: Any
    locked: Any
    boundary: Any
    faces: Any


@dataclass
class _Edges:
    """Undirected edges of the live faces, sorted by key ``u * V + v`` (u < v), with their face count, the opposite
    corners of their first two faces (a (2, E) tensor, -1 where absent), the first half-edge (``3 * face + corner``)
    on each and ``listed``, the edges with an end that is not locked."""

    keys: Any
    u: Any
    v: Any
    count: Any
    opposite: Any
    half_edge: Any
    listed: Any


def simplify_torch(
    vertices: Any,
    faces: Any,
    target_faces: int,
    *,
    preserve_boundary: bool = False,
    attributes: Any | None = None,
    locked_vertices: Any | None = None,
    min_normal_cos: float = 0.1,
    boundary_weight: float = 1e3,
    round_fraction: float = 0.1,
) -> SimplifyResult:
    """``meshkit.simplify`` computed with torch on the tensors' device (numpy input runs on CPU tensors);
    ``meshkit.simplify`` calls it for CUDA tensors.

    Same options, rules and stopping point (the target or one face below); equal-cost edges are ordered by an edge
    hash rather than the native order. Results are tensors on the vertices' device except ``vertex_source`` (numpy),
    and are identical between runs.
    """
    import torch

    vertices, faces = (value if is_torch_tensor(value) else torch.as_tensor(value) for value in (vertices, faces))
    _check_tensors(torch, vertices, faces)
    faces = faces.to(vertices.device)
    if isinstance(target_faces, bool) or not isinstance(target_faces, int | np.integer) or target_faces < 0:
        raise ValueError(f"target_faces must be a non-negative integer, got {target_faces!r}")
    fraction = check_positive(round_fraction, "round_fraction")
    device, nv = vertices.device, len(vertices)
    given = None if attributes is None else torch.as_tensor(attributes, device=device)
    attr = torch.zeros(nv, 0, dtype=torch.float64, device=device) if given is None else given.to(torch.float64)
    attr = attr[:, None] if attr.ndim == 1 else attr
    if attr.ndim != 2 or attr.shape[0] != nv:
        raise ValueError(f"attributes must have shape (V, K) with V = {nv}, got {tuple(given.shape)}")
    if not bool(attr.isfinite().all()):
        raise ValueError("attributes contain NaN or infinite values")
    locked = torch.zeros(nv, dtype=torch.bool, device=device)
    if locked_vertices is not None:
        mask = torch.as_tensor(locked_vertices, device=device)
        if mask.shape != (nv,) or mask.dtype != torch.bool:
            raise ValueError(f"locked_vertices must be a boolean array of shape ({nv},)")
        locked |= mask
    f = faces.to(torch.int64)
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]  # degenerate by index: dropped
    state = _initial_state(vertices.to(torch.float64).clone(), f, attr.clone(), locked, preserve_boundary,
                           float(boundary_weight))
    _collapse_to(state, int(target_faces), float(min_normal_cos), fraction)
    return _result(state, int(target_faces), vertices, given)


def _initial_state(positions: Any, faces: Any, attributes: Any, locked: Any, preserve_boundary: bool,
                   boundary_weight: float) -> _State:
    """Vertex quadrics (area-weighted face planes plus planes of weight ``boundary_weight * length^2`` through open
    boundary edges, perpendicular to their face) and flags; ends of non-manifold edges are locked."""
    import torch

    nv = len(positions)
    edges = _edge_list(faces, nv, locked)
    corners = positions[faces]
    normals = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    face_planes = _plane_quadrics(normals, corners[:, 0], 0.5 * normals.norm(dim=1))
    open_edges = edges.half_edge[edges.count == 1]
    face, corner = open_edges // 3, open_edges % 3
    start, end = faces[face, corner], faces[face, (corner + 1) % 3]
    along = positions[end] - positions[start]
    boundary_planes = _plane_quadrics(torch.linalg.cross(along, normals[face]), positions[start],
                                      boundary_weight * (along * along).sum(1))
    quadrics = _sum_by_index(torch.cat([face_planes.repeat_interleave(3, 0), boundary_planes, boundary_planes]),
                             torch.cat([faces.reshape(-1), start, end]), nv)
    boundary = torch.zeros(nv, dtype=torch.bool, device=positions.device)
    boundary[start] = True
    boundary[end] = True
    locked = locked.clone()
    locked[edges.u[edges.count > 2]] = True
    locked[edges.v[edges.count > 2]] = True
    if preserve_boundary:
        locked |= boundary
    return _State(positions, quadrics, attributes, locked, boundary, faces)


def _plane_quadrics(normals: Any, points: Any, weights: Any) -> Any:
    """Quadrics (N, 10) of the planes through ``points`` with (unnormalised) ``normals``, times ``weights``; zero
    for a zero normal."""
    import torch

    length = normals.norm(dim=1, keepdim=True)
    unit = torch.where(length > 0, normals / length.clamp_min(1e-300), 0.0)
    plane = torch.cat([unit, -(unit * points).sum(1, keepdim=True)], dim=1)
    return weights[:, None] * plane[:, _ROW] * plane[:, _COLUMN]


def _sum_by_index(values: Any, index: Any, size: int) -> Any:
    """Rows of ``values`` summed into ``size`` rows by ``index``, each row's terms added in their input order (GPU
    atomics would add them in a varying order, so float sums would differ between runs)."""
    import torch

    order = torch.argsort(index, stable=True)
    counts = torch.bincount(index, minlength=size)
    within = torch.arange(len(index), device=index.device) - (torch.cumsum(counts, 0) - counts)[index[order]]
    by_step = order[torch.argsort(within, stable=True)]  # first terms of every row, then second terms, ...
    out = torch.zeros(size, values.shape[1], dtype=values.dtype, device=values.device)
    offset = 0
    for n in torch.bincount(within).tolist():  # each step adds at most one term to a row
        step = by_step[offset:offset + n]
        out.index_add_(0, index[step], values.index_select(0, step))
        offset += n
    return out


def _edge_list(faces: Any, nv: int, locked: Any) -> _Edges:
    """The undirected edges of ``faces`` (one sort of the half-edges by edge key; ties keep half-edge order) and
    which of them have an end not in ``locked``; one read-back of both counts. On CUDA with Triton installed,
    three kernels around the sort do the rest."""
    import torch

    if _triton_for(faces):
        from .gpu.simplify_triton import edge_list

        return _Edges(*edge_list(faces.contiguous(), nv, locked))

    start, end, opposite = faces.reshape(-1), faces.roll(-1, 1).reshape(-1), faces.roll(1, 1).reshape(-1)
    keys, order = torch.sort(torch.minimum(start, end) * nv + torch.maximum(start, end), stable=True)
    first = torch.ones(len(keys), dtype=torch.bool, device=keys.device)
    first[1:] = keys[1:] != keys[:-1]
    movable = first & ~(locked[keys // nv] & locked[keys % nv])
    size, listed = _fetch(first.sum(), movable.sum())
    first = torch.nonzero_static(first, size=size).squeeze(1)
    count = torch.diff(first, append=torch.full((1,), len(keys), device=keys.device))
    second = torch.where(count > 1, opposite[order[(first + 1).clamp_max(len(keys) - 1)]], -1)
    unique = keys[first]
    u, v = unique // nv, unique % nv
    return _Edges(unique, u, v, count, torch.stack([opposite[order[first]], second]), order[first],
                  torch.nonzero_static(~(locked[u] & locked[v]), size=listed).squeeze(1))


def _fetch(*values: Any) -> list[int]:
    """Integer scalars of the device brought to the host in one transfer (a single wait for the device)."""
    import torch

    return torch.stack(values).tolist()


def _count_by(index: Any, flags: Any, size: int) -> Any:
    """How many set ``flags`` each of ``size`` groups has (``index`` gives each flag's group); integer additions, so
    the same in any order, and no read-back (``bincount`` of a masked index waits for the device twice)."""
    import torch

    return torch.zeros(size, dtype=torch.int32, device=index.device).index_add_(0, index, flags.to(torch.int32))


def _csr(groups: Any, size: int) -> tuple[Any, Any]:
    """(order, start): ``order[start[g]:start[g + 1]]`` lists the entries of group ``g`` in their input order."""
    import torch

    narrow = groups.to(torch.int32) if size < 2**31 else groups  # half the radix-sort passes on a GPU
    grouped, order = torch.sort(narrow, stable=True)
    return order, torch.searchsorted(grouped, torch.arange(size + 1, dtype=narrow.dtype, device=groups.device))


def _expand(start: Any, count: Any, total: int) -> tuple[Any, Any]:
    """(owner, position): every ``start[i] + j`` for ``j < count[i]``, with its ``i``; ``total`` is ``count.sum()``
    (given, so that nothing waits for the device)."""
    import torch

    owner = torch.repeat_interleave(torch.arange(len(count), device=count.device), count, output_size=total)
    offset = torch.cumsum(count, 0) - count
    return owner, torch.arange(total, device=count.device) - offset[owner] + start[owner]


def _evaluate(quadrics: Any, points: Any) -> Any:
    """p^T Q p for p = (point, 1), row by row."""
    import torch

    p = torch.cat([points, torch.ones_like(points[:, :1])], dim=1)
    return (quadrics * quadrics.new_tensor(_FACTOR) * p[:, _ROW] * p[:, _COLUMN]).sum(1)


def _minimisers(q: Any) -> tuple[Any, Any]:
    """(points, ok): the minimiser of each quadric by Cramer's rule; ok is False where the 3x3 system is too
    ill-conditioned to trust (|det| <= 1e-12 * trace-like scale^3) or the solution is not finite."""
    import torch

    a, b, c, d, e, f = q[:, 0], q[:, 1], q[:, 2], q[:, 4], q[:, 5], q[:, 7]
    r0, r1, r2 = -q[:, 3], -q[:, 6], -q[:, 8]
    minor0, minor1, minor2 = d * f - e * e, b * f - c * e, b * e - c * d
    det = a * minor0 - b * minor1 + c * minor2
    scale = a.abs() + d.abs() + f.abs()
    safe = torch.where(det == 0, 1.0, det)
    points = torch.stack([
        r0 * minor0 - b * (r1 * f - e * r2) + c * (r1 * e - d * r2),
        a * (r1 * f - e * r2) - r0 * minor1 + c * (b * r2 - r1 * c),
        a * (d * r2 - r1 * e) - b * (b * r2 - r1 * c) + r0 * minor2,
    ], dim=1) / safe[:, None]
    return points, (det.abs() > 1e-12 * scale**3) & points.isfinite().all(1)


def _candidates(state: _State, edges: _Edges, listed: Any) -> tuple[Any, Any]:
    """(points, sort keys) of the ``listed`` edges: their placements and ``_sort_keys`` of their costs; on CUDA with
    Triton installed, one fused kernel computes both."""
    u, v = edges.u[listed], edges.v[listed]
    if _triton_for(u):
        from .gpu.simplify_triton import edge_placements

        points, _, keys = edge_placements(state.quadrics, state.positions, state.locked, u, v, len(state.positions))
        return points, keys
    points, cost = _placements(state, u, v)
    return points, _sort_keys(cost, edges.keys[listed])


def _placements(state: _State, u: Any, v: Any) -> tuple[Any, Any]:
    """(points, cost) of merging each v into u: the locked end where there is one, else the quadric minimiser when
    well-posed and within two edge lengths of the midpoint, else the best of midpoint, u and v; cost >= 0."""
    import torch

    q = state.quadrics.index_select(0, u) + state.quadrics.index_select(0, v)
    pu, pv = state.positions[u], state.positions[v]
    mid = (pu + pv) / 2
    best, ok = _minimisers(q)
    near = ((best - mid) ** 2).sum(1) <= 4 * ((pu - pv) ** 2).sum(1)
    points = torch.where((ok & near)[:, None], best, mid)
    cost = _evaluate(q, points)
    fallback = ~(ok & near)
    for end in (pu, pv):
        end_cost = _evaluate(q, end)
        better = fallback & (end_cost < cost)
        points, cost = torch.where(better[:, None], end, points), torch.where(better, end_cost, cost)
    lock_u, lock_v = state.locked[u], state.locked[v]
    pinned = torch.where(lock_u[:, None], pu, pv)
    points = torch.where((lock_u | lock_v)[:, None], pinned, points)
    cost = torch.where(lock_u | lock_v, _evaluate(q, pinned), cost)
    return points, cost.clamp_min(0)


def _triton_for(tensor: Any) -> bool:
    """Whether the Triton kernels handle this tensor's data: it is on CUDA and Triton is installed."""
    return tensor.is_cuda and _has_triton()


@functools.cache
def _has_triton() -> bool:
    """Whether Triton is installed (looked up once: the import system's search costs tens of microseconds)."""
    return importlib.util.find_spec("triton") is not None


def _sort_keys(cost: Any, keys: Any) -> Any:
    """int64 keys ordering edges by cost (as float32) and then by a hash of the edge: equal costs, common on flat
    areas, come in a scattered rather than a spatially ordered sequence, which keeps the claim rounds few."""
    import torch

    finite = torch.nan_to_num(cost, nan=3e38, posinf=3e38)
    bits = torch.where(finite > 0, finite, 0.0).to(torch.float32).view(torch.int32).to(torch.int64)  # no -0.0
    return bits << 32 | ((keys * _GOLDEN) >> 32 & 0xFFFFFFFF)


def _collapse_to(state: _State, target: int, min_normal_cos: float, fraction: float) -> None:
    """Runs collapse rounds until ``target`` faces (or one below) remain or no legal collapse is left."""
    import torch

    nv = len(state.positions)
    widen = 1.0  # grows when a whole candidate batch turned out illegal
    while len(state.faces) > target:
        live = len(state.faces)
        edges = _edge_list(state.faces, nv, state.locked)
        listed = edges.listed
        total = len(listed)
        want = widen * max(2.0 * (live - target), 256.0)
        count = min(total, int(min(want, max(256.0, widen * fraction * total))))
        if count == 0:
            break
        points, keys = _candidates(state, edges, listed)
        chosen = torch.argsort(keys, stable=True)[:count]  # hashes may collide
        plan = _plan(state, edges, listed[chosen], points[chosen], min_normal_cos)
        if not _apply(state, plan, live - target):
            if count == total:
                break
            widen *= 4


@dataclass
class _Plan:
    """Candidate collapses in cost order: ``moving`` merges into ``kept`` at ``points``, removing ``removes`` faces;
    ``owner``/``face`` list the faces around both ends of each candidate (its claim region)."""

    kept: Any
    moving: Any
    points: Any
    removes: Any
    legal: Any
    owner: Any
    face: Any


def _plan(state: _State, edges: _Edges, chosen: Any, points: Any, min_normal_cos: float) -> _Plan:
    """Which candidates may collapse: boundary and link conditions (the ends' common neighbours are exactly the
    edge's opposite corners), no face flipping or folding past ``min_normal_cos`` or degenerating, no duplicate
    face."""
    import torch

    nv, n = len(state.positions), len(chosen)
    order, edge_start = _csr(torch.cat([edges.u, edges.v]), nv)
    neighbours = torch.cat([edges.v, edges.u])[order]
    if _triton_for(chosen):
        from .gpu.simplify_triton import candidate_rules

        kept, moving, count, legal = candidate_rules(edges.keys, edges.u, edges.v, edges.count, neighbours,
                                                     edge_start, chosen, state.locked, state.boundary, nv)
    else:
        u, v, count = edges.u[chosen], edges.v[chosen], edges.count[chosen]
        swap = state.locked[v] & ~state.locked[u]  # the kept end is the locked one, if any
        kept, moving = torch.where(swap, v, u), torch.where(swap, u, v)
        both_open = state.boundary[u] & state.boundary[v]
        legal = ~state.locked[moving] & (count <= 2) & ((count == 2) ^ both_open)
        # Link condition: the neighbours w of u (other than v) with an edge (v, w) are as many as the edge's faces.
        legal &= _link_counts(edges.keys, neighbours, edge_start, u, v, nv) == count
    # Faces around both ends: those without the other end must keep a sound normal after the move.
    order, face_start = _csr(state.faces.reshape(-1), nv)
    around = order // 3
    pair_end, pair_other = torch.cat([kept, moving]), torch.cat([moving, kept])
    valence = face_start[pair_end + 1] - face_start[pair_end]
    entry, slot = _expand(face_start[pair_end], valence, *_fetch(valence.sum()))
    face = around[slot]
    tri = state.faces[face]
    owner = entry % n
    stays = ~(tri == pair_other[entry, None]).any(1)
    before = state.positions[tri]
    after = torch.where((tri == pair_end[entry, None])[:, :, None], points[owner][:, None, :], before)
    nb, na = _normals(before), _normals(after)
    lb, la = nb.norm(dim=1), na.norm(dim=1)
    unsound = ~(la > 1e-12 * lb) | ((nb * na).sum(1) <= min_normal_cos * la * lb)
    legal &= _count_by(owner, stays & unsound, n) == 0
    # Duplicates: faces (u, a, b) and (v, a, b) would merge; a and b can only be the two opposite corners.
    opposite = edges.opposite[:, chosen][:, owner]
    spans = stays & (tri == opposite[0, :, None]).any(1) & (tri == opposite[1, :, None]).any(1)
    legal &= _count_by(owner, spans, n) < 2
    return _Plan(kept, moving, points, count, legal, owner, face)


def _link_counts(keys: Any, neighbours: Any, start: Any, u: Any, v: Any, nv: int) -> Any:
    """Link condition counts: for each candidate edge (u, v), the neighbours w != v of u (``neighbours[start[u]:
    start[u + 1]]``) that have an edge (v, w) among the sorted edge ``keys``."""
    import torch

    degree = start[u + 1] - start[u]
    owner, slot = _expand(start[u], degree, *_fetch(degree.sum()))
    w, other = neighbours[slot], v[owner]
    look = torch.minimum(w, other) * nv + torch.maximum(w, other)
    found = keys[torch.searchsorted(keys, look).clamp_max(len(keys) - 1)] == look
    return _count_by(owner, found & (w != other), len(u))


def _normals(triangles: Any) -> Any:
    """Unnormalised normals of (N, 3, 3) triangles."""
    import torch

    return torch.linalg.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])


def _independent(state: _State, plan: _Plan) -> Any:
    """Mask of the legal candidates that the cheapest-first greedy pass would take (an earlier winner blocks a
    candidate when they share a face around their edges), found by claim rounds: every undecided candidate claims the
    faces around its edge with its rank (its index), one that owns all of them wins, and those sharing a face with it
    drop out. Rounds run on masks; the entries of decided candidates are dropped (one read-back, which also says
    whether any are left) after rounds 1, 2, 4, 8, ..., where most of them have gone. On CUDA with Triton installed,
    four kernels make each round."""
    import torch

    n, nf = len(plan.kept), len(state.faces)
    if _triton_for(plan.legal):
        from .gpu.simplify_triton import ClaimRounds

        claim_round = ClaimRounds(n, nf, plan.legal.device)
    else:
        claim_round = functools.partial(_claim_round, faces=nf)
    owner, face = plan.owner, plan.face
    undecided, winner = plan.legal.clone(), torch.zeros_like(plan.legal)
    for iteration in range(1, _MIS_ITERATIONS + 1):
        claim_round(owner, face, undecided, winner)
        if iteration & (iteration - 1) == 0:
            keep = torch.nonzero(undecided[owner]).squeeze(1)
            if len(keep) == 0:
                break
            owner, face = owner[keep], face[keep]
    return winner


def _claim_round(owner: Any, face: Any, undecided: Any, winner: Any, faces: int) -> None:
    """One claim round over the entries (``owner``, ``face``), updating ``undecided`` and ``winner`` in place; the
    entries of decided candidates take no part."""
    import torch

    n = len(undecided)
    claim = torch.full((faces,), n, dtype=owner.dtype, device=face.device)
    claim.scatter_reduce_(0, face, torch.where(undecided[owner], owner, n), "amin")
    new = undecided & (_count_by(owner, claim[face] != owner, n) == 0)
    winner |= new
    taken = _count_by(face, new[owner], faces) > 0
    undecided &= _count_by(owner, taken[face], n) == 0


def _apply(state: _State, plan: _Plan, excess: int) -> int:
    """Collapses the greedy winners, in cost order while faces remain above the target; returns how many (both
    sizes that the update needs come back in one read-back)."""
    import torch

    winner = _independent(state, plan)
    nv = len(state.positions)
    if _triton_for(winner):
        from .gpu.simplify_triton import collapse_plan, merge_winners

        faces, alive, collapses, live = collapse_plan(state.faces, winner, plan.removes, plan.kept, plan.moving,
                                                      excess, nv)
    else:
        removes = torch.where(winner, plan.removes, 0)
        winner &= excess - (torch.cumsum(removes, 0) - removes) > 0
        merged = torch.full((nv,), nv, dtype=plan.kept.dtype, device=winner.device)
        merged.scatter_reduce_(0, plan.moving, torch.where(winner, plan.kept, nv), "amin")  # one winner per vertex
        faces = torch.where(merged < nv, merged, torch.arange(nv, device=winner.device))[state.faces]
        alive = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
        collapses, live = _fetch(winner.sum(), alive.sum())
    if collapses == 0:
        return 0
    if state.attributes.shape[1]:
        winners = torch.nonzero_static(winner, size=collapses).squeeze(1)
        _blend_attributes(state, plan.kept[winners], plan.moving[winners], plan.points[winners])
    if _triton_for(winner):
        merge_winners(winner, plan.kept, plan.moving, plan.points, state.positions, state.quadrics, state.boundary)
    else:
        winners = torch.nonzero_static(winner, size=collapses).squeeze(1)
        kept, moving = plan.kept[winners], plan.moving[winners]
        state.positions[kept] = plan.points[winners]
        state.quadrics.index_add_(0, kept, state.quadrics.index_select(0, moving))  # kept are distinct: a + b each
        state.boundary[kept] |= state.boundary[moving]
    state.faces = faces[torch.nonzero_static(alive, size=live).squeeze(1)]
    return collapses


def _blend_attributes(state: _State, kept: Any, moving: Any, points: Any) -> None:
    """Attributes of the kept ends interpolated towards the moving ends by where each point projects on its edge
    (positions not yet moved)."""
    import torch

    pk, pm = state.positions[kept], state.positions[moving]
    length_sq = ((pm - pk) ** 2).sum(1)
    t = torch.where(length_sq > 0, ((points - pk) * (pm - pk)).sum(1) / length_sq.clamp_min(1e-300), 0.5)
    t = t.clamp(0, 1)[:, None]
    ak, am = state.attributes.index_select(0, kept), state.attributes.index_select(0, moving)
    state.attributes[kept] = (1 - t) * ak + t * am


def _result(state: _State, target: int, vertices: Any, given: Any | None) -> SimplifyResult:
    """Output mesh with vertices numbered by first use in the faces (as the native code numbers them)."""
    import torch

    nv, flat = len(state.positions), state.faces.reshape(-1)
    first = torch.full((nv,), len(flat), dtype=torch.int64, device=flat.device)
    first.scatter_reduce_(0, flat, torch.arange(len(flat), device=flat.device), "amin")
    used = torch.nonzero(first < len(flat)).squeeze(1)
    source = used[torch.argsort(first[used])]
    remap = torch.full((nv,), -1, dtype=torch.int64, device=flat.device)
    remap[source] = torch.arange(len(source), device=flat.device)
    reason = ""
    if len(state.faces) > target:
        reason = (f"stopped at {len(state.faces)} faces: every remaining edge collapse would flip or fold a face, "
                  "break manifoldness (link condition), pinch a boundary or move a locked vertex")
        warnings.warn(f"simplify: target of {target} faces not reached, {reason}", stacklevel=3)
    dtype = vertices.dtype if vertices.is_floating_point() else torch.float64
    kept_attributes = None
    if given is not None:
        kind = given.dtype if given.is_floating_point() else torch.float64
        kept_attributes = state.attributes.index_select(0, source).to(kind).reshape(-1, *given.shape[1:])
    return SimplifyResult(
        vertices=state.positions[source].to(dtype),
        faces=remap[state.faces],
        attributes=kept_attributes,
        vertex_source=source.cpu().numpy(),
        stop_reason=reason,
    )
