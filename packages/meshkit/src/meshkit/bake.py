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
from .validation import check_faces, check_mesh, check_points, is_torch_tensor, to_numpy


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


# The 8 neighbours of a texel, in the order their values are added (the device bake adds them in the same order).
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def dilate_edges(texture: Any, mask: Any) -> tuple[Any, Any]:
    """(texture, mask) with the empty texels that touch covered ones (8-neighbourhood) but share no 2 x 2 block with
    one set to the mean of the covered texels they touch.

    A surface point near a chart's edge can fall in a texel whose centre no triangle covers. Push-pull gives such a
    texel its 2 x 2 block's covered mean when the block has one (the chart's own colour, and what keeps the first
    mip level seamless); otherwise it fills it from coarser levels, which mix in the neighbouring charts
    (transparent or differently coloured ones showed through on tightly packed atlases): those texels are set here.
    Charts lie at least two texels apart, so each of them touches one chart. Works on numpy arrays and on torch
    tensors on any device with the same result: sums are float64 in ``NEIGHBOURS`` order; the texture keeps its
    dtype.
    """
    tensors = is_torch_tensor(mask)
    float64 = (lambda a: a.double()) if tensors else (lambda a: a.astype(np.float64))
    copy = (lambda a: a.clone()) if tensors else (lambda a: a.copy())
    height, width = mask.shape
    padded = mask.new_zeros((height + 2, width + 2)) if tensors else np.zeros((height + 2, width + 2), bool)
    padded[1:-1, 1:-1] = mask
    touching = mask & False
    for dy, dx in NEIGHBOURS:
        touching = touching | padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
    blocks = padded[1:height + 1 + height % 2, 1:width + 1 + width % 2]  # even-sized (the padding row is empty)
    blocks = blocks.reshape(blocks.shape[0] // 2, 2, blocks.shape[1] // 2, 2).any(3).any(1)
    edge = touching & ~mask
    rows, cols = edge.nonzero(as_tuple=True) if tensors else edge.nonzero()
    alone = ~blocks[rows // 2, cols // 2]
    rows, cols = rows[alone], cols[alone]
    total = float64(texture[rows, cols] * 0)
    count = rows * 0
    for dy, dx in NEIGHBOURS:
        y, x = rows + dy, cols + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        y, x = y * inside, x * inside  # out-of-range neighbours read texel (0, 0), masked off below
        covered = inside & mask[y, x]
        total = total + float64(texture[y, x]) * covered[:, None]
        count = count + covered
    filled = total / count[:, None]
    texture = copy(texture)
    texture[rows, cols] = filled.to(texture.dtype) if tensors else filled.astype(texture.dtype)
    grown = copy(mask)
    grown[rows, cols] = True
    return texture, grown


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
    ``hires_vertices=None``); unless ``fill`` is False, empty texels touching a chart then take its edge values
    (``dilate_edges``) and the rest are filled by push-pull. When any mesh input is a CUDA tensor, rasterization and
    snapping run on that GPU and ``sampler`` gets a float64 tensor there.
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
        texture = push_pull_fill(*dilate_edges(texture, mask))
    return BakeResult(texture=texture, mask=mask)
