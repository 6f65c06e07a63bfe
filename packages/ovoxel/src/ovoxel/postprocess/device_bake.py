"""The texture bake on a torch device (the GPU when `to_glb` gets CUDA tensors): meshkit's Triton rasterizer and
BVH closest-point query, sparsetensor's sampler and a torch push-pull fill, so texels stay on the device until the
finished texture is copied back. Same steps and results as `meshkit.bake_attributes` on the CPU."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import meshkit
import numpy as np
import torch
from meshkit.bake import dilate_edges

from .texture import UVMesh


def _half(level: torch.Tensor) -> torch.Tensor:
    """Sums of the 2 x 2 blocks of an (h, w, c) level (odd sizes zero-padded), added in meshkit's native order
    (2i, 2j) + (2i+1, 2j) + (2i, 2j+1) + (2i+1, 2j+1) so that float64 results agree with it bit for bit."""
    height, width = level.shape[:2]
    padded = torch.nn.functional.pad(level, (0, 0, 0, width % 2, 0, height % 2))
    blocks = padded.reshape((height + 1) // 2, 2, (width + 1) // 2, 2, -1)
    return blocks[:, 0, :, 0] + blocks[:, 1, :, 0] + blocks[:, 0, :, 1] + blocks[:, 1, :, 1]


def _upsample(coarse: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Each fine texel (i, j) of an (height, width) level gets coarse texel (i // 2, j // 2)."""
    return coarse.repeat_interleave(2, 0).repeat_interleave(2, 1)[:height, :width]


def push_pull(texture: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unmasked texels of `texture` (H, W, C) filled from mask-weighted means of successively coarser levels,
    as `meshkit.bake.push_pull_fill` (float64 sums; the result has `texture`'s dtype)."""
    height, width = mask.shape
    weight = mask.to(torch.float64)[..., None]
    levels = []  # (value sums, weight sums) from half size down to 1 x 1
    value = texture.double() * weight
    while max(value.shape[:2]) > 1:
        value, weight = _half(value), _half(weight)
        levels.append((value, weight))
    if not levels:
        return torch.where(mask[..., None], texture, torch.zeros_like(texture))
    top_value, top_weight = levels[-1]
    filled = top_value / top_weight.clamp(min=1e-300)
    for value, weight in reversed(levels[:-1]):
        filled = torch.where(weight > 0, value / weight.clamp(min=1e-300),
                             _upsample(filled, *value.shape[:2]))
    return torch.where(mask[..., None], texture, _upsample(filled, height, width).to(texture.dtype))


def bake_on_device(uv_mesh: UVMesh, reference: tuple[np.ndarray, np.ndarray], sampler: Callable[[Any], Any],
                   texture_size: int, device: Any) -> meshkit.BakeResult:
    """Attribute texture (H, W, C) baked on `device`: each covered texel's point snapped to the dense reference
    surface, `sampler` (tensor in, tensor out on `device`) evaluated there, empty texels touching a chart set from
    its edge (`dilate_edges`) and the rest filled by push-pull."""
    vertices = torch.as_tensor(uv_mesh.vertices, dtype=torch.float64, device=device)
    faces = torch.as_tensor(uv_mesh.faces, device=device)
    face_id, bary = meshkit.rasterize_uv(torch.as_tensor(uv_mesh.uvs, device=device), faces, texture_size)
    covered = face_id >= 0
    points = torch.einsum("nk,nkc->nc", bary[covered].double(), vertices[faces[face_id[covered].long()]])
    values = sampler(meshkit.BVH(*reference).closest_surface_point(points))
    texture = torch.zeros(covered.shape + (values.shape[1],), dtype=torch.float32, device=device)
    texture[covered] = values.float()
    if bool(covered.any()):
        texture = push_pull(*dilate_edges(texture, covered))
    return meshkit.BakeResult(texture=texture.cpu().numpy(), mask=covered.cpu().numpy())
