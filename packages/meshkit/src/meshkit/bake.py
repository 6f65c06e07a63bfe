"""Texture baking: evaluate a caller's attribute function at the surface point behind every texel of a UV layout.

Texel rows follow the glTF image convention used by :mod:`meshkit.gltf` (row ``i`` covers ``v`` in
``[i/H, (i+1)/H]``), so a baked texture can be written by :func:`meshkit.write_glb` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import _texturing
from .bvh import BVH
from .gpu import cuda_device, on_device
from .raster import rasterize_uv
from .validation import check_faces, check_mesh, check_points, to_numpy


class BakeResult(NamedTuple):
    """Baked ``texture`` (H, W, C) float32, every texel filled, and ``mask`` (H, W) of texels a triangle covers."""

    texture: np.ndarray
    mask: np.ndarray


def push_pull_fill(texture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill unmasked texels with mask-weighted averages from successively coarser levels (push-pull), so charts
    bleed smoothly into the empty space and box-filtered mip levels do not mix in unrelated colours.

    Runs natively (float64 sums, OpenMP over rows); the result has ``texture``'s dtype.
    """
    texture = np.asarray(texture)
    mask = np.asarray(mask, dtype=bool)
    if texture.ndim != 3 or mask.shape != texture.shape[:2]:
        raise ValueError(f"push_pull_fill needs texture (H, W, C) and mask (H, W), got {texture.shape} and "
                         f"{mask.shape}")
    work = texture if texture.dtype in (np.float32, np.float64) else texture.astype(np.float64)
    return _texturing.push_pull(work, mask.view(np.uint8)).astype(texture.dtype, copy=False)


def _texel_points(vertices: np.ndarray, faces: np.ndarray, uvs: Any, texture_size: int | tuple[int, int],
                  device: Any) -> tuple[np.ndarray, Any]:
    """Mask (H, W) of covered texels and the (N, 3) float64 points behind them: numpy, or (rasterized there)
    a tensor on ``device``."""
    if device is None:
        face_id, bary = rasterize_uv(uvs, faces, texture_size)
        mask = face_id >= 0
        return mask, np.einsum("nk,nkc->nc", bary[mask].astype(np.float64), vertices[faces[face_id[mask]]])
    import torch

    v, f = on_device(vertices, device), on_device(faces, device)
    face_id, bary = rasterize_uv(on_device(uvs, device), f, texture_size)
    covered = face_id >= 0
    points = torch.einsum("nk,nkc->nc", bary[covered].double(), v[f[face_id[covered].long()]])
    return covered.cpu().numpy(), points


def bake_attributes(mesh_uv: tuple[Any, Any, Any], hires_vertices: Any, hires_faces: Any,
                    sampler: Callable[[Any], Any], texture_size: int | tuple[int, int],
                    fill: bool = True) -> BakeResult:
    """Bake ``sampler(points (N, 3)) -> values (N, C)`` into a texture for ``mesh_uv = (vertices, faces, uvs)``.

    Each covered texel's 3-D point is snapped to the closest point of the hi-res surface (skip snapping by passing
    ``hires_vertices=None``); empty texels are then filled by push-pull unless ``fill`` is False. When any mesh
    input is a CUDA tensor, rasterization and snapping run on that GPU and ``sampler`` gets a float64 tensor there.
    """
    if not isinstance(mesh_uv, (tuple, list)) or len(mesh_uv) != 3:
        raise TypeError("mesh_uv must be a (vertices, faces, uvs) triple, e.g. built from unwrap_uv's result")
    vertices, faces = check_mesh(mesh_uv[0], mesh_uv[1])
    mask, points = _texel_points(vertices, faces, mesh_uv[2], texture_size, cuda_device(*mesh_uv, hires_vertices))
    if hires_vertices is not None:
        hires_v = check_points(hires_vertices, "hires_vertices", allow_empty=False)
        points = BVH(hires_v, check_faces(hires_faces, len(hires_v), "hires_faces")).closest_surface_point(points)
    values = to_numpy(sampler(points), "sampler result")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != len(points):
        raise ValueError(f"sampler must return ({len(points)}, C) values for {len(points)} points, "
                         f"got shape {tuple(values.shape)}")
    if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
        raise ValueError("sampler returned non-numeric, NaN or infinite values")
    texture = np.zeros(mask.shape + (values.shape[1],), np.float32)
    texture[mask] = values
    if fill and mask.any():
        texture = push_pull_fill(texture, mask)
    return BakeResult(texture=texture, mask=mask)
