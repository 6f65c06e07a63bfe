"""Boundary loops and hole filling.

Boundary half-edges are found, chained into loops and the loops triangulated in meshkit's native code (see
cpp/geometry/holes.cpp); the arrays passed between the steps are small (boundary vertices only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _geometry
from .validation import check_faces, check_positive, mesh_function, to_numpy


def _trace(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """(loop vertices, offsets) of the closed boundary loops of checked int64 ``faces``."""
    boundary = _geometry.boundary_half_edges(faces, num_vertices)
    corner = boundary % 3
    flat = faces.reshape(-1)
    # The hole runs against its neighbouring faces: walk each boundary half-edge from its end to its start.
    return _geometry.trace_loops(flat[boundary - corner + (corner + 1) % 3], flat[boundary])


def boundary_loops(faces: Any) -> list[np.ndarray]:
    """Closed loops of boundary edges, each an array of vertex indices walked so that a face filling the loop
    in that order matches the orientation of its neighbours. A vertex where two holes touch may appear twice.

    Loops start at their smallest vertex with unused boundary edges, in increasing order of that vertex; where a
    vertex has several, the walk takes the boundary half-edge ``3 * face + corner`` with the largest index first."""
    array = to_numpy(faces, "faces")
    f = check_faces(array, int(array.max()) + 1 if array.size else 0, allow_empty=True)
    if len(f) == 0:
        return []
    vertices, offsets = _trace(f, int(f.max()) + 1)
    return np.split(vertices, offsets[1:-1]) if len(offsets) > 1 else []


@mesh_function
def fill_holes(
    vertices: np.ndarray, faces: np.ndarray, max_hole_perimeter: float = float("inf")
) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate every boundary loop (see ``boundary_loops``) whose perimeter is at most ``max_hole_perimeter``.

    Triangles and quads are closed directly; longer loops get a fan around a new vertex at the loop centroid,
    so the patch stays inside the loop's convex hull and keeps the neighbours' orientation. Patches follow the
    input faces, and centroids the input vertices, in loop order.
    """
    limit = check_positive(max_hole_perimeter, "max_hole_perimeter", allow_infinite=True)
    loop_vertices, offsets = _trace(faces, len(vertices))
    new_vertices, new_faces = _geometry.close_loops(loop_vertices, offsets, vertices[loop_vertices], len(vertices),
                                                    limit)
    return np.concatenate([vertices, new_vertices]), np.concatenate([faces, new_faces])
