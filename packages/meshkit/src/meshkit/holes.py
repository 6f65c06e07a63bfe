"""Boundary loops and hole filling.

Boundary half-edges are found, chained into loops and the loops triangulated in meshkit's native code (see
cpp/geometry/holes.cpp); the arrays passed between the steps are small (boundary vertices only). Meshes held as
torch tensors on an accelerator find their boundary half-edges there and send only the boundary to the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _geometry
from .validation import (
    check_faces,
    check_points,
    check_positive,
    float_dtype_of,
    is_torch_tensor,
    like,
    mesh_function,
    to_numpy,
)


def _arcs(flat_faces: Any, boundary: Any) -> tuple[Any, Any]:
    """(tails, heads): the boundary half-edges walked from end to start, so that the hole runs against its neighbours
    (numpy or torch, like the inputs)."""
    corner = boundary % 3
    return flat_faces[boundary - corner + (corner + 1) % 3], flat_faces[boundary]


def _trace(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """(loop vertices, offsets) of the closed boundary loops of checked int64 ``faces``."""
    return _geometry.trace_loops(*_arcs(faces.reshape(-1), _geometry.boundary_half_edges(faces, num_vertices)))


def boundary_loops(faces: Any) -> list[np.ndarray]:
    """Closed loops of boundary edges, each an array of vertex indices walked so that a face filling the loop
    in that order matches the orientation of its neighbours. A vertex where two holes touch may appear twice.

    Loops start at their smallest vertex with unused boundary edges, in increasing order of that vertex; where a
    vertex has several, the walk takes its unused boundary half-edge ``3 * face + corner`` of largest index."""
    array = to_numpy(faces, "faces")
    num_vertices = int(array.max()) + 1 if array.size else 0
    f = check_faces(array, num_vertices, allow_empty=True)
    if len(f) == 0:
        return []
    vertices, offsets = _trace(f, num_vertices)
    return np.split(vertices, offsets[1:-1]) if len(offsets) > 1 else []


def fill_holes(vertices: Any, faces: Any, max_hole_perimeter: float = float("inf")) -> tuple[Any, Any]:
    """Triangulate every boundary loop (see ``boundary_loops``) whose perimeter is at most ``max_hole_perimeter``.

    Triangles and quads are closed directly; longer loops get a fan around a new vertex at the loop centroid,
    so the patch stays inside the loop's convex hull and keeps the neighbours' orientation. Patches follow the
    input faces, and centroids the input vertices, in loop order. Tensors on an accelerator stay there (see
    ``fill_holes_on_device``); the result is the same as for their numpy copies.
    """
    if is_torch_tensor(vertices) and is_torch_tensor(faces) and vertices.device.type != "cpu":
        return fill_holes_on_device(vertices, faces, max_hole_perimeter)
    return _fill_holes_numpy(vertices, faces, max_hole_perimeter)


@mesh_function
def _fill_holes_numpy(
    vertices: np.ndarray, faces: np.ndarray, max_hole_perimeter: float
) -> tuple[np.ndarray, np.ndarray]:
    limit = check_positive(max_hole_perimeter, "max_hole_perimeter", allow_infinite=True)
    loop_vertices, offsets = _trace(faces, len(vertices))
    new_vertices, new_faces = _geometry.close_loops(loop_vertices, offsets, vertices[loop_vertices], len(vertices),
                                                    limit)
    return np.concatenate([vertices, new_vertices]), np.concatenate([faces, new_faces])


def fill_holes_on_device(vertices: Any, faces: Any, max_hole_perimeter: float = float("inf")) -> tuple[Any, Any]:
    """``fill_holes`` for torch tensors on any device: boundary half-edges come from ``torch.unique`` there, only the
    boundary vertices go through the CPU, and the patch is appended on the device (vertices in the dtype
    ``fill_holes`` gives, faces int64)."""
    import torch

    _check_tensors(torch, vertices, faces)
    limit = check_positive(max_hole_perimeter, "max_hole_perimeter", allow_infinite=True)
    start, end = faces.reshape(-1).long(), faces.roll(-1, 1).reshape(-1).long()
    keys = torch.minimum(start, end) * len(vertices) + torch.maximum(start, end)
    _, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    boundary = torch.nonzero(counts[inverse] == 1).squeeze(1)  # increasing, as the native search returns them
    loop_vertices, offsets = _geometry.trace_loops(*(to_numpy(x, "faces") for x in _arcs(start, boundary)))
    positions = check_points(vertices[torch.from_numpy(loop_vertices).to(vertices.device)], "vertices")
    new_vertices, new_faces = _geometry.close_loops(loop_vertices, offsets, positions, len(vertices), limit)
    patch = like(new_vertices.astype(float_dtype_of(vertices)), vertices)
    return torch.cat([vertices.to(patch.dtype), patch]), torch.cat([start.reshape(-1, 3), like(new_faces, faces)])


def _check_tensors(torch: Any, vertices: Any, faces: Any) -> None:
    """The checks (and messages, in the same order) of ``check_mesh``, made on the tensors' device with one host
    sync when they pass."""
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (N, 3), got {tuple(vertices.shape)}")
    if vertices.dtype.is_complex or vertices.dtype == torch.bool:
        raise TypeError(f"vertices must hold real numbers, got dtype {vertices.dtype}")
    if len(vertices) == 0:
        raise ValueError("vertices is empty")
    finite = vertices.isfinite().all(dim=1)
    face_problem = _face_shape_problem(torch, faces)
    if face_problem is None:
        flat = faces.reshape(-1).long().to(finite.device)
        all_finite, low, high = torch.stack([finite.all().long(), flat.min(), flat.max()]).tolist()
    else:
        all_finite, low, high = bool(finite.all()), 0, 0
    if not all_finite:
        bad = int(torch.nonzero(~finite)[0])
        raise ValueError(f"vertices contains NaN or infinite values (first at row {bad})")
    if face_problem is not None:
        raise face_problem
    if low < 0 or high >= len(vertices):
        raise ValueError(
            f"faces index out of range: indices span [{low}, {high}] but there are {len(vertices)} vertices"
        )


def _face_shape_problem(torch: Any, faces: Any) -> Exception | None:
    """The error ``check_faces`` raises for the shape, dtype or emptiness of ``faces``, or None."""
    if faces.ndim != 2 or faces.shape[1] != 3:
        return ValueError(f"faces must have shape (F, 3) (triangles), got {tuple(faces.shape)}")
    if faces.dtype.is_floating_point or faces.dtype.is_complex or faces.dtype == torch.bool:
        return TypeError(f"faces must hold integer vertex indices, got dtype {faces.dtype}")
    if len(faces) == 0:
        return ValueError("faces is empty: the mesh has no triangles")
    return None
