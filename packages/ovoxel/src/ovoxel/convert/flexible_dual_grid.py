"""Flexible dual grid: mesh -> (coords, dual vertices, edge flags) in C++, and back to a mesh (C++ for numpy inputs,
Triton for CUDA tensors, vectorised torch for other tensors; all give the same faces in the same order).

Conventions: `mesh_to_flexible_dual_grid` returns dual vertices relative to `aabb.min` in world units (as upstream's
converter); `flexible_dual_grid_to_mesh` takes the in-voxel OFFSET `dual / voxel_size - coords` in [0, 1]^3 (what an
O-Voxel stores and the VAE predicts), exactly as upstream's extraction does.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .. import _dualgrid, _extract
from ..grid import fit_aabb, resolve_grid
from ._arrays import is_tensor, like, to_numpy

# Voxels sharing the grid edge of flag axis a, in quad order (upstream's cyclic order).
QUAD_NEIGHBOURS = np.array([
    [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]],
    [[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]],
    [[0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]],
], dtype=np.int64)
SPLIT_02 = np.array([0, 1, 2, 0, 2, 3])
SPLIT_13 = np.array([0, 1, 3, 3, 1, 2])


def _checked_mesh(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    """float32 vertices and int32 faces after the checks (float32 input is checked as is: widening adds nothing)."""
    v = to_numpy(vertices)
    v = v if v.dtype == np.float32 else v.astype(np.float64)
    f = to_numpy(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape [V, 3], got {list(v.shape)}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must be triangles of shape [F, 3], got {list(f.shape)}; triangulate first")
    if len(v) == 0 or len(f) == 0:
        raise ValueError("the mesh is empty (no vertices or no faces)")
    if not np.all(np.isfinite(v)):
        raise ValueError("vertices contain NaN or inf")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must hold integer indices, got {f.dtype}")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"face indices must lie in [0, {len(v)}), got range [{f.min()}, {f.max()}]")
    return v.astype(np.float32, copy=False), f.astype(np.int32, copy=False)


def mesh_to_flexible_dual_grid(vertices, faces, grid_size=None, voxel_size=None, aabb=None, face_weight: float = 1.0,
                               boundary_weight: float = 1.0, regularization_weight: float = 0.1,
                               num_threads: int = 0):
    """Voxelize a triangle mesh into a flexible dual grid: (coords [N,3] int32, dual vertices [N,3] float32 relative
    to aabb.min in world units, intersected [N,3] bool); output is identical for any `num_threads` (0 = all)."""
    v, f = _checked_mesh(vertices, faces)
    if aabb is None:
        aabb = fit_aabb(v, grid_size, voxel_size)
    box, vs, gs = resolve_grid(to_numpy(aabb), None if grid_size is None else to_numpy(grid_size),
                               None if voxel_size is None or grid_size is not None else to_numpy(voxel_size))
    coords, duals, flags, outside = _dualgrid.mesh_to_dual_grid(
        v, f, box[0].tolist(), box[1].tolist(), vs.tolist(), gs.tolist(), float(face_weight), float(boundary_weight),
        float(regularization_weight), int(num_threads))
    if outside:
        warnings.warn("mesh extends outside the given aabb; geometry outside it is clipped", stacklevel=2)
    return like(vertices, coords, duals, flags)


def _edge_quads(coords, intersected, grid_shape):
    """Indices [Q,4] (torch) of the voxel quads around every flagged edge whose four voxels all exist. Voxels are
    sorted by linear key once; each neighbour offset is then a sorted query (searchsorted)."""
    import torch

    c = coords.long()
    span = [int(s) + 2 for s in grid_shape]
    keys = (c[:, 0] * span[1] + c[:, 1]) * span[2] + c[:, 2]
    sorted_keys, order = torch.sort(keys, stable=True)
    flags = intersected[order]
    last = len(keys) - 1

    def lookup(wanted):
        pos = torch.searchsorted(sorted_keys, wanted).clamp_(max=last)
        return torch.where(sorted_keys[pos] == wanted, order[pos], -1)

    quads = []
    for axis in range(3):
        owners = flags[:, axis]
        base = sorted_keys[owners]
        members = [order[owners]] + [lookup(base + (o[0] * span[1] + o[1]) * span[2] + o[2])
                                     for o in QUAD_NEIGHBOURS[axis, 1:].tolist()]
        quad = torch.stack(members, 1)
        quads.append(quad[(quad >= 0).all(1)])
    return torch.cat(quads)


def _pick_split(quads, verts, split_weight):
    """True where diagonal 0-2 is used (torch): weighted rule w0*w2 > w1*w3, else the diagonal whose triangles' unit
    normals agree best (the rule upstream intends)."""
    if split_weight is not None:
        w = split_weight.reshape(-1)[quads]
        return w[:, 0] * w[:, 2] > w[:, 1] * w[:, 3]
    p = verts.double()
    corners = [[p[quads[:, k], axis] for axis in range(3)] for k in range(4)]

    def normal(a, b, c):
        u = [b[i] - a[i] for i in range(3)]
        v = [c[i] - a[i] for i in range(3)]
        return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]

    def cosine(m, n):
        dot = m[0] * n[0] + m[1] * n[1] + m[2] * n[2]
        norms = ((m[0] ** 2 + m[1] ** 2 + m[2] ** 2) * (n[0] ** 2 + n[1] ** 2 + n[2] ** 2)) ** 0.5
        return dot / (norms + 1e-30)

    q0, q1, q2, q3 = corners
    d02 = cosine(normal(q0, q1, q2), normal(q0, q2, q3))
    d13 = cosine(normal(q0, q1, q3), normal(q3, q1, q2))
    # Near ties (flat quads) go to diagonal 0-2, upstream's choice, so that rounding differences between backends
    # (torch here, cpp/extract for numpy) cannot flip a flat quad.
    return d02 >= d13 - 1e-9


def _check_shapes(n: int, coords, offsets, flags, weights) -> None:
    if coords.shape != (n, 3) or offsets.shape != (n, 3) or flags.shape != (n, 3):
        raise ValueError("coords, dual_vertices and intersected must all have shape [N, 3]")
    if weights is not None and weights.reshape(-1).shape[0] != n:
        raise ValueError(f"split_weight must have N={n} entries, got shape {list(weights.shape)}")


def _device_inputs(coords, dual_vertices, intersected, split_weight):
    """Offsets (float32), flags (bool) and weights (float32 [N] or None) on the coords' device, shapes checked."""
    import torch

    dev = coords.device
    offs = torch.as_tensor(dual_vertices, device=dev).float()
    flags = torch.as_tensor(intersected, device=dev).bool()
    weights = None if split_weight is None else torch.as_tensor(split_weight, device=dev).float().reshape(-1)
    _check_shapes(coords.shape[0], coords, offs, flags, weights)
    return offs, flags, weights


def _extract_torch(coords, offs, flags, weights, box, vs, gs):
    """The vectorised torch extraction on the tensors' device (the CPU-tensor path and the Triton path's reference)."""
    import torch

    dev = coords.device
    verts = (coords.float() + offs) * torch.as_tensor(vs, device=dev) + torch.as_tensor(box[0], device=dev)
    if coords.shape[0] == 0:
        return verts, torch.zeros((0, 3), dtype=torch.int64, device=dev)
    quads = _edge_quads(coords, flags, gs)
    use_02 = _pick_split(quads, verts, weights)
    tri_02 = quads[:, torch.as_tensor(SPLIT_02, device=dev)]
    tri_13 = quads[:, torch.as_tensor(SPLIT_13, device=dev)]
    return verts, torch.where(use_02[:, None], tri_02, tri_13).reshape(-1, 3)


def _extract_tensors(coords, dual_vertices, intersected, split_weight, box, vs, gs):
    """Torch in, torch out: the Triton kernels for integer CUDA coords when Triton is installed, else (or with
    OVOXEL_EXTRACT_BACKEND=torch, or offsets that need gradients) the torch path; both give identical output."""
    import torch

    offs, flags, weights = _device_inputs(coords, dual_vertices, intersected, split_weight)
    backend = os.environ.get("OVOXEL_EXTRACT_BACKEND", "auto")
    if backend not in ("auto", "torch"):
        raise ValueError(f"OVOXEL_EXTRACT_BACKEND must be 'auto' or 'torch', got {backend!r}")
    if (backend == "auto" and coords.is_cuda and not coords.is_floating_point() and coords.dtype != torch.bool
            and not offs.requires_grad):
        try:
            from .extract_triton import extract_triton
        except ImportError:  # Triton is optional
            pass
        else:
            result = extract_triton(coords, offs, flags, weights, box[0], vs, gs)
            if result is not None:
                return result
    return _extract_torch(coords, offs, flags, weights, box, vs, gs)


def _extract_native(coords, dual_vertices, intersected, split_weight, box, vs, gs, num_threads: int):
    """The C++ extraction (cpp/extract) for numpy inputs: same vertices and faces, in the same order, as the torch
    path."""
    coords = np.asarray(coords)
    offs = np.ascontiguousarray(dual_vertices, dtype=np.float32)
    flags = np.ascontiguousarray(intersected, dtype=bool)
    weights = None if split_weight is None else np.ascontiguousarray(split_weight, dtype=np.float32).reshape(-1)
    _check_shapes(coords.shape[0] if coords.ndim else 0, coords, offs, flags, weights)
    if not np.issubdtype(coords.dtype, np.integer):
        raise ValueError(f"coords must hold integers, got {coords.dtype}")
    coords = np.ascontiguousarray(coords, dtype=np.int32 if coords.dtype == np.int32 else np.int64)
    return _extract.dual_grid_to_mesh(coords, offs, flags, weights, box[0].tolist(), vs.tolist(), gs.tolist(),
                                      int(num_threads))


def flexible_dual_grid_to_mesh(coords, dual_vertices, intersected, split_weight=None, aabb=((-0.5,) * 3, (0.5,) * 3),
                               grid_size=None, voxel_size=None, num_threads: int = 0):
    """Extract the dual quad mesh (split into triangles) of a flexible dual grid; `dual_vertices` are in-voxel
    offsets. numpy in -> numpy out, in C++ with OpenMP (`num_threads`, 0 = all; identical output for any count);
    torch in -> torch out on the same device (Triton kernels on CUDA, else vectorised torch). All paths give the same
    vertices and faces in the same order."""
    box, vs, gs = resolve_grid(to_numpy(aabb), grid_size, voxel_size)
    if is_tensor(coords):
        return _extract_tensors(coords, dual_vertices, intersected, split_weight, box, vs, gs)
    return _extract_native(coords, dual_vertices, intersected, split_weight, box, vs, gs, num_threads)
