"""A tiny procedural textured mesh bundled with the package, the default input of `ovoxel demo`."""

from __future__ import annotations

import numpy as np
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial


def demo_mesh(subdivisions: int = 3, texture_size: int = 32) -> trimesh.Trimesh:
    """A unit-diameter icosphere with spherical UVs, a striped base-colour texture and a metal-roughness map."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.5)
    direction = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    uv = np.stack([0.5 + np.arctan2(direction[:, 1], direction[:, 0]) / (2 * np.pi),
                   0.5 + np.arcsin(np.clip(direction[:, 2], -1, 1)) / np.pi], axis=1)
    rows = np.arange(texture_size)
    stripes = (rows[:, None] // (texture_size // 8) % 2).repeat(texture_size, axis=1)
    colour = np.stack([200 * stripes + 40, np.full_like(stripes, 120), 220 - 180 * stripes,
                       np.full_like(stripes, 255)], axis=-1).astype(np.uint8)
    metal_rough = np.stack([np.zeros_like(stripes), 60 + 150 * stripes, 255 * (1 - stripes)], axis=-1).astype(np.uint8)
    material = PBRMaterial(baseColorTexture=Image.fromarray(colour, "RGBA"),
                           metallicRoughnessTexture=Image.fromarray(metal_rough, "RGB"),
                           metallicFactor=1.0, roughnessFactor=1.0)
    sphere.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return sphere
