"""CPU preview renderer for `MeshWithVoxel`: per-vertex PBR attributes sampled from the voxel volume, rasterised and
environment-lit by meshkit's renderer, returned as upstream's maps (shaded, normal, base colour, metallic, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .envmap import EnvMap

GAMMA = 2.2


@dataclass(frozen=True)
class PreparedMesh:
    """Geometry plus per-vertex channels (linear base colour 0:3, metallic 3, roughness 4, alpha 5) for rendering."""

    vertices: np.ndarray
    faces: np.ndarray
    channels: np.ndarray


def vertex_attributes(mesh: Any) -> torch.Tensor:
    """The attribute volume sampled trilinearly (in the voxel grid, existing voxels only) at every vertex: [V, C]."""
    from sparsetensor.ops import sample_sparse_volume

    coords = mesh.coords.long().cpu()
    coords = torch.cat([torch.zeros_like(coords[:, :1]), coords], dim=1)
    points = (mesh.vertices.double().cpu() - mesh.origin.double().cpu()) / mesh.voxel_size
    return sample_sparse_volume(coords, mesh.attrs.float().cpu(), points[None])[0]


def prepare_mesh(mesh: Any) -> PreparedMesh:
    """Sample `mesh`'s PBR channels at its vertices once, so many frames can be rendered from them."""
    if not all(hasattr(mesh, name) for name in ("vertices", "faces", "coords", "attrs", "layout", "voxel_size")):
        raise TypeError(f"expected a MeshWithVoxel (vertices, faces and a PBR voxel volume), got {type(mesh).__name__}")
    attrs = vertex_attributes(mesh).numpy() if mesh.vertices.shape[0] else np.zeros((0, mesh.attrs.shape[1]))

    def channel(name: str, default: float, width: int = 1) -> np.ndarray:
        if name not in mesh.layout:
            return np.full((len(attrs), width), default)
        return attrs[:, mesh.layout[name]]

    base = np.clip(channel("base_color", 1.0, 3), 0.0, 1.0) ** GAMMA
    channels = np.concatenate([base, channel("metallic", 0.0), channel("roughness", 0.5), channel("alpha", 1.0)], 1)
    vertices = mesh.vertices.detach().double().cpu().numpy()
    faces = mesh.faces.detach().long().cpu().numpy()
    return PreparedMesh(vertices, faces, np.clip(channels, 0.0, 1.0))


def aces_tonemap(x: np.ndarray) -> np.ndarray:
    """Narkowicz's fitted ACES filmic curve, HDR [0, inf) -> [0, 1]."""
    return np.clip((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0)


def _downsample(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image
    height, width = image.shape[0] // factor, image.shape[1] // factor
    return image.reshape(height, factor, width, factor, *image.shape[2:]).mean(axis=(1, 3))


def _view_directions(extrinsics: np.ndarray, intrinsics: np.ndarray, size: int) -> np.ndarray:
    """Unit world-space directions of the rays through every pixel centre, (size, size, 3)."""
    centres = (np.arange(size) + 0.5) / size
    y, x = np.meshgrid(centres, centres, indexing="ij")
    camera = np.stack([(x - intrinsics[0, 2]) / intrinsics[0, 0], (y - intrinsics[1, 2]) / intrinsics[1, 1],
                       np.ones_like(x)], axis=-1)
    world = camera @ extrinsics[:3, :3]  # rows times R == R^T applied to each direction
    return world / np.linalg.norm(world, axis=-1, keepdims=True)


def render_pbr(prepared: PreparedMesh, extrinsics: Any, intrinsics: Any, resolution: int,
               envmap: EnvMap | dict[str, EnvMap] | None = None, ssaa: int = 1,
               bg_color: tuple[float, float, float] = (0.0, 0.0, 0.0), use_envmap_bg: bool = False
               ) -> dict[str, np.ndarray]:
    """Render one view; float images in [0, 1]: `normal` (camera space, shown as -0.5 n + 0.5 like upstream),
    `clay`, `base_color`, `shaded` (ACES + gamma; `shaded_NAME` per entry of an envmap dict) as (H, W, 3) and
    `metallic`, `roughness`, `alpha`, `mask` as (H, W). Extrinsics are OpenCV world-to-camera, intrinsics
    normalised by the image size."""
    from meshkit.render import Camera, render_mesh

    envmaps = {} if envmap is None else envmap if isinstance(envmap, dict) else {"": envmap}
    extrinsics = np.asarray(torch.as_tensor(extrinsics).cpu(), np.float64)
    intrinsics = np.asarray(torch.as_tensor(intrinsics).cpu(), np.float64)
    size, background = resolution * ssaa, np.asarray(bg_color, np.float64)
    keys = [f"shaded_{name}" if name else "shaded" for name in envmaps]
    if prepared.faces.shape[0] == 0:
        mask = np.zeros((size, size))
        layers = {"normal": np.zeros((size, size, 3)), "clay": np.zeros((size, size, 3)),
                  "base": np.zeros((size, size, 6)), **{key: np.zeros((size, size, 3)) for key in keys}}
    else:
        camera = Camera(extrinsics, intrinsics)
        common = {"vertex_colors": prepared.channels, "metallic_roughness": prepared.channels[:, 3:5]}
        first = render_mesh(prepared.vertices, prepared.faces, camera, size,
                            modes=("normal", "clay", "base_color", *(("shaded",) if envmaps else ())),
                            environment=next(iter(envmaps.values())).prefiltered if envmaps else None, **common)
        mask = first["mask"].astype(np.float64)
        camera_normal = (first["normal"] * 2.0 - 1.0) @ extrinsics[:3, :3].T
        layers = {"normal": (0.5 - 0.5 * camera_normal) * mask[..., None], "clay": first["clay"],
                  "base": first["base_color"]}
        for index, (key, light) in enumerate(zip(keys, envmaps.values(), strict=True)):
            layers[key] = first["shaded"] if index == 0 else render_mesh(
                prepared.vertices, prepared.faces, camera, size, modes=("shaded",),
                environment=light.prefiltered, **common)["shaded"]
    inside = mask[..., None]
    if use_envmap_bg and envmaps:
        rays = _view_directions(extrinsics, intrinsics, size)
        for key, light in zip(keys, envmaps.values(), strict=True):
            layers[key] = layers[key] * inside + light.sample(rays) * (1 - inside)
    layers = {key: _downsample(np.asarray(value, np.float64), ssaa) for key, value in layers.items()}
    coverage = _downsample(mask, ssaa)
    outside = (1 - coverage)[..., None] * background
    base = layers.pop("base")
    out = {
        "normal": layers["normal"] + outside,
        "clay": layers["clay"] + outside,
        "base_color": np.clip(base[..., :3], 0, 1) ** (1 / GAMMA) + outside,
        "metallic": base[..., 3], "roughness": base[..., 4], "alpha": base[..., 5], "mask": coverage,
    }
    for key in keys:
        toned = aces_tonemap(layers[key]) ** (1 / GAMMA)
        out[key] = toned if use_envmap_bg else toned + outside
    return {key: np.clip(value, 0.0, 1.0).astype(np.float32) for key, value in out.items()}
