"""The texture half of `to_glb`: UV layout, bake of the attribute volume into texel space, glTF PBR material."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import meshkit
import numpy as np


class UVMesh(NamedTuple):
    """The mesh split on UV seams: positions, faces, UVs and vertex normals of the unsplit mesh carried over."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    normals: np.ndarray


def unwrap(vertices: np.ndarray, faces: np.ndarray, texture_size: int) -> UVMesh:
    """Chart and pack the mesh for a `texture_size` square texture; normals come from the unsplit mesh so seams
    do not show in the shading."""
    layout = meshkit.unwrap_uv(vertices, faces, texture_size=texture_size, gutter=2)
    normals = np.asarray(meshkit.vertex_normals(vertices, faces))[layout.vertex_map]
    return UVMesh(vertices[layout.vertex_map], layout.faces, layout.uvs, normals)


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
