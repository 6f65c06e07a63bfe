"""Turntable videos and multi-map previews of generated meshes, with upstream's names, defaults and frame keys.

Frames come back as uint8 (H, W, 3) arrays in a dict of lists keyed by map: `shaded` (or `shaded_NAME` for a dict
of environment maps), `normal`, `clay`, `base_color`, `metallic`, `roughness`, `alpha`, `mask`. Rendering runs on
the CPU (meshkit's rasterizer), so it needs no GPU, nvdiffrast or CUDA extensions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..renderers import EnvMap, prepare_mesh, render_pbr

DEFAULT_OPTIONS = {"resolution": 512, "ssaa": 1, "bg_color": (0.0, 0.0, 0.0)}


def yaw_pitch_r_fov_to_extrinsics_intrinsics(
    yaws: float | list[float], pitchs: float | list[float], rs: float | list[float], fovs: float | list[float]
) -> tuple[Any, Any]:
    """Cameras on a Z-up orbit looking at the origin: (extrinsics (4, 4), intrinsics (3, 3)) tensors, or lists of
    them when `yaws` is a list. Yaw 0 looks from +Y, pitch raises the eye; `fovs` in degrees."""
    from meshkit.render import intrinsics_from_fov, look_at

    single = not isinstance(yaws, list)
    yaws, pitchs = ([yaws], [pitchs]) if single else (yaws, pitchs)
    rs = rs if isinstance(rs, list) else [rs] * len(yaws)
    fovs = fovs if isinstance(fovs, list) else [fovs] * len(yaws)
    extrinsics, intrinsics = [], []
    for yaw, pitch, radius, fov in zip(yaws, pitchs, rs, fovs, strict=True):
        eye = radius * np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
        extrinsics.append(torch.as_tensor(look_at(eye, np.zeros(3)), dtype=torch.float32))
        intrinsics.append(torch.as_tensor(intrinsics_from_fov(fov), dtype=torch.float32))
    return (extrinsics[0], intrinsics[0]) if single else (extrinsics, intrinsics)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def render_frames(sample: Any, extrinsics: list[Any], intrinsics: list[Any], options: dict[str, Any] | None = None,
                  verbose: bool = True, envmap: EnvMap | dict[str, EnvMap] | None = None,
                  use_envmap_bg: bool = False) -> dict[str, list[np.ndarray]]:
    """Render `sample` (a MeshWithVoxel) from each camera; `options` sets `resolution` (512), `ssaa` (1, supersampling
    factor) and `bg_color`. Without `envmap` there is no `shaded` map."""
    settings = {**DEFAULT_OPTIONS, **(options or {})}
    unknown = set(settings) - set(DEFAULT_OPTIONS)
    if unknown:
        raise ValueError(f"unknown render options {sorted(unknown)}; known: {sorted(DEFAULT_OPTIONS)}")
    if len(extrinsics) != len(intrinsics):
        raise ValueError(f"{len(extrinsics)} extrinsics but {len(intrinsics)} intrinsics")
    prepared = prepare_mesh(sample)
    frames: dict[str, list[np.ndarray]] = {}
    for extr, intr in tqdm(zip(extrinsics, intrinsics, strict=True), total=len(extrinsics), desc="Rendering",
                           disable=not verbose):
        maps = render_pbr(prepared, extr, intr, int(settings["resolution"]), envmap, int(settings["ssaa"]),
                          tuple(settings["bg_color"]), use_envmap_bg)
        for key, image in maps.items():
            frames.setdefault(key, []).append(_to_uint8(image))
    return frames


def render_video(sample: Any, resolution: int = 1024, bg_color: tuple[float, float, float] = (0, 0, 0),
                 num_frames: int = 120, r: float = 2, fov: float = 40, **kwargs: Any) -> dict[str, list[np.ndarray]]:
    """A turntable of `num_frames` views: one full turn of yaw while the pitch swings 0.25 +- 0.5 rad once, at
    distance `r` with a `fov`-degree lens (upstream's defaults). `kwargs` go to `render_frames` (e.g. `envmap`,
    `verbose`, `options={"ssaa": 2}`)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    turn = np.linspace(0, 2 * np.pi, num_frames, endpoint=False)
    yaws = (np.pi / 2 - turn).tolist()
    pitchs = (0.25 + 0.5 * np.sin(turn)).tolist()
    extrinsics, intrinsics = yaw_pitch_r_fov_to_extrinsics_intrinsics(yaws, pitchs, r, fov)
    options = {**kwargs.pop("options", {}), "resolution": resolution, "bg_color": bg_color}
    return render_frames(sample, extrinsics, intrinsics, options, **kwargs)


def make_pbr_vis_frames(result: dict[str, list[np.ndarray]], resolution: int = 1024) -> list[np.ndarray]:
    """Compose preview frames: shaded and normal on top (each `resolution` square), base colour, metallic,
    roughness and alpha below at half size; every frame is (1.5 * resolution, 2 * resolution, 3) uint8."""
    needed = ("shaded", "normal", "base_color", "metallic", "roughness", "alpha")
    missing = [key for key in needed if key not in result]
    if missing:
        hint = " (render with envmap=EnvMap...)" if "shaded" in missing else ""
        raise ValueError(f"make_pbr_vis_frames needs the maps {', '.join(missing)}{hint}")
    if resolution < 2 or resolution % 2:
        raise ValueError(f"resolution must be an even number of pixels, got {resolution}")
    half = resolution // 2

    def sized(image: np.ndarray, size: int) -> np.ndarray:
        return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))

    frames = []
    for index in range(len(result["shaded"])):
        top = [sized(result[key][index], resolution) for key in ("shaded", "normal")]
        bottom = [sized(result[key][index], half) for key in needed[2:]]
        frames.append(np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0))
    return frames
