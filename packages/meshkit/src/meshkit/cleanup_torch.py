"""The repair passes of ``meshkit.cleanup`` as vectorised torch code, so that meshes on the GPU are cleaned there.

Each function computes the same result as its numpy/native twin in ``cleanup`` (same vertices and faces in the same
order; float64 arithmetic), on tensors of any device: ``cleanup`` sends tensors on an accelerator here, and the tests
run these on CPU tensors against the native code. Sums over components (areas, signed volumes) are added in another
order on the GPU, so a component whose total lies within rounding of a threshold (or a closed part of ~zero volume)
may be judged differently there.
"""

from __future__ import annotations

from typing import Any

import torch

from .gpu import cuda_device
from .holes import _check_tensors
from .topology_torch import (
    EdgeRuns,
    component_roots,
    component_sums,
    edge_keys,
    edge_runs,
    face_links,
    half_edge_ends,
    next_corner,
    rank_roots,
)
from .validation import check_positive

_PACKED_LIMIT = 2**21  # vertex counts below this pack a face's three indices into one int64 sort key


def _checked(vertices: Any, faces: Any) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """The mesh checked on its device (``check_mesh``'s messages), faces as int64, and the vertex dtype results
    carry (as ``float_dtype_of``)."""
    _check_tensors(torch, vertices, faces)
    if faces.device != vertices.device:
        raise ValueError(f"vertices and faces must be on one device, got {vertices.device} and {faces.device}")
    dtype = vertices.dtype if vertices.dtype.is_floating_point else torch.float64
    return vertices, faces.long(), torch.float32 if dtype == torch.bfloat16 else dtype


def _compact(vertices: torch.Tensor, faces: torch.Tensor, dtype: torch.dtype, keep: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the faces where ``keep`` (all when None), then drop the vertices no kept face uses, keeping the others
    in order (``cleanup._compact``): one host read for both sizes."""
    num_vertices = len(vertices)
    corners = faces.reshape(-1)
    if keep is not None:  # corners of dropped faces mark a spare slot
        corners = torch.where(keep[:, None].expand(-1, 3).reshape(-1), corners, num_vertices)
    used = torch.zeros(num_vertices + 1, dtype=torch.bool, device=vertices.device).scatter_(0, corners, True)
    used = used[:num_vertices]
    new_index = torch.cumsum(used, 0) - 1
    if keep is None:
        return vertices[used].to(dtype), new_index[faces]
    num_faces, num_used = torch.stack([keep.sum(), used.sum()]).tolist()
    kept = _rows_where(faces, keep, torch.cumsum(keep, 0) - 1, num_faces)
    return _rows_where(vertices, used, new_index, num_used).to(dtype), new_index[kept]


def _rows_where(rows: torch.Tensor, mask: torch.Tensor, place: torch.Tensor, count: int) -> torch.Tensor:
    """``rows[mask]`` from each row's place among the kept ones and their known count (no host read)."""
    out = rows.new_empty((count + 1, *rows.shape[1:]))
    return out.index_copy_(0, torch.where(mask, place, count), rows)[:count]


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cross product in numpy's operation order (separate multiplies and subtractions, no fused ops)."""
    return torch.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                        a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], 1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise dot product summed left to right, as numpy sums three terms."""
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


def face_areas(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Float64 area of every triangle, rounded as ``meshkit.mesh.face_areas`` rounds it."""
    v = vertices.to(torch.float64)[faces]
    normal = _cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    return 0.5 * torch.sqrt(_dot(normal, normal))


def _first_of_each_row(rows: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """Mask of the first occurrence of each distinct row of (F, 3) vertex indices below ``num_vertices``."""
    if num_vertices < _PACKED_LIMIT:
        keys = [(rows[:, 0] * num_vertices + rows[:, 1]) * num_vertices + rows[:, 2]]
    else:  # lexicographic: stable sort by the last index, then by the packed first two
        keys = [rows[:, 2], rows[:, 0] * num_vertices + rows[:, 1]]
    order = torch.arange(len(rows), device=rows.device)
    for key in keys:
        order = order[torch.sort(key[order], stable=True).indices]
    first = torch.ones(len(rows), dtype=torch.bool, device=rows.device)
    first[1:] = (rows[order[1:]] != rows[order[:-1]]).any(dim=1)
    return torch.zeros_like(first).scatter_(0, order, first)


def remove_unreferenced_vertices(vertices: Any, faces: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``cleanup.remove_unreferenced_vertices`` on the tensors' device."""
    vertices, faces, dtype = _checked(vertices, faces)
    return _compact(vertices, faces, dtype)


def remove_duplicate_faces(vertices: Any, faces: Any, remove_opposite: bool = False
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``cleanup.remove_duplicate_faces`` on the tensors' device."""
    vertices, faces, dtype = _checked(vertices, faces)
    if remove_opposite:
        key = torch.sort(faces, dim=1).values
    else:  # rotate each triangle so that its (first) smallest index comes first
        shift = torch.argmin(faces, dim=1, keepdim=True)
        key = faces.gather(1, (shift + torch.arange(3, device=faces.device)) % 3)
    return vertices.to(dtype), faces[_first_of_each_row(key, len(vertices))]


def repair_non_manifold(vertices: Any, faces: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``cleanup.repair_non_manifold`` on the tensors' device: the corners meeting across two-face edges are
    joined into vertex copies by ``component_roots``, numbered by first corner as the native union-find does.

    A repaired edge's half-edges all lie on one original edge (a vertex copy stands for one original vertex), so
    only the edges of three or more half-edges are grouped again to find the faces that still crowd one."""
    vertices, faces, dtype = _checked(vertices, faces)
    runs = edge_runs(faces, len(vertices))
    h1, h2 = runs.order[:-1], runs.order[1:]
    start, end = half_edge_ends(faces)
    opposite = start[h1] == end[h2]
    paired = runs.pair_starts()  # elsewhere each corner is linked to itself (no host read for the pair count)
    start_2 = torch.where(paired, torch.where(opposite, next_corner(h2), h2), h1)
    end_2 = torch.where(paired, torch.where(opposite, h2, next_corner(h2)), next_corner(h1))
    labels, first_corner = rank_roots(component_roots(3 * len(faces), torch.cat([h1, next_corner(h1)]),
                                                      torch.cat([start_2, end_2])))
    new_vertices = vertices[faces.reshape(-1)[first_corner]]
    new_faces = labels.reshape(-1, 3)
    crowded = runs.order[torch.nonzero(runs.count >= 3).squeeze(1)]  # by original edge, then half-edge
    if len(crowded) == 0:  # every copy is used: nothing to compact
        return new_vertices.to(dtype), new_faces
    again = EdgeRuns.of_keys(edge_keys(labels[crowded], labels[next_corner(crowded)], len(first_corner)), crowded)
    crowding = torch.where(again.rank() >= 2, again.order // 3, len(faces))  # faces holding a third half-edge
    drop = torch.zeros(len(faces) + 1, dtype=torch.bool, device=faces.device).scatter_(0, crowding, True)
    return _compact(new_vertices, new_faces, dtype, ~drop[:-1])


def remove_small_components(vertices: Any, faces: Any, min_area: float | None = None, min_faces: int | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``cleanup.remove_small_components`` on the tensors' device."""
    if min_area is None and min_faces is None:
        raise ValueError("remove_small_components needs min_area and/or min_faces")
    area_limit = None if min_area is None else check_positive(min_area, "min_area", allow_zero=True)
    face_limit = None if min_faces is None else int(check_positive(min_faces, "min_faces", allow_zero=True))
    vertices, faces, dtype = _checked(vertices, faces)
    roots = component_roots(len(faces), *face_links(edge_runs(faces, len(vertices))))
    small = torch.zeros(len(faces), dtype=torch.bool, device=faces.device)
    if area_limit is not None:
        small |= component_sums(roots, face_areas(vertices, faces)) < area_limit
    if face_limit is not None:
        small |= component_sums(roots, torch.ones_like(roots)) < face_limit
    return _compact(vertices, faces, dtype, ~small[roots])


def unify_orientation(vertices: Any, faces: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``cleanup.unify_orientation`` on the tensors' device (CUDA meshes through the Triton kernels of
    ``gpu.orientation_triton``). A component whose two orientations meet cannot be oriented and its result depends
    on the walk's order: such meshes go through the native code on the CPU."""
    vertices, faces, dtype = _checked(vertices, faces)
    oriented, orientable = None, None
    if cuda_device(faces) is not None:
        from .gpu.edges_triton import MAX_HALF_EDGES
        from .gpu.orientation_triton import orient_faces

        if 3 * len(faces) < MAX_HALF_EDGES:
            oriented, orientable = orient_faces(vertices, faces)
    if oriented is None:
        oriented, orientable = _orient_faces(vertices, faces)
    if not bool(orientable):
        from .cleanup import unify_orientation as native

        out_v, out_f = native(vertices.cpu(), faces.cpu())
        return out_v.to(vertices.device), out_f.to(vertices.device)
    return vertices.to(dtype), oriented


def _orient_faces(vertices: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(faces oriented as the native code orients them, 0-d bool tensor: every component was orientable).

    Orientation travels as parity: node ``2 * face + flipped`` is joined to the neighbour state it forces, so the
    component root of ``2 * face`` is ``2 * seed + flip`` with seed the component's first face, which is where the
    native breadth-first walk starts; where the two states of a face meet, its component cannot be oriented."""
    runs = edge_runs(faces, len(vertices))
    h1, h2 = runs.order[:-1], runs.order[1:]
    paired = runs.pair_starts()  # elsewhere each state is linked to itself (no host read for the pair count)
    start, _ = half_edge_ends(faces)
    same = (paired & (start[h1] == start[h2])).long()
    a = 2 * (h1 // 3)
    b = torch.where(paired, 2 * (h2 // 3), a)
    roots = component_roots(2 * len(faces), torch.cat([a, a + 1]), torch.cat([b + same, b + 1 - same]))
    state = roots[0::2]
    seed = state // 2
    faces = torch.where((state % 2 == 1)[:, None], faces.flip(1), faces)
    boundary = runs.first & (runs.count == 1)
    open_part = component_sums(seed, torch.zeros_like(seed).scatter_add_(0, runs.order // 3, boundary.long())) > 0
    v = vertices.to(torch.float64)[faces]
    volume = component_sums(seed, _dot(v[:, 0], _cross(v[:, 1], v[:, 2])))
    inward = ((volume < 0) & ~open_part)[seed]
    return torch.where(inward[:, None], faces.flip(1), faces).contiguous(), ~(state == roots[1::2]).any()
