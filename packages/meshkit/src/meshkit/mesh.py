"""The ``meshkit.Mesh`` container: a checked triangle mesh with geometry helpers and cleanup methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .row_math import pairwise_sums, unit_rows
from .validation import check_mesh, float_dtype_of, like


def face_normals(vertices: np.ndarray, faces: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Per-face normals (right-hand rule on the corner order); unnormalized vectors have length 2 * area."""
    v = vertices[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    if normalize:
        length = np.linalg.norm(n, axis=1, keepdims=True)
        n = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
    return n


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of every triangle."""
    return 0.5 * np.linalg.norm(face_normals(vertices, faces, normalize=False), axis=1)


def vertex_normals(vertices: Any, faces: Any) -> Any:
    """Area-weighted unit vertex normals (zero for unreferenced vertices); follows the input's array type. Each
    vertex's face terms are added in ``row_math.pairwise_sums``' fixed order over the corners, which device code can
    reproduce exactly."""
    v, f = check_mesh(vertices, faces)
    weighted = face_normals(v, f, normalize=False)
    normals = unit_rows(np, pairwise_sums(f.reshape(-1), np.repeat(weighted, 3, axis=0), len(v)))
    return like(normals.astype(float_dtype_of(vertices), copy=False), vertices)


class Mesh:
    """A triangle mesh (vertices (V, 3), faces (F, 3)) validated on construction.

    Arrays are held as float64/int64 numpy internally; ``vertices``/``faces`` return them in the caller's original
    form (numpy, or torch tensors on the original device and dtype).
    """

    def __init__(self, vertices: Any, faces: Any) -> None:
        self._v, self._f = check_mesh(vertices, faces)
        self._vertex_dtype = float_dtype_of(vertices)
        self._reference = vertices

    @property
    def vertices(self) -> Any:
        """Vertex positions in the input's array type and float dtype."""
        return like(self._v.astype(self._vertex_dtype, copy=False), self._reference)

    @property
    def faces(self) -> Any:
        """Triangle indices (int64 numpy, or an int64 tensor on the input's device)."""
        return like(self._f, self._reference)

    @property
    def num_vertices(self) -> int:
        """Number of vertices."""
        return int(self._v.shape[0])

    @property
    def num_faces(self) -> int:
        """Number of triangles."""
        return int(self._f.shape[0])

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """(vertices float64, faces int64) as numpy arrays, without copies."""
        return self._v, self._f

    def vertex_normals(self) -> Any:
        """Area-weighted unit vertex normals, in the input's array type."""
        return like(np.asarray(vertex_normals(self._v, self._f)).astype(self._vertex_dtype), self._reference)

    def face_normals(self) -> Any:
        """Unit face normals, in the input's array type."""
        return like(face_normals(self._v, self._f).astype(self._vertex_dtype), self._reference)

    def area(self) -> float:
        """Total surface area."""
        return float(face_areas(self._v, self._f).sum())

    def with_arrays(self, vertices: np.ndarray, faces: np.ndarray) -> Mesh:
        """A new Mesh of the same array type/device/dtype as this one, from numpy results."""
        mesh = Mesh.__new__(Mesh)
        mesh._v, mesh._f = check_mesh(vertices, faces, allow_empty=True)
        mesh._vertex_dtype = self._vertex_dtype
        mesh._reference = self._reference
        return mesh

    def _apply(self, operation: Callable[..., tuple[np.ndarray, np.ndarray]], *args: Any, **kwargs: Any) -> Mesh:
        return self.with_arrays(*operation(self._v, self._f, *args, **kwargs))

    def weld_vertices(self, tolerance: float = 0.0) -> Mesh:
        """Merged coincident vertices (see ``meshkit.cleanup.weld_vertices``)."""
        from .cleanup import weld_vertices

        return self._apply(weld_vertices, tolerance)

    def remove_degenerate_faces(self, min_area: float = 0.0) -> Mesh:
        """Without faces that repeat a vertex or have (near) zero area."""
        from .cleanup import remove_degenerate_faces

        return self._apply(remove_degenerate_faces, min_area)

    def remove_duplicate_faces(self, remove_opposite: bool = False) -> Mesh:
        """Without repeated faces (optionally also coincident faces of opposite winding)."""
        from .cleanup import remove_duplicate_faces

        return self._apply(remove_duplicate_faces, remove_opposite)

    def repair_non_manifold(self) -> Mesh:
        """With non-manifold edges and vertices split into manifold pieces."""
        from .cleanup import repair_non_manifold

        return self._apply(repair_non_manifold)

    def remove_small_components(self, min_area: float | None = None, min_faces: int | None = None) -> Mesh:
        """Without connected components below ``min_area`` total area or ``min_faces`` faces."""
        from .cleanup import remove_small_components

        return self._apply(remove_small_components, min_area=min_area, min_faces=min_faces)

    def unify_orientation(self) -> Mesh:
        """With consistently oriented faces per component, closed components facing outward."""
        from .cleanup import unify_orientation

        return self._apply(unify_orientation)

    def remove_inner_shells(self, samples_per_component: int = 64, directions: int = 64) -> Mesh:
        """Without components that are invisible from outside (enclosed shells)."""
        from .cleanup import remove_inner_shells

        return self._apply(remove_inner_shells, samples_per_component, directions)

    def fill_holes(self, max_hole_perimeter: float = float("inf")) -> Mesh:
        """With boundary loops up to ``max_hole_perimeter`` triangulated."""
        from .holes import fill_holes

        return self._apply(fill_holes, max_hole_perimeter)

    def simplify(self, target_faces: int, **options: Any) -> Mesh:
        """Quadric-error simplified copy with at most ``target_faces`` faces (options as ``meshkit.simplify``)."""
        from .simplify import simplify

        result = simplify(self._v, self._f, target_faces, **options)
        return self.with_arrays(result.vertices, result.faces)

    def __repr__(self) -> str:
        return f"Mesh(num_vertices={self.num_vertices}, num_faces={self.num_faces})"
