"""Textured mesh -> per-voxel PBR attributes (base colour, metallic, roughness, alpha, emissive, normal) as uint8.

Every voxel touched by a triangle's grid-line crossings receives a sample of that triangle's material at the
voxel centre projected onto the triangle; samples from all triangles are averaged with weight 1 - plane distance.
Per-triangle frames and mip levels are computed here; the per-voxel work runs natively (ovoxel._attr).
"""

from __future__ import annotations

import numpy as np

from .._attr import voxelize_attributes
from ..mesh_loading import MeshPart, PbrMaterial, load_parts, scene_bounds
from .grid_spec import resolve_grid
from .texture_sampling import MipTexture, as_linear_image

ATTRIBUTE_CHANNELS = {"base_color": 3, "metallic": 1, "roughness": 1, "emissive": 3, "alpha": 1, "normal": 3}
# The channels the native pass reads from each texture slot: metallic-roughness keeps only G (roughness) and B
# (metallic), so an interleaved texture need not store the unused R (occlusion at most).
SLOTS = {"base_color_texture": slice(0, 4), "metallic_roughness_texture": slice(1, 3), "emissive_texture": slice(0, 3),
         "normal_texture": slice(0, 3)}


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


class MaterialTextures:
    """A material's textures with those of one side interleaved into one texture (sampled once per lookup); each
    slot contributes the channels SLOTS names (views: no copies)."""

    def __init__(self, material: PbrMaterial) -> None:
        images = {}
        for slot, channels in SLOTS.items():
            image = getattr(material, slot)
            if image is not None:
                image = as_linear_image(image)
                if image.shape[2] < channels.stop:
                    raise ValueError(f"{slot} needs at least {channels.stop} channels, got {image.shape[2]}")
                images[slot] = image[..., channels]
        by_side: dict[int, list[np.ndarray]] = {}
        for image in images.values():
            by_side.setdefault(image.shape[0], []).append(image)
        sides = list(by_side)
        self.textures = [MipTexture(group) for group in by_side.values()]
        self.index, self.offset, self.log2_side = [-1] * len(SLOTS), [0] * len(SLOTS), [0.0] * len(SLOTS)
        filled = dict.fromkeys(sides, 0)  # channels already taken in each interleaved texture
        for k, slot in enumerate(SLOTS):
            if slot in images:
                side = images[slot].shape[0]
                self.index[k], self.offset[k], self.log2_side[k] = sides.index(side), filled[side], np.log2(side)
                filled[side] += images[slot].shape[2]


def _part_triangles(part: MeshPart, origin: np.ndarray, voxel_extent: float, mip_offset: float,
                    textures: MaterialTextures) -> dict[str, np.ndarray]:
    """Per-triangle native inputs of one part; zero-area faces carry no surface and are dropped."""
    corners = part.vertices[part.faces] - origin
    solid = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1) > 0
    faces, corners = part.faces[solid], corners[solid].astype(np.float32)
    uvs = np.zeros((len(faces), 3, 2)) if part.uv is None else part.uv[faces]
    tangent, bitangent, normal, footprint = _triangle_frames(corners.astype(np.float64), uvs, voxel_extent)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.log2(footprint) + mip_offset
    return {"triangles": corners, "uvs": uvs, "normals": part.vertex_normals[faces],
            "frames": np.stack([tangent, bitangent, normal], axis=1),
            "mip_levels": np.stack([level + log2_side for log2_side in textures.log2_side], axis=1)}


def _material_factors(material: PbrMaterial) -> np.ndarray:
    """Base colour RGBA, metallic, roughness, emissive RGB and alpha cutoff as one float64 row."""
    return np.concatenate([np.asarray(material.base_color_factor, np.float64)[:4],
                           [material.metallic_factor, material.roughness_factor],
                           np.asarray(material.emissive_factor, np.float64)[:3], [material.alpha_cutoff]])


def textured_mesh_to_volumetric_attr(
    mesh_or_path,
    grid_size: int | tuple[int, int, int] | None = None,
    voxel_size: float | tuple[float, float, float] | None = None,
    aabb=None,
    mip_level_offset: float = 0.0,
    num_threads: int = 0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Voxelize a textured mesh's PBR materials: int32 (N, 3) coords and uint8 attributes (see ATTRIBUTE_CHANNELS).

    Give `grid_size` or `voxel_size`; `aabb` ((2, 3), default the mesh bounds) places the grid. Coordinates are
    sorted lexicographically. `num_threads` caps the native threads (0: all OpenMP threads); it never changes the
    result.
    """
    parts = load_parts(mesh_or_path)
    bounds = scene_bounds(parts) if aabb is None else None
    origin, voxel, cells = resolve_grid(aabb if aabb is not None else bounds, grid_size, voxel_size)
    textures, slots, offsets, tables = [], [], [], []
    for index, part in enumerate(parts):
        own = MaterialTextures(part.material)
        slots.append([-1 if i < 0 else i + len(textures) for i in own.index])
        offsets.append(own.offset)
        textures += [texture.native for texture in own.textures]
        table = _part_triangles(part, origin, float(voxel.max()), mip_level_offset, own)
        tables.append(table | {"material_ids": np.full(len(table["triangles"]), index, np.int32)})
    inputs = {key: np.concatenate([t[key] for t in tables]) for key in tables[0]}
    coords, values = voxelize_attributes(
        **inputs, factors=np.stack([_material_factors(p.material) for p in parts]),
        alpha_modes=np.array([p.material.alpha_mode for p in parts], np.int32), texture_slots=np.array(slots, np.int32),
        channel_offsets=np.array(offsets, np.int32), textures=textures, voxel_size=voxel.tolist(),
        grid_size=cells.tolist(), num_threads=num_threads)
    return coords, dict(zip(ATTRIBUTE_CHANNELS, values, strict=True))
