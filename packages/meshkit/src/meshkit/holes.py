"""Boundary loops and hole filling."""

from __future__ import annotations

from typing import Any

import numpy as np

from .topology import edge_table, half_edge_ends
from .validation import check_faces, check_positive, mesh_function, to_numpy


def boundary_loops(faces: Any) -> list[np.ndarray]:
    """Closed loops of boundary edges, each an array of vertex indices walked so that a face filling the loop
    in that order matches the orientation of its neighbours. A vertex where two holes touch may appear twice."""
    array = to_numpy(faces, "faces")
    f = check_faces(array, int(array.max()) + 1 if array.size else 0, allow_empty=True)
    if len(f) == 0:
        return []
    start, end = half_edge_ends(f)
    boundary = edge_table(f).boundary_half_edges
    # The hole runs against its neighbouring faces: walk each boundary edge from its end to its start.
    successors: dict[int, list[int]] = {}
    for a, b in zip(end[boundary].tolist(), start[boundary].tolist(), strict=True):
        successors.setdefault(a, []).append(b)
    loops = []
    for origin in sorted(successors):
        while successors[origin]:
            loop = [origin]
            current = successors[origin].pop()
            while current != origin:
                loop.append(current)
                if not successors.get(current):
                    break  # an open chain (only on inconsistent orientation); drop it
                current = successors[current].pop()
            else:
                loops.append(np.array(loop, dtype=np.int64))
    return loops


@mesh_function
def fill_holes(
    vertices: np.ndarray, faces: np.ndarray, max_hole_perimeter: float = float("inf")
) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate every boundary loop whose perimeter is at most ``max_hole_perimeter``.

    Triangles and quads are closed directly; longer loops get a fan around a new vertex at the loop centroid,
    so the patch stays inside the loop's convex hull and keeps the neighbours' orientation.
    """
    limit = check_positive(max_hole_perimeter, "max_hole_perimeter", allow_infinite=True)
    new_vertices = [vertices]
    new_faces = [faces]
    next_vertex = len(vertices)
    for loop in boundary_loops(faces):
        ring = vertices[loop]
        if np.linalg.norm(ring - np.roll(ring, -1, axis=0), axis=1).sum() > limit:
            continue
        if len(loop) == 3:
            new_faces.append(loop[None, :])
        elif len(loop) == 4:
            new_faces.append(loop[[[0, 1, 2], [0, 2, 3]]])
        else:
            new_vertices.append(ring.mean(axis=0, keepdims=True))
            fan = np.stack([loop, np.roll(loop, -1), np.full(len(loop), next_vertex)], axis=1)
            new_faces.append(fan)
            next_vertex += 1
    return np.concatenate(new_vertices), np.concatenate(new_faces)
