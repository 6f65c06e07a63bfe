"""Mesh repair passes: welding, degenerate/duplicate faces, non-manifold splits, small parts, orientation, shells.

Each function takes (vertices, faces) as numpy arrays or torch tensors and returns the repaired pair in the same
form; the same passes are available as ``meshkit.Mesh`` methods. Tensors on an accelerator (both on a non-CPU
device) run the passes ``cleanup_torch`` implements there, with the same result; CPU tensors take the native path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _geometry
from .bvh import BVH
from .mesh import face_areas, face_normals
from .topology import edge_table, half_edge_ends
from .validation import check_positive, is_torch_tensor, mesh_function


def _on_device(function: Callable[..., tuple[Any, Any]]) -> Callable[..., tuple[Any, Any]]:
    """Send meshes whose tensors are on an accelerator to ``cleanup_torch``'s function of the same name (the GPU
    path, kept on the device); everything else takes ``function``."""

    @functools.wraps(function)
    def wrapper(vertices: Any, faces: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if is_torch_tensor(vertices) and is_torch_tensor(faces) and vertices.device.type != "cpu":
            from . import cleanup_torch

            return getattr(cleanup_torch, function.__name__)(vertices, faces, *args, **kwargs)
        return function(vertices, faces, *args, **kwargs)

    return wrapper


def _face_components(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Edge-connected component label per face, numbered by first face (native: faces around each vertex instead
    of a sorted edge table)."""
    return _geometry.face_components(np.ascontiguousarray(faces, dtype=np.int64), len(vertices))


def _first_of_each_row(rows: np.ndarray) -> np.ndarray:
    """Increasing indices of the first occurrence of each distinct row of a non-negative int (N, 3) array; rows are
    packed into one int64 when they fit (a 1-D sort is several times faster than numpy's row-wise unique)."""
    base = int(rows.max()) + 1 if len(rows) else 1
    if base < 2**21:
        _, first = np.unique((rows[:, 0] * base + rows[:, 1]) * base + rows[:, 2], return_index=True)
    else:
        _, first = np.unique(rows, axis=0, return_index=True)
    return np.sort(first)


def _compact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices no face uses, keeping the remaining vertices in their original order."""
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.reshape(-1)] = True
    new_index = np.cumsum(used) - 1
    return vertices[used], new_index[faces].reshape(-1, 3)


@_on_device
@mesh_function
def remove_unreferenced_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices that no face references (the others keep their relative order)."""
    return _compact(vertices, faces)


@mesh_function
def weld_vertices(
    vertices: np.ndarray, faces: np.ndarray, tolerance: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices that coincide (exactly, or after snapping to a grid of spacing ``tolerance``).

    The first vertex of each group keeps its position; faces are re-indexed and unreferenced vertices dropped.
    """
    tolerance = check_positive(tolerance, "tolerance", allow_zero=True)
    key = np.floor(vertices / tolerance + 0.5).astype(np.int64) if tolerance > 0 else vertices
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    # Number groups by their first vertex so that the output order follows the input order.
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return _compact(vertices[np.sort(first)], rank[inverse.reshape(-1)][faces])


@mesh_function
def remove_degenerate_faces(
    vertices: np.ndarray, faces: np.ndarray, min_area: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Remove faces that repeat a vertex index or whose area is <= ``min_area`` (zero by default)."""
    min_area = check_positive(min_area, "min_area", allow_zero=True)
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    keep = ~repeated & (face_areas(vertices, faces) > min_area)
    return vertices, faces[keep]


@_on_device
@mesh_function
def remove_duplicate_faces(
    vertices: np.ndarray, faces: np.ndarray, remove_opposite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first of faces that use the same three vertices in the same cyclic order.

    With ``remove_opposite`` faces on the same three vertices with opposite winding also count as duplicates, so
    exactly one face survives per vertex triple.
    """
    if remove_opposite:
        key = np.sort(faces, axis=1)
    else:
        # Rotate each triangle so its smallest index comes first: equal keys then mean equal cyclic order.
        shift = np.argmin(faces, axis=1)
        rows = np.arange(len(faces))[:, None]
        key = faces[rows, (shift[:, None] + np.arange(3)) % 3]
    return vertices, faces[_first_of_each_row(key)]


@_on_device
@mesh_function
def repair_non_manifold(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make every edge have at most two faces and every vertex a single fan, by splitting vertices.

    Faces stay where they are: around each vertex, the faces connected through manifold edges keep one shared
    copy and every other such group gets its own copy, so a fin or touching sheets become separate pieces. Any
    edge that still has more than two faces afterwards (rare) keeps its first two faces.
    """
    pairs, _ = _geometry.manifold_half_edge_pairs(np.ascontiguousarray(faces, dtype=np.int64), len(vertices))
    start, end = half_edge_ends(faces)
    h1, h2 = pairs[:, 0], pairs[:, 1]
    f1, c1, f2, c2 = h1 // 3, h1 % 3, h2 // 3, h2 % 3
    opposite = start[h1] == end[h2]
    # Corner ids (3 * face + corner) meeting at the start and at the end of the shared edge.
    start_1, end_1 = 3 * f1 + c1, 3 * f1 + (c1 + 1) % 3
    start_2 = np.where(opposite, 3 * f2 + (c2 + 1) % 3, 3 * f2 + c2)
    end_2 = np.where(opposite, 3 * f2 + c2, 3 * f2 + (c2 + 1) % 3)
    corner_pairs = np.concatenate([np.stack([start_1, start_2], 1), np.stack([end_1, end_2], 1)])
    labels = _geometry.connected_components(3 * len(faces), np.ascontiguousarray(corner_pairs, dtype=np.int64))
    first_corner = np.full(labels.max() + 1 if len(labels) else 0, -1, dtype=np.int64)
    first_corner[labels[::-1]] = np.arange(len(labels))[::-1]
    new_vertices = vertices[faces.reshape(-1)[first_corner]]
    new_faces = labels.reshape(-1, 3)
    if _geometry.manifold_half_edge_pairs(new_faces, len(first_corner))[1] > 2:
        table = edge_table(new_faces)
        # Rank each half-edge within its edge; faces holding a third-or-later half-edge of some edge go.
        order = np.argsort(table.edge_of_half_edge, kind="stable")
        sorted_edges = table.edge_of_half_edge[order]
        run_start = np.r_[0, np.flatnonzero(sorted_edges[1:] != sorted_edges[:-1]) + 1]
        rank = np.arange(len(order)) - np.repeat(run_start, np.diff(np.r_[run_start, len(order)]))
        drop = np.unique(order[rank >= 2] // 3)
        new_faces = np.delete(new_faces, drop, axis=0)
    return _compact(new_vertices, new_faces)


@_on_device
@mesh_function
def remove_small_components(
    vertices: np.ndarray, faces: np.ndarray, min_area: float | None = None, min_faces: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Drop edge-connected components whose total area is below ``min_area`` or face count below ``min_faces``."""
    if min_area is None and min_faces is None:
        raise ValueError("remove_small_components needs min_area and/or min_faces")
    labels = _face_components(vertices, faces)
    count = labels.max() + 1
    small = np.zeros(count, dtype=bool)
    if min_area is not None:
        area = np.bincount(labels, weights=face_areas(vertices, faces), minlength=count)
        small |= area < check_positive(min_area, "min_area", allow_zero=True)
    if min_faces is not None:
        small |= np.bincount(labels, minlength=count) < int(check_positive(min_faces, "min_faces", allow_zero=True))
    return _compact(vertices, faces[~small[labels]])


@_on_device
@mesh_function
def unify_orientation(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip faces so that neighbours across every two-face edge agree; closed components end up facing outward.

    A component counts as closed when none of its edges is a boundary edge; its orientation is chosen so that its
    signed volume is positive. Open components keep the orientation of their first face.
    """
    table = edge_table(faces)
    pairs = table.manifold_pairs()
    start, _ = half_edge_ends(faces)
    same = (start[pairs[:, 0]] == start[pairs[:, 1]]).astype(np.uint8)
    face_pairs = np.ascontiguousarray(pairs // 3, dtype=np.int64)
    flip = _geometry.propagate_orientation(len(faces), face_pairs, same).astype(bool)
    faces = np.where(flip[:, None], faces[:, ::-1], faces)
    labels = _geometry.connected_components(len(faces), face_pairs)
    count = labels.max() + 1
    open_component = np.zeros(count, dtype=bool)
    open_component[labels[table.boundary_half_edges // 3]] = True
    v = vertices[faces]
    signed_volume = np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2]))
    inward = (np.bincount(labels, weights=signed_volume, minlength=count) < 0) & ~open_component
    faces = np.where(inward[labels][:, None], faces[:, ::-1], faces)
    return vertices, np.ascontiguousarray(faces)


def _sphere_directions(count: int) -> np.ndarray:
    """``count`` roughly uniform unit directions (Fibonacci sphere), deterministic."""
    i = np.arange(count) + 0.5
    polar = np.arccos(1 - 2 * i / count)
    azimuth = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)


@mesh_function
def remove_inner_shells(
    vertices: np.ndarray, faces: np.ndarray, samples_per_component: int = 64, directions: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Remove components that cannot be seen from outside: no ray from any of their sample points escapes.

    Up to ``samples_per_component`` face centres per component shoot rays in ``directions`` fixed directions; a
    component is kept as soon as one ray leaves the mesh without crossing any triangle.
    """
    labels = _face_components(vertices, faces)
    count = labels.max() + 1
    bvh = BVH(vertices, faces)
    rays = _sphere_directions(directions)
    offset = 1e-7 * max(float(np.ptp(vertices, axis=0).max()), 1e-12)
    visible = np.zeros(count, dtype=bool)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(count + 1))
    for component in range(count):
        members = order[starts[component] : starts[component + 1]]
        samples = members[np.linspace(0, len(members) - 1, min(samples_per_component, len(members))).astype(int)]
        centres = vertices[faces[samples]].mean(axis=1)
        normals = face_normals(vertices, faces[samples])
        for centre, normal in zip(centres, normals, strict=True):
            # Start each ray just off the face on the side it leaves towards, so the face itself is not crossed.
            origin = centre + offset * np.where(rays @ normal >= 0, 1.0, -1.0)[:, None] * normal
            if (bvh.count_crossings(origin, rays) == 0).any():
                visible[component] = True
                break
    return _compact(vertices, faces[visible[labels]])
