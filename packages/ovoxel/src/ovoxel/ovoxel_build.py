"""Assemble an O-Voxel from a mesh: surface voxel coordinates plus PBR attributes.

Layout (rows aligned with int32 (N, 3) `coords` in [0, grid_size), all attributes uint8): `base_color` (3),
`metallic` (1), `roughness` (1), `emissive` (3), `alpha` (1), `normal` (3, stored (n*0.5+0.5)*255).
The geometry part (`dual_vertices`, `intersected`) is added once the flexible dual grid converter lands.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .convert.volumetric_attr import textured_mesh_to_volumetric_attr
from .mesh_loading import load_parts, scene_bounds

BYTES_PER_VOXEL = 800  # peak working memory per surface voxel (measured 680 on DamagedHelmet at 1024)


def fit_aabb(bounds: np.ndarray, padding: float = 0.01) -> np.ndarray:
    """A cube around `bounds`, centred on it, with its edge grown by `padding` (a fraction) on each side."""
    centre, half = bounds.mean(axis=0), (bounds[1] - bounds[0]).max() / 2 * (1 + 2 * padding)
    half = half if half > 0 else 0.5
    return np.stack([centre - half, centre + half])


def estimated_voxels(parts, aabb: np.ndarray, grid_size: int) -> int:
    """Rough surface-voxel count: triangle area in voxel units times 3 (one layer each side plus crossings)."""
    voxel = (aabb[1] - aabb[0]).max() / grid_size
    area = sum(float(np.linalg.norm(np.cross(p.vertices[p.faces[:, 1]] - p.vertices[p.faces[:, 0]],
                                             p.vertices[p.faces[:, 2]] - p.vertices[p.faces[:, 0]]), axis=1).sum())
               for p in parts) / 2
    return int(3 * area / voxel**2) + 1


def check_memory(voxels: int, available: int | None = None) -> None:
    """Refuse, before allocating, conversions whose working set would not fit in physical memory."""
    available = available or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    needed = voxels * BYTES_PER_VOXEL
    if needed > available:
        raise MemoryError(f"about {voxels:,} voxels would need ~{needed / 2**30:.1f} GiB, more than the "
                          f"{available / 2**30:.1f} GiB of memory; lower the resolution")


def mesh_to_ovoxel(path_or_mesh, grid_size: int, aabb=None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Convert a mesh to an O-Voxel: (coords int32 (N, 3), {name: uint8 (N, C)}, aabb (2, 3)).

    `aabb=None` fits a cube around the mesh; memory need is checked before any voxel work.
    """
    parts = load_parts(path_or_mesh)
    bounds = scene_bounds(parts)
    aabb = fit_aabb(bounds) if aabb is None else np.asarray(aabb, dtype=np.float64)
    if np.any(bounds[0] < aabb[0]) or np.any(bounds[1] > aabb[1]):
        warnings.warn("mesh extends outside the given aabb; the outside part is clipped", stacklevel=2)
    check_memory(estimated_voxels(parts, aabb, grid_size))
    coords, values = textured_mesh_to_volumetric_attr(parts, grid_size=grid_size, aabb=aabb)
    return coords, values, aabb
