"""Textured mesh -> per-voxel PBR attributes (base colour, metallic, roughness, alpha, emissive, normal) as uint8.

Every voxel touched by a triangle's grid-line crossings receives a sample of that triangle's material at the
voxel centre projected onto the triangle; samples from all triangles are averaged with weight 1 - plane distance.
"""

from __future__ import annotations

import numpy as np

from .._attr import triangle_voxel_pairs
from ..mesh_loading import MeshPart, PbrMaterial, load_parts, scene_bounds
from .grid_spec import resolve_grid
from .texture_sampling import MipTexture

ATTRIBUTE_CHANNELS = {"base_color": 3, "metallic": 1, "roughness": 1, "emissive": 3, "alpha": 1, "normal": 3}


def _triangle_frames(corners: np.ndarray, uvs: np.ndarray, voxel_extent: float):
    """Per-triangle tangent, bitangent, unit face normal and the UV span of one voxel (mip footprint)."""
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    d1, d2 = uvs[:, 1] - uvs[:, 0], uvs[:, 2] - uvs[:, 0]
    normal = np.cross(e1, e2)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    tangent = d2[:, 1:2] * e1 - d1[:, 1:2] * e2
    bitangent = d1[:, 0:1] * e2 - d2[:, 0:1] * e1
    t_len, b_len = np.linalg.norm(tangent, axis=1), np.linalg.norm(bitangent, axis=1)
    degenerate = (np.abs(det) < 1e-6) | (t_len == 0) | (b_len == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tangent = np.where(degenerate[:, None], [1.0, 0.0, 0.0], tangent / t_len[:, None])
        bitangent = np.where(degenerate[:, None], [0.0, 1.0, 0.0], bitangent / b_len[:, None])
        surface_per_uv = np.where(degenerate, 1e12, (t_len / det) * (b_len / det))
        footprint = voxel_extent / np.sqrt(surface_per_uv)
    return tangent, bitangent, normal, footprint


def _barycentrics(points: np.ndarray, corners: np.ndarray, normal: np.ndarray):
    """Unclamped barycentrics of `points` projected onto their triangles, and the signed plane distance."""
    distance = np.einsum("ij,ij->i", points - corners[:, 0], normal)
    projected = points - distance[:, None] * normal
    ab, ac, ap = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], projected - corners[:, 0]
    d00, d01, d11 = (ab * ab).sum(1), (ab * ac).sum(1), (ac * ac).sum(1)
    d20, d21 = (ap * ab).sum(1), (ap * ac).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = d00 * d11 - d01 * d01
        v = (d11 * d20 - d01 * d21) / denom
        w = (d00 * d21 - d01 * d20) / denom
    return np.stack([1 - v - w, v, w], axis=1), distance


def _textured(texture: MipTexture | None, channels: int, uv, level) -> np.ndarray:
    """All channels of one texture at the samples (ones where the material has no such texture)."""
    if texture is None:
        return np.ones((len(uv), channels))
    return texture.sample(uv[:, 0], uv[:, 1], level + np.log2(texture.size))


def _material_samples(material: PbrMaterial, textures: dict, uv, footprint, mip_offset, frame, vertex_normal):
    """glTF metal-roughness values for samples of one material; returns {attribute: float (n, C)}."""
    level = np.log2(footprint) + mip_offset
    base = _textured(textures["base"], 4, uv, level)
    metal_rough = _textured(textures["mr"], 3, uv, level)
    emissive = _textured(textures["emissive"], 3, uv, level)[:, :3] * material.emissive_factor
    alpha = np.ones((len(uv), 1))
    if material.alpha_mode != 0:
        alpha = base[:, 3:4] * material.base_color_factor[3]
        if material.alpha_mode == 1:
            alpha = (alpha >= material.alpha_cutoff).astype(np.float64)
    normal = vertex_normal
    if textures["normal"] is not None:
        local = _textured(textures["normal"], 3, uv, level) * 2 - 1
        tangent, bitangent = frame
        normal = local[:, :1] * tangent + local[:, 1:2] * bitangent + local[:, 2:3] * vertex_normal
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)
    return {"base_color": base[:, :3] * material.base_color_factor[:3],
            "metallic": metal_rough[:, 2:3] * material.metallic_factor,
            "roughness": metal_rough[:, 1:2] * material.roughness_factor,
            "emissive": emissive, "alpha": alpha, "normal": normal}


def _prepare_textures(material: PbrMaterial) -> dict:
    def mip(image):
        return None if image is None else MipTexture(image)
    return {"base": mip(material.base_color_texture), "mr": mip(material.metallic_roughness_texture),
            "emissive": mip(material.emissive_texture), "normal": mip(material.normal_texture)}


def _part_samples(part: MeshPart, origin, voxel_size, grid_size, mip_offset):
    """(voxel coords, weights, {attribute: values}) for every (triangle, voxel) pair of one part."""
    corners = part.vertices[part.faces] - origin
    solid = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1) > 0
    if not solid.all():  # zero-area faces carry no surface; skip them
        part = MeshPart(part.vertices, part.faces[solid], part.vertex_normals, part.uv, part.material)
        corners = corners[solid]
    owners, coords = triangle_voxel_pairs(corners.astype(np.float32), voxel_size.tolist(), grid_size.tolist())
    if owners.size == 0:
        return None
    corners = corners.astype(np.float32).astype(np.float64)
    uvs = np.zeros((len(part.faces), 3, 2)) if part.uv is None else part.uv[part.faces]
    tangent, bitangent, normal, footprint = _triangle_frames(corners, uvs, float(voxel_size.max()))
    centres = (coords + 0.5) * voxel_size
    bary, distance = _barycentrics(centres, corners[owners], normal[owners])
    uv = np.einsum("ij,ijk->ik", bary, uvs[owners])
    vertex_normal = np.einsum("ij,ijk->ik", bary, part.vertex_normals[part.faces][owners])
    values = _material_samples(part.material, _prepare_textures(part.material), uv, footprint[owners], mip_offset,
                               (tangent[owners], bitangent[owners]), vertex_normal)
    return coords, 1.0 - distance, values


def _quantize(values: np.ndarray, signed: bool) -> np.ndarray:
    scaled = (values * 0.5 + 0.5 if signed else values) * 255.0
    return np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)


def textured_mesh_to_volumetric_attr(
    mesh_or_path,
    grid_size: int | tuple[int, int, int] | None = None,
    voxel_size: float | tuple[float, float, float] | None = None,
    aabb=None,
    mip_level_offset: float = 0.0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Voxelize a textured mesh's PBR materials: int32 (N, 3) coords and uint8 attributes (see ATTRIBUTE_CHANNELS).

    Give `grid_size` or `voxel_size`; `aabb` ((2, 3), default the mesh bounds) places the grid. Coordinates are
    sorted lexicographically.
    """
    parts = load_parts(mesh_or_path)
    bounds = scene_bounds(parts) if aabb is None else None
    origin, voxel, cells = resolve_grid(aabb if aabb is not None else bounds, grid_size, voxel_size)
    gathered = [s for s in (_part_samples(p, origin, voxel, cells, mip_level_offset) for p in parts) if s]
    if not gathered:
        return np.zeros((0, 3), np.int32), {k: np.zeros((0, c), np.uint8) for k, c in ATTRIBUTE_CHANNELS.items()}
    coords = np.concatenate([g[0] for g in gathered])
    weights = np.concatenate([g[1] for g in gathered])
    keys = (coords[:, 0].astype(np.int64) << 42) | (coords[:, 1].astype(np.int64) << 21) | coords[:, 2]
    unique_keys, slot = np.unique(keys, return_inverse=True)
    total_weight = np.bincount(slot, weights=weights, minlength=unique_keys.size)
    attrs = {}
    for name, channels in ATTRIBUTE_CHANNELS.items():
        values = np.concatenate([g[2][name] for g in gathered]) * weights[:, None]
        summed = np.stack([np.bincount(slot, weights=values[:, c], minlength=unique_keys.size)
                           for c in range(channels)], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            attrs[name] = _quantize(summed / total_weight[:, None], signed=name == "normal")
    mask = (1 << 21) - 1
    out = np.stack([unique_keys >> 42, (unique_keys >> 21) & mask, unique_keys & mask], axis=1).astype(np.int32)
    return out, attrs
