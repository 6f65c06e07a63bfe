"""UV-space rasterization: which triangle covers each texel centre, and where (barycentric weights).

Texel ``(i, j)`` of an ``H x W`` texture has its centre at ``u = (j + 0.5) / W``, ``v = (i + 0.5) / H``; a centre on
a shared edge counts as inside, so every triangle touching a texel centre covers it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _texturing
from .gpu import cuda_device
from .validation import check_faces, to_numpy


def rasterize_uv(uvs: Any, faces: Any, texture_size: int | tuple[int, int]) -> tuple[Any, Any]:
    """Rasterize triangles given by per-vertex ``uvs`` (V, 2) into a texture of ``texture_size`` (int or (H, W)).

    Returns ``face_id`` (H, W) int32 (-1 where no triangle covers the texel centre) and ``barycentric`` (H, W, 3)
    float32 weights of the face's three corners; overlapping triangles resolve to the highest face id. With ``uvs``
    a CUDA tensor the same rasterization runs on the GPU (Triton) and both come back as tensors on its device.
    """
    uv = to_numpy(uvs, "uvs")
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ValueError(f"uvs must have shape (V, 2), got {tuple(uv.shape)}")
    if not np.issubdtype(uv.dtype, np.number) or not np.isfinite(uv).all():
        raise ValueError("uvs must hold finite numbers")
    f = check_faces(faces, len(uv))
    height, width = (texture_size, texture_size) if np.isscalar(texture_size) else tuple(texture_size)
    if int(height) != height or int(width) != width or height <= 0 or width <= 0:
        raise ValueError(f"texture_size must be a positive int or (H, W) pair of them, got {texture_size!r}")
    device = cuda_device(uvs)
    if device is not None:
        import torch

        from .gpu.raster_triton import rasterize_uv_triton

        return rasterize_uv_triton(torch.from_numpy(uv.astype(np.float64)).to(device), torch.from_numpy(f).to(device),
                                   int(height), int(width))
    return _texturing.rasterize_uv(uv.astype(np.float64), f, int(width), int(height))
