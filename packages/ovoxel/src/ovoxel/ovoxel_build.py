"""Assemble an O-Voxel from a mesh (geometry from the flexible dual grid, materials from the PBR voxelizer) and
turn one back into a mesh.

Layout (rows aligned with int32 (N, 3) `coords` in [0, grid_size), sorted lexicographically; all attributes uint8):
`dual_vertices` (3: dual vertex offset inside its voxel, round(o * 255)), `intersected` (1: bit a set when the
voxel's edge along axis a crosses the surface) and, with attributes, `base_color` (3), `metallic` (1),
`roughness` (1), `emissive` (3), `alpha` (1), `normal` (3, stored (n*0.5+0.5)*255).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .convert.flexible_dual_grid import flexible_dual_grid_to_mesh, mesh_to_flexible_dual_grid
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


def mesh_to_ovoxel(path_or_mesh, grid_size: int, aabb=None, attrs: bool = True,
                   ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Convert a mesh to an O-Voxel: (coords int32 (N, 3), {name: uint8 (N, C)}, aabb (2, 3)).

    `aabb=None` fits a cube around the mesh; memory need is checked before any voxel work.
    """
    parts = load_parts(path_or_mesh)
    bounds = scene_bounds(parts)
    aabb = fit_aabb(bounds) if aabb is None else np.asarray(aabb, dtype=np.float64)
    if np.any(bounds[0] < aabb[0]) or np.any(bounds[1] > aabb[1]):
        warnings.warn("mesh extends outside the given aabb; the outside part is clipped", stacklevel=2)
    check_memory(estimated_voxels(parts, aabb, grid_size))
    vertices, faces = _merged(parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the clipping warning was given above
        coords, dual, intersected = mesh_to_flexible_dual_grid(vertices, faces, grid_size=grid_size, aabb=aabb)[:3]
    coords = np.asarray(coords, dtype=np.int32)
    order = np.lexsort(coords.T[::-1])
    coords = coords[order]
    voxel_size = (aabb[1] - aabb[0]) / grid_size
    offsets = np.asarray(dual, dtype=np.float64)[order] / voxel_size - coords
    flags = np.asarray(intersected, dtype=np.uint8)[order]
    values = {"dual_vertices": np.rint(np.clip(offsets, 0, 1) * 255).astype(np.uint8),
              "intersected": (flags[:, :1] | flags[:, 1:2] << 1 | flags[:, 2:3] << 2).astype(np.uint8)}
    if attrs:
        attr_coords, materials = textured_mesh_to_volumetric_attr(parts, grid_size=grid_size, aabb=aabb)
        values.update(_aligned(attr_coords, materials, coords))
    return coords, values, aabb


def ovoxel_to_mesh(coords: np.ndarray, attrs: dict[str, np.ndarray], aabb, grid_size: int):
    """Extract a mesh from an O-Voxel: (vertices (V, 3), faces (F, 3), per-vertex uint8 RGB or None)."""
    if "dual_vertices" not in attrs or "intersected" not in attrs:
        raise ValueError("the O-Voxel has no geometry (needs 'dual_vertices' and 'intersected' attributes)")
    offsets = attrs["dual_vertices"].astype(np.float32) / 255
    bits = attrs["intersected"][:, 0]
    flags = np.stack([bits & 1, bits >> 1 & 1, bits >> 2 & 1], axis=1).astype(bool)
    vertices, faces = flexible_dual_grid_to_mesh(coords, offsets, flags, aabb=np.asarray(aabb, np.float64),
                                                 grid_size=grid_size)
    return np.asarray(vertices), np.asarray(faces), attrs.get("base_color")


def _merged(parts) -> tuple[np.ndarray, np.ndarray]:
    offset, faces = 0, []
    for part in parts:
        faces.append(part.faces + offset)
        offset += len(part.vertices)
    return np.concatenate([p.vertices for p in parts]), np.concatenate(faces)


def _keys(coords: np.ndarray) -> np.ndarray:
    coords = coords.astype(np.int64)
    return (coords[:, 0] << 42) | (coords[:, 1] << 21) | coords[:, 2]


def _lookup(source: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of each key in the sorted `source` keys, and whether it is there."""
    position = np.minimum(np.searchsorted(source, keys), max(len(source) - 1, 0))
    found = source[position] == keys if len(source) else np.zeros(len(keys), bool)
    return position, found


FACE_STEPS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.int32)


def _aligned(source_coords, values: dict[str, np.ndarray], target_coords) -> dict[str, np.ndarray]:
    """Reorder attribute rows (sorted `source_coords`) onto `target_coords`. A voxel the voxelizer missed (a surface
    lying exactly on a grid plane goes to the cells on one side there, to the other side in the dual grid) takes
    the mean of its face neighbours that it has; zeros where it has none."""
    source = _keys(source_coords)
    position, found = _lookup(source, _keys(target_coords))
    out = {}
    for name, column in values.items():
        out[name] = np.zeros((len(target_coords), column.shape[1]), np.uint8)
        out[name][found] = column[position[found]]
    missing = np.nonzero(~found)[0]
    if missing.size == 0:
        return out
    count = np.zeros(missing.size)
    sums = {name: np.zeros((missing.size, column.shape[1])) for name, column in values.items()}
    for step in FACE_STEPS:  # negative coordinates give negative keys, which never match
        rows, hit = _lookup(source, _keys(target_coords[missing] + step))
        count += hit
        for name, column in values.items():
            sums[name][hit] += column[rows[hit]]
    filled = count > 0
    for name in values:
        out[name][missing[filled]] = np.rint(sums[name][filled] / count[filled, None]).astype(np.uint8)
    return out
