"""Narrow-band dual-contouring remesh: rebuild a clean watertight manifold surface around any triangle soup."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _geometry
from .bvh import BVH
from .cleanup import remove_inner_shells
from .gpu import cuda_device, on_device
from .validation import check_mesh, check_positive, float_dtype_of, like, to_numpy


def remesh_narrow_band_dc(
    vertices: Any,
    faces: Any,
    center: Any,
    scale: float,
    resolution: int,
    band: float = 1.0,
    project_back: float = 0.0,
    outer_only: bool = False,
) -> tuple[Any, Any]:
    """Contour the surface at distance ``band`` voxels from the input, then pull vertices back to it.

    The grid is ``resolution``³ voxels of side ``scale / resolution`` filling the cube of side ``scale`` centred at
    ``center``; only a narrow band around the input is visited. Sign patterns that would give non-manifold dual
    contouring are repaired, so the output is watertight and manifold (a closed input yields an outer and an inner
    offset shell; ``outer_only`` drops shells that cannot be seen from outside, such as that inner one). Each vertex
    then moves ``project_back`` (0..1) of the way to its closest input point.
    Returns (vertices (V, 3), faces (F, 3)) in the input's array type; faces are wound outward from the band.
    CUDA tensors (with Triton installed) run the same algorithm on their GPU (``remesh_torch``) with the same result.
    """
    v, f = check_mesh(vertices, faces)
    c = np.asarray(to_numpy(center, "center"), dtype=np.float64).reshape(-1)
    if c.shape != (3,) or not np.isfinite(c).all():
        raise ValueError(f"center must be 3 finite numbers, got {c.tolist()}")
    scale = check_positive(scale, "scale")
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) or not 1 <= resolution <= 65536:
        raise ValueError(f"resolution must be an integer in [1, 65536], got {resolution!r}")
    band = check_positive(band, "band")
    project_back = check_positive(project_back, "project_back", allow_zero=True)
    if project_back > 1:
        raise ValueError(f"project_back must lie in [0, 1], got {project_back}")
    grid_projection = 0.0 if outer_only else project_back
    device = cuda_device(vertices)
    tree = None
    if device is None:
        out_v, out_f = _geometry.remesh_narrow_band_dc(v, f, c, scale, int(resolution), band, grid_projection)
    else:
        from .remesh_torch import remesh_on_device

        tree = BVH(v, f)
        out_v, out_f = remesh_on_device(tree, tuple(c.tolist()), scale, int(resolution), band, grid_projection,
                                        device)
    if outer_only and len(out_f):
        out_v, out_f = remove_inner_shells(to_numpy(out_v, "vertices"), to_numpy(out_f, "faces"))
        if device is not None:
            out_v, out_f = on_device(out_v, device), on_device(out_f, device)
        if project_back > 0:
            tree = tree or BVH(v, f)
            out_v = out_v + project_back * (tree.closest_surface_point(out_v) - out_v)
    if len(out_f) == 0:
        warnings.warn(
            "remesh_narrow_band_dc: no grid point lies within the band, so the result is empty; check that "
            "center/scale cover the input",
            stacklevel=2,
        )
    if device is not None:
        return out_v.to(on_device(np.zeros(0, float_dtype_of(vertices)), device).dtype), out_f
    return like(out_v.astype(float_dtype_of(vertices)), vertices), like(out_f, faces)
