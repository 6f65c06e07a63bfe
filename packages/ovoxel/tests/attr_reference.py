"""The previous vectorised-numpy attribute voxelizer, kept as the tested reference for the native one (ovoxel._attr).

Same algorithm as ovoxel.convert.volumetric_attr, one numpy array per step; the tests require identical bytes.
"""

from __future__ import annotations

import numpy as np
from ovoxel._attr import triangle_voxel_pairs
from ovoxel.convert.grid_spec import resolve_grid
from ovoxel.convert.texture_sampling import FILTER_LINEAR, FILTER_NEAREST, WRAP_CLAMP, WRAP_MIRROR, WRAP_REPEAT
from ovoxel.convert.texture_sampling import _square_power_of_two as square_power_of_two
from ovoxel.convert.volumetric_attr import ATTRIBUTE_CHANNELS, _triangle_frames
from ovoxel.mesh_loading import MeshPart, PbrMaterial, load_parts, scene_bounds


class ReferenceTexture:
    """numpy texture: truncating box mip chain, bilinear float32 taps blended across mips in float64."""

    def __init__(self, image: np.ndarray, filter_mode: int = FILTER_LINEAR, wrap: int = WRAP_REPEAT) -> None:
        image = np.asarray(image, dtype=np.uint8)
        image = image[..., None] if image.ndim == 2 else image
        self.filter_mode, self.wrap = filter_mode, wrap
        self.levels = [image]
        if filter_mode == FILTER_LINEAR:
            self.levels = [square_power_of_two(image)]
            while self.levels[-1].shape[0] > 1:
                level = self.levels[-1].astype(np.uint32)
                summed = level[0::2, 0::2] + level[1::2, 0::2] + level[0::2, 1::2] + level[1::2, 1::2]
                self.levels.append((summed // 4).astype(np.uint8))
        self.size = self.levels[0].shape[0]

    def _wrap(self, index: np.ndarray, extent: int) -> np.ndarray:
        if self.wrap == WRAP_CLAMP:
            return np.clip(index, 0, extent - 1)
        if self.wrap == WRAP_MIRROR:
            folded = np.mod(index, 2 * extent)
            return np.where(folded < extent, folded, 2 * extent - folded - 1)
        return np.mod(index, extent)

    def _sample_level(self, level: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        texels = self.levels[level]
        height, width = texels.shape[:2]
        x, y = u * width, (1.0 - v) * height
        if self.filter_mode == FILTER_NEAREST:
            return texels[self._wrap(np.floor(y).astype(np.int64), height),
                          self._wrap(np.floor(x).astype(np.int64), width)] / 255.0
        x0, y0 = np.floor(x - 0.5).astype(np.int64), np.floor(y - 0.5).astype(np.int64)
        wx, wy = (x - x0 - 0.5)[:, None].astype(np.float32), (y - y0 - 0.5)[:, None].astype(np.float32)
        xa, xb = self._wrap(x0, width), self._wrap(x0 + 1, width)
        ya, yb = self._wrap(y0, height), self._wrap(y0 + 1, height)
        flat = texels.reshape(height * width, -1)
        top = (1 - wx) * flat.take(ya * width + xa, axis=0) + wx * flat.take(ya * width + xb, axis=0)
        bottom = (1 - wx) * flat.take(yb * width + xa, axis=0) + wx * flat.take(yb * width + xb, axis=0)
        return ((1 - wy) * top + wy * bottom) / np.float32(255.0)

    def sample(self, u: np.ndarray, v: np.ndarray, mip_level: np.ndarray) -> np.ndarray:
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        out = np.empty((u.size, self.levels[0].shape[2]), dtype=np.float64)
        last = len(self.levels) - 1
        level = np.where(np.isfinite(mip_level), mip_level, 0.0)
        level = np.clip(level, 0.0, float(last)) if last else np.zeros_like(level)
        lower = np.minimum(np.floor(level).astype(np.int64), last)
        fraction = level - lower
        for index in np.unique(lower):
            rows = np.nonzero(lower == index)[0]
            value = self._sample_level(int(index), u[rows], v[rows])
            if index < last:
                blend = fraction[rows, None]
                value = (1 - blend) * value + blend * self._sample_level(int(index) + 1, u[rows], v[rows])
            out[rows] = value
        return out


def _barycentrics(points: np.ndarray, corners: np.ndarray, normal: np.ndarray):
    # np.einsum("ij,ij->i") as the previous implementation wrote it; numpy 2.x on x86-64 sums x, z, then y there,
    # spelled out so the reference does not depend on einsum's SIMD path.
    offset = points - corners[:, 0]
    distance = (offset[:, 0] * normal[:, 0] + offset[:, 2] * normal[:, 2]) + offset[:, 1] * normal[:, 1]
    projected = points - distance[:, None] * normal
    ab, ac, ap = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], projected - corners[:, 0]
    d00, d01, d11 = (ab * ab).sum(1), (ab * ac).sum(1), (ac * ac).sum(1)
    d20, d21 = (ap * ab).sum(1), (ap * ac).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = d00 * d11 - d01 * d01
        v = (d11 * d20 - d01 * d21) / denom
        w = (d00 * d21 - d01 * d20) / denom
    return np.stack([1 - v - w, v, w], axis=1), distance


def _textured(texture: ReferenceTexture | None, channels: int, uv, level) -> np.ndarray:
    if texture is None:
        return np.ones((len(uv), channels))
    return texture.sample(uv[:, 0], uv[:, 1], level + np.log2(texture.size))


def _material_samples(material: PbrMaterial, uv, footprint, mip_offset, frame, vertex_normal):
    textures = {key: None if image is None else ReferenceTexture(image) for key, image in (
        ("base", material.base_color_texture), ("mr", material.metallic_roughness_texture),
        ("emissive", material.emissive_texture), ("normal", material.normal_texture))}
    with np.errstate(divide="ignore", invalid="ignore"):
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
        with np.errstate(divide="ignore", invalid="ignore"):
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)
    return {"base_color": base[:, :3] * material.base_color_factor[:3],
            "metallic": metal_rough[:, 2:3] * material.metallic_factor,
            "roughness": metal_rough[:, 1:2] * material.roughness_factor,
            "emissive": emissive, "alpha": alpha, "normal": normal}


def _part_samples(part: MeshPart, origin, voxel_size, grid_size, mip_offset):
    corners = part.vertices[part.faces] - origin
    solid = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1) > 0
    if not solid.all():
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
    values = _material_samples(part.material, uv, footprint[owners], mip_offset,
                               (tangent[owners], bitangent[owners]), vertex_normal)
    return coords, 1.0 - distance, values


def _quantize(values: np.ndarray, signed: bool) -> np.ndarray:
    scaled = (values * 0.5 + 0.5 if signed else values) * 255.0
    return np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)


def reference_volumetric_attr(mesh_or_path, grid_size=None, voxel_size=None, aabb=None, mip_level_offset=0.0):
    """Same contract as ovoxel.textured_mesh_to_volumetric_attr."""
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
