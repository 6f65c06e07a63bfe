"""Closest-point queries on a triangle mesh through a native bounding volume hierarchy."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _geometry
from .gpu import check_device_points, cuda_device
from .validation import check_mesh, check_points, like


class BVH:
    """Bounding volume hierarchy over a triangle mesh, answering exact closest-point queries (CPU, OpenMP).

    Torch inputs are accepted; query results come back as tensors on the query's device. Queries given as CUDA
    tensors run on the GPU (Triton) over a copy of the same tree, with the same results.
    """

    def __init__(self, vertices: Any, faces: Any) -> None:
        self.vertices, self.faces = check_mesh(vertices, faces)
        self._tree = _geometry.TriangleBVH(self.vertices, self.faces)
        self._device_trees: dict[str, Any] = {}

    def closest_point(self, points: Any) -> tuple[Any, Any, Any]:
        """Return (distance (N,), face_id (N,) int64, barycentric (N, 3)) of the surface point nearest each query.

        The barycentric weights apply to the corners of ``faces[face_id]`` in order; ties go to the lowest face id.
        """
        distance, face, bary, _ = self._query(points)
        return distance, face, bary

    def closest_surface_point(self, points: Any) -> Any:
        """Return the (N, 3) nearest points on the surface (same as interpolating the barycentric weights)."""
        return self._query(points)[3]

    def unsigned_distance(self, points: Any) -> Any:
        """Return the (N,) distance of each point to the surface."""
        return self._query(points)[0]

    def count_crossings(self, origins: Any, directions: Any) -> np.ndarray:
        """Return how many triangles each ray (origin, direction) crosses in front of its origin (int32 (N,))."""
        o = check_points(origins, "origins")
        d = check_points(directions, "directions")
        if o.shape != d.shape:
            raise ValueError(f"origins {o.shape} and directions {d.shape} must have the same shape")
        return self._tree.count_crossings(o, d)

    def _query(self, points: Any) -> tuple[Any, Any, Any, Any]:
        """(distance, face, barycentric, closest point), as numpy arrays or tensors on the points' device."""
        device = cuda_device(points)
        if device is None:
            return tuple(like(result, points) for result in self._tree.closest_point(check_points(points, "points")))
        if str(device) not in self._device_trees:
            from .gpu.bvh_triton import DeviceBVH

            self._device_trees[str(device)] = DeviceBVH(self._tree.arrays(), device)
        return self._device_trees[str(device)].closest_point(check_device_points(points))
