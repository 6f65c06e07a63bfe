"""Turntable preview frames of a generated asset: one JPEG per mode and frame, `<mode>_<frame>.jpg`, as the task
result (`ArtifactStore.previews`) serves them."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..renderers import BUILTIN_ENVMAPS, EnvMap, prepare_mesh, render_pbr
from ..utils.render_utils import yaw_pitch_r_fov_to_extrinsics_intrinsics
from .engine import ProgressCallback

#: The modes of the contract's result: three maps plus one environment-lit render per built-in HDRI.
PREVIEW_MODES = ("normal", "clay", "base_color", *(f"shaded_{name}" for name in BUILTIN_ENVMAPS))
#: Upstream demo's snapshot ring: distance 2, 36-degree lens, eye 20 degrees up, first view 16 degrees off axis.
CAMERA_RADIUS, CAMERA_FOV = 2.0, 36.0
CAMERA_PITCH, FIRST_YAW = math.radians(20.0), math.radians(-16.0)
JPEG_QUALITY = 90


@functools.cache
def builtin_envmaps() -> dict[str, EnvMap]:
    """The bundled environment maps, loaded (and later prefiltered) once per process."""
    return {name: EnvMap.builtin(name) for name in BUILTIN_ENVMAPS}


def turntable_cameras(frames: int) -> tuple[list[Any], list[Any]]:
    """`frames` views evenly around the vertical axis at a fixed pitch: (extrinsics, intrinsics) lists."""
    yaws = [FIRST_YAW + 2 * math.pi * index / frames for index in range(frames)]
    return yaw_pitch_r_fov_to_extrinsics_intrinsics(yaws, [CAMERA_PITCH] * frames, CAMERA_RADIUS, CAMERA_FOV)


def render_previews(mesh: Any, out_dir: Path, frames: int, size: int, progress: ProgressCallback) -> None:
    """Render every mode of `mesh` (a MeshWithVoxel) from `frames` turntable views at `size` pixels into `out_dir`;
    reports ("previews", frame, frames) after each view, so a cancelled task stops between views."""
    out_dir.mkdir(parents=True, exist_ok=True)
    prepared = prepare_mesh(mesh)
    envmaps = builtin_envmaps()
    for index, (extrinsics, intrinsics) in enumerate(zip(*turntable_cameras(frames), strict=True)):
        maps = render_pbr(prepared, extrinsics, intrinsics, size, envmaps)
        for mode in PREVIEW_MODES:
            pixels = np.round(np.clip(maps[mode], 0.0, 1.0) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(out_dir / f"{mode}_{index}.jpg", quality=JPEG_QUALITY)
        progress("previews", index + 1, frames)
