"""Headless CPU mesh renderer: normal, clay, base-colour and environment-lit (split-sum PBR) images."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _texturing
from ..mesh import vertex_normals
from ..validation import check_mesh, to_numpy
from .cameras import Camera
from .envmap import PrefilteredEnvironment, sample_equirect

MODES = ("normal", "clay", "base_color", "shaded")
_CLAY_ALBEDO = 0.7


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup with clamped edges; texel (i, j) centre at ``u = (j + .5) / W``, ``v = (i + .5) / H``."""
    height, width = texture.shape[:2]
    x = np.clip(uv[:, 0] * width - 0.5, 0, width - 1)
    y = np.clip(uv[:, 1] * height - 0.5, 0, height - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    return ((1 - fy) * ((1 - fx) * texture[y0, x0] + fx * texture[y0, x1])
            + fy * ((1 - fx) * texture[y1, x0] + fx * texture[y1, x1]))


def _as_float_texture(texture: Any, name: str) -> np.ndarray:
    array = to_numpy(texture, name)
    if array.ndim != 3:
        raise ValueError(f"{name} must have shape (H, W, C), got {tuple(array.shape)}")
    return array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)


def _surface_attribute(per_vertex: Any, texture: Any, uvs: np.ndarray | None, corner_weights: tuple, name: str,
                       default: np.ndarray) -> np.ndarray:
    """Per-pixel attribute from a per-vertex array or a UV texture (needs ``uvs``), else ``default``."""
    faces, face_id, bary = corner_weights
    if texture is not None:
        if uvs is None:
            raise ValueError(f"{name} texture needs uvs")
        uv = np.einsum("nk,nkc->nc", bary, uvs[faces[face_id]])
        return sample_texture(_as_float_texture(texture, f"{name} texture"), uv)
    if per_vertex is not None:
        values = to_numpy(per_vertex, name).astype(np.float64)
        values = values / 255.0 if to_numpy(per_vertex, name).dtype == np.uint8 else values
        return np.einsum("nk,nkc->nc", bary, values.reshape(len(values), -1)[faces[face_id]])
    return np.broadcast_to(default, (len(face_id), len(default)))


def environment_brdf(n_dot_v: np.ndarray, roughness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale and bias applied to F0 by the pre-integrated GGX BRDF (a curve-fitted analytic approximation)."""
    c0 = np.array([-1.0, -0.0275, -0.572, 0.022])
    c1 = np.array([1.0, 0.0425, 1.04, -0.04])
    r = roughness[:, None] * c0 + c1
    a004 = np.minimum(r[:, 0] * r[:, 0], np.exp2(-9.28 * n_dot_v)) * r[:, 0] + r[:, 1]
    return a004 * -1.04 + r[:, 2], a004 * 1.04 + r[:, 3]


def shade_environment(base: np.ndarray, metallic: np.ndarray, roughness: np.ndarray, normal: np.ndarray,
                      view: np.ndarray, environment: PrefilteredEnvironment) -> np.ndarray:
    """Split-sum image-based lighting: diffuse from irradiance, specular from the mip level matching roughness."""
    n_dot_v = np.clip(np.einsum("nc,nc->n", normal, view), 1e-4, 1.0)
    reflected = 2 * n_dot_v[:, None] * normal - view
    levels = environment.specular_levels
    position = roughness * (len(levels) - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, len(levels) - 1)
    prefiltered = np.zeros_like(base)
    for level in np.unique(np.concatenate([lower, upper])):
        weight = np.where(lower == level, 1 - (position - lower), 0) + np.where(upper == level, position - lower, 0)
        weight = np.where(lower == upper, lower == level, weight)
        picked = weight > 0
        prefiltered[picked] += weight[picked, None] * sample_equirect(levels[level], reflected[picked])
    f0 = 0.04 * (1 - metallic[:, None]) + base * metallic[:, None]
    scale, bias = environment_brdf(n_dot_v, roughness)
    diffuse = base * (1 - metallic[:, None]) * sample_equirect(environment.irradiance, normal)
    return diffuse + prefiltered * (f0 * scale[:, None] + bias[:, None])


def render_mesh(vertices: Any, faces: Any, camera: Camera, resolution: int | tuple[int, int], *,
                modes: tuple[str, ...] = MODES, normals: Any = None, uvs: Any = None, vertex_colors: Any = None,
                base_color_texture: Any = None, metallic_roughness: Any = None,
                metallic_roughness_texture: Any = None, environment: PrefilteredEnvironment | None = None,
                background: float = 0.0) -> dict[str, np.ndarray]:
    """Render ``modes`` of a mesh seen by ``camera`` at ``resolution`` (int or (H, W)); returns float32 images keyed by
    mode plus ``mask`` and ``depth``. Normals are world-space, shown as ``0.5 + 0.5 n``; ``shaded`` needs
    ``environment`` and is linear HDR. ``metallic_roughness`` per vertex is (V, 2) (metallic, roughness); the
    texture follows glTF (roughness in G, metallic in B)."""
    v, f = check_mesh(vertices, faces)
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown render modes {sorted(unknown)}; choose from {MODES}")
    if "shaded" in modes and environment is None:
        raise ValueError("the 'shaded' mode needs an environment (prefilter_environment(load_exr(path)))")
    height, width = (resolution, resolution) if np.isscalar(resolution) else tuple(resolution)
    extrinsics, intrinsics = np.asarray(camera.extrinsics, float), np.asarray(camera.intrinsics, float)
    if extrinsics.shape != (4, 4) or intrinsics.shape != (3, 3):
        raise ValueError("camera needs (4, 4) extrinsics and (3, 3) intrinsics")
    in_camera = v @ extrinsics[:3, :3].T + extrinsics[:3, 3]
    depth_safe = np.where(np.abs(in_camera[:, 2]) > 1e-12, in_camera[:, 2], 1e-12)
    screen = np.stack([(intrinsics[0, 0] * in_camera[:, 0] / depth_safe + intrinsics[0, 2]) * width,
                       (intrinsics[1, 1] * in_camera[:, 1] / depth_safe + intrinsics[1, 2]) * height,
                       in_camera[:, 2]], axis=1)
    face_id, bary, depth = _texturing.rasterize_screen(screen, f, int(width), int(height))
    mask = face_id >= 0
    hit, weights = face_id[mask], bary[mask].astype(np.float64)
    uv = None if uvs is None else to_numpy(uvs, "uvs").astype(np.float64)
    corner = (f, hit, weights)
    n = vertex_normals(v, f) if normals is None else to_numpy(normals, "normals").astype(np.float64)
    normal = np.einsum("nk,nkc->nc", weights, n[f[hit]])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    eye = -extrinsics[:3, :3].T @ extrinsics[:3, 3]
    position = np.einsum("nk,nkc->nc", weights, v[f[hit]])
    view = eye - position
    view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-12)
    normal = np.where(np.einsum("nc,nc->n", normal, view)[:, None] < 0, -normal, normal)  # back faces face us
    images: dict[str, np.ndarray] = {"mask": mask, "depth": np.where(mask, depth, np.inf).astype(np.float32)}

    def canvas(values: np.ndarray) -> np.ndarray:
        image = np.full((height, width, values.shape[1]), background, np.float32)
        image[mask] = values
        return image

    if "normal" in modes:
        images["normal"] = canvas(0.5 + 0.5 * normal)
    if "clay" in modes:
        clay = _CLAY_ALBEDO * (0.25 + 0.75 * np.clip(np.einsum("nc,nc->n", normal, view), 0, 1))
        images["clay"] = canvas(np.repeat(clay[:, None], 3, axis=1))
    if "base_color" in modes or "shaded" in modes:
        base = _surface_attribute(vertex_colors, base_color_texture, uv, corner, "base_color", np.ones(3))
        if "base_color" in modes:
            images["base_color"] = canvas(base)
        if "shaded" in modes:
            mr = _surface_attribute(metallic_roughness, metallic_roughness_texture, uv, corner, "metallic_roughness",
                                    np.array([0.0, 0.5]))
            metallic = mr[:, 2] if metallic_roughness_texture is not None else mr[:, 0]
            roughness = mr[:, 1]
            images["shaded"] = canvas(shade_environment(base[:, :3], np.clip(metallic, 0, 1),
                                                        np.clip(roughness, 0, 1), normal, view, environment))
    return images
