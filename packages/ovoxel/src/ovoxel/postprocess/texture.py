"""The texture half of `to_glb`: UV layout, bake of the attribute volume into texel space, glTF PBR material."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import meshkit
import numpy as np
from meshkit import uv
from meshkit.validation import float_dtype_of

from .inputs import as_numpy, is_tensor


class UVMesh(NamedTuple):
    """The mesh split on UV seams: positions, faces, UVs and vertex normals of the unsplit mesh carried over; numpy
    arrays, or torch tensors on the device of the mesh `unwrap` got (`to_numpy` copies them to the host)."""

    vertices: Any
    faces: Any
    uvs: Any
    normals: Any

    def to_numpy(self) -> UVMesh:
        """The same mesh as numpy arrays (one device-to-host copy each for tensors)."""
        return UVMesh(*(as_numpy(array) for array in self))


def _tensor_vertex_normals(vertices: Any, faces: Any) -> Any:
    """`meshkit.vertex_normals` on the tensors' device: area-weighted face normals summed per vertex in a fixed
    order (`uv_torch.SegmentSums`, so the GPU result does not vary between runs), in the vertices' float dtype."""
    import torch
    from meshkit.uv_torch import TORCH_XP, SegmentSums

    corners = vertices.to(torch.float64)[faces]
    weighted = uv.cross_rows(TORCH_XP, corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    sums = SegmentSums(faces.reshape(-1), len(vertices))(weighted.repeat_interleave(3, 0))
    return uv.unit_rows(TORCH_XP, sums).to(getattr(torch, float_dtype_of(vertices).name))


def unwrap(vertices: Any, faces: Any, texture_size: int) -> UVMesh:
    """Chart and pack the mesh for a `texture_size` square texture; normals come from the unsplit mesh so seams
    do not show in the shading. Torch tensors (any device) are unwrapped on their device by meshkit's torch path
    (same layout as numpy) and the UVMesh holds tensors there, ready for the device bake."""
    if is_tensor(vertices) and is_tensor(faces):
        import torch
        from meshkit.uv_torch import unwrap_uv_torch

        faces = faces.to(vertices.device, torch.int64)
        layout = unwrap_uv_torch(vertices, faces, texture_size=texture_size, gutter=2)
        normals = _tensor_vertex_normals(vertices, faces)
    else:
        layout = meshkit.unwrap_uv(vertices, faces, texture_size=texture_size, gutter=2)
        normals = np.asarray(meshkit.vertex_normals(vertices, faces))
    return UVMesh(vertices[layout.vertex_map], layout.faces, layout.uvs, normals[layout.vertex_map])


def bake(uv_mesh: UVMesh, reference: tuple[np.ndarray, np.ndarray], sampler: Callable[[Any], Any],
         texture_size: int, device: Any = None) -> meshkit.BakeResult:
    """Attribute texture (H, W, C): each texel's point snapped to the dense reference surface, then sampled; on
    `device` (a torch device, with a tensor sampler) when given, else on the CPU."""
    if device is not None:
        from .device_bake import bake_on_device

        return bake_on_device(uv_mesh, reference, sampler, texture_size, device)
    return meshkit.bake_attributes((uv_mesh.vertices, uv_mesh.faces, uv_mesh.uvs), *reference, sampler,
                                   texture_size)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def material(baked: meshkit.BakeResult, layout: dict[str, slice], alpha_mode: str,
             double_sided: bool) -> meshkit.PBRMaterial:
    """glTF metal-roughness material: baseColor RGBA (alpha in A) and metallicRoughness (R 0, G roughness,
    B metallic), factors 1; `texel_mask` marks the baked texels."""
    texture = baked.texture
    base = _to_uint8(np.concatenate([texture[..., layout["base_color"]], texture[..., layout["alpha"]]], axis=-1))
    zeros = np.zeros(texture.shape[:2] + (1,), np.float32)
    packed = _to_uint8(np.concatenate([zeros, texture[..., layout["roughness"]], texture[..., layout["metallic"]]],
                                      axis=-1))
    return meshkit.PBRMaterial(base_color_texture=base, metallic_roughness_texture=packed, alpha_mode=alpha_mode,
                               double_sided=double_sided, texel_mask=baked.mask)
