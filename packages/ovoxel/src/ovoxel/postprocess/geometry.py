"""The geometry half of `to_glb`: reference mesh, optional narrow-band remesh, simplification and cleanup (meshkit).

Tolerances follow upstream, which states them in the units of TRELLIS.2's [-0.5, 0.5]^3 box; here they are scaled
by the box's largest extent so any `aabb` behaves like that unit box.

A mesh is a (vertices, faces) pair of float64/int64 numpy arrays or of torch tensors (the GPU path: inputs on an
accelerator stay there through these stages). Tensors, on any device, take meshkit's torch cleanup and hole
search (`cleanup_torch`, `fill_holes_on_device`), which compute the same result as the numpy path; CPU tensors are
how that path is tested.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import meshkit
import numpy as np
from meshkit import cleanup

from .inputs import as_numpy, is_tensor

HOLE_PERIMETER = 3e-2  # holes up to this perimeter (times the box extent) are closed
SMALL_COMPONENT_AREA = 1e-5  # components below this area (times the extent squared) are dropped

Mesh = tuple[Any, Any]


def device_mesh(vertices: Any, faces: Any, checked: tuple[np.ndarray, np.ndarray]) -> Mesh:
    """The mesh the geometry stages start from: the input as float64/int64 tensors on its device when both are
    tensors on an accelerator, else the `checked` numpy arrays (`check_inputs`' copies of the same values)."""
    if is_tensor(vertices) and is_tensor(faces) and vertices.device.type != "cpu":
        import torch

        return vertices.detach().to(torch.float64), faces.detach().to(vertices.device, torch.int64)
    return checked


def as_arrays(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """The mesh as float64/int64 numpy arrays (the UV unwrap and the bake's reference need them)."""
    return as_numpy(mesh[0]).astype(np.float64, copy=False), as_numpy(mesh[1]).astype(np.int64, copy=False)


def _passes(mesh: Mesh) -> ModuleType:
    """The cleanup passes for this mesh's array type: torch code for tensors, native code for numpy."""
    if is_tensor(mesh[0]):
        from meshkit import cleanup_torch

        return cleanup_torch
    return cleanup


def fill_small_holes(mesh: Mesh, extent: float) -> Mesh:
    """Close holes whose perimeter is at most 3% of the box extent."""
    if is_tensor(mesh[0]):
        from meshkit.holes import fill_holes_on_device

        return fill_holes_on_device(*mesh, max_hole_perimeter=HOLE_PERIMETER * extent)
    return meshkit.fill_holes(*mesh, max_hole_perimeter=HOLE_PERIMETER * extent)


def remesh(mesh: Mesh, aabb: np.ndarray, grid_size: np.ndarray, band: float, project: float,
           outer_only: bool) -> Mesh:
    """Rebuild the surface by dual contouring at `band` voxels from it (grid of max(grid_size) cells over the box,
    grown by 3 * band cells as upstream), then move vertices `project` of the way back onto the input."""
    resolution = int(grid_size.max())
    extent = float((aabb[1] - aabb[0]).max())
    scale = (resolution + 3 * band) / resolution * extent
    return meshkit.remesh_narrow_band_dc(*mesh, aabb.mean(axis=0), scale, resolution, band, project_back=project,
                                         outer_only=outer_only)


def simplify(mesh: Mesh, target: int | None) -> Mesh:
    """Collapse edges down to `target` faces (no-op when already at or below it, or when `target` is None)."""
    if target is None or len(mesh[1]) <= target:
        return mesh
    result = meshkit.simplify(*mesh, target)
    return result.vertices, result.faces


def clean(mesh: Mesh, extent: float) -> Mesh:
    """Upstream's cleanup round: duplicate faces, non-manifold edges (split), tiny components, small holes."""
    passes = _passes(mesh)
    mesh = passes.remove_duplicate_faces(*mesh)
    mesh = passes.repair_non_manifold(*mesh)
    mesh = passes.remove_small_components(*mesh, min_area=SMALL_COMPONENT_AREA * extent**2)
    if len(mesh[1]) == 0:
        raise ValueError("no faces left after cleanup: the mesh consists only of tiny or degenerate parts")
    return fill_small_holes(mesh, extent)


def final_cleanup(mesh: Mesh, extent: float, target: int | None) -> Mesh:
    """A cleanup round, a re-simplification in case closing holes opened by the non-manifold split overshot the
    target, then consistent orientation (closed parts face outward) without unused vertices."""
    mesh = simplify(clean(mesh, extent), target)
    passes = _passes(mesh)
    return passes.remove_unreferenced_vertices(*passes.unify_orientation(*mesh))
