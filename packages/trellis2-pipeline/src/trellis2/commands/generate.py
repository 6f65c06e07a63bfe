"""`trellis2 generate`: read images, load the pipeline, and write one GLB (and optionally a preview video) per image."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..pipelines.image_preprocessing import OBJECT_ALPHA_THRESHOLD, has_transparency
from .errors import user_errors

VIDEO_FPS = 15


@dataclass(frozen=True)
class GlbOptions:
    """How `to_glb` turns a generated mesh into a game-ready asset."""

    decimation_target: int
    texture_size: int
    remesh: bool


def read_image(path: Path) -> Image.Image:
    """The image at `path`, fully decoded; refuses unreadable files and images whose alpha matte is empty."""
    try:
        with Image.open(path) as opened:
            image = opened.copy()
    except (UnidentifiedImageError, OSError) as error:
        raise click.ClickException(f"cannot read {path} as an image: {error}") from None
    if has_transparency(image):
        alpha = np.asarray(image.convert("RGBA"))[:, :, 3]
        if not (alpha > OBJECT_ALPHA_THRESHOLD * 255).any():
            raise click.ClickException(f"{path}: the image has no object (its alpha channel is fully transparent)")
    return image


def check_model_reference(model: str) -> None:
    """Refuse a local-looking model path that does not exist (a hub id is `owner/name`)."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise click.ClickException(f"--model {model}: expected a folder holding pipeline.json, got a file")
        return
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise click.ClickException(f"--model {model}: no such folder (a hub repository id looks like owner/name)")


def check_pipeline_type(name: str | None) -> None:
    """Refuse an unknown --pipeline-type before any model is loaded."""
    from ..pipelines.pipeline_types import pipeline_type

    if name is not None:
        try:
            pipeline_type(name)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--pipeline-type") from None


def load_pipeline(model: str, device: str, low_vram: bool | None) -> Any:
    """The pipeline from a folder or hub id (see `check_model_reference`) on `device` (float32 on the CPU), with
    readable errors."""
    from ..pipelines import Trellis2ImageTo3DPipeline

    dtype = torch.float32 if torch.device(device).type == "cpu" else None
    with user_errors(f"loading {model}"):
        return Trellis2ImageTo3DPipeline.from_pretrained(model, low_vram=low_vram, device=device, dtype=dtype)


def sampler_overrides(steps: int | None) -> dict[str, dict[str, int]]:
    """Per-stage sampler parameters for `run` when the user set --steps."""
    if steps is None:
        return {}
    stages = ("sparse_structure_sampler_params", "shape_slat_sampler_params", "tex_slat_sampler_params")
    return {stage: {"steps": steps} for stage in stages}


def generate_mesh(pipeline: Any, image: Image.Image, path: Path, seed: int, pipeline_type: str | None,
                  steps: int | None) -> Any:
    """One `MeshWithVoxel` for `image`; memory and input problems become ClickExceptions naming `path`."""
    with user_errors(f"generating from {path}"):
        try:
            return pipeline.run(image, seed=seed, pipeline_type=pipeline_type, **sampler_overrides(steps))[0]
        except ValueError as error:  # no object, no background-removal model, unknown pipeline type ...
            raise click.ClickException(f"{path}: {error}") from None
        except OSError as error:  # typically the background-removal model could not be downloaded
            hint = "" if has_transparency(image) else (
                " (images without transparency need the background-removal model, downloaded on first use; an "
                "RGBA image with the object cut out needs none)")
            raise click.ClickException(f"{path}: {str(error).splitlines()[0]}{hint}") from None


def write_glb(mesh: Any, path: Path, options: GlbOptions) -> Path:
    """Bake and write `mesh` as a textured GLB at `path` (upstream's remesh settings when remeshing)."""
    remesh = {"remesh_band": 1, "remesh_project": 0} if options.remesh else {}
    try:
        asset = mesh.to_glb(decimation_target=options.decimation_target, texture_size=options.texture_size,
                            remesh=options.remesh, progress=True, **remesh)
    except ValueError as error:
        raise click.ClickException(f"GLB export of {path.name} failed: {error}") from None
    asset.export(path)
    return path


def write_video(mesh: Any, stem: Path, envmap: Any, resolution: int, num_frames: int) -> tuple[Path, str | None]:
    """Render the PBR turntable preview to `stem`.mp4 (H.264, sides padded to even), or to `stem`.gif when
    imageio-ffmpeg is missing; returns the path written and a note for the user when it fell back to GIF."""
    import imageio.v2 as imageio

    from ..utils import render_utils

    frames = render_utils.make_pbr_vis_frames(
        render_utils.render_video(mesh, resolution=resolution, num_frames=num_frames, envmap=envmap), resolution)
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        path = stem.with_suffix(".mp4")
        # H.264 in yuv420p needs even sides: pad instead of letting imageio rescale to multiples of 16.
        imageio.mimsave(path, [even_sized(frame) for frame in frames], fps=VIDEO_FPS, macro_block_size=2)
        return path, None
    path = stem.with_suffix(".gif")
    first, *rest = (Image.fromarray(frame) for frame in frames)
    first.save(path, save_all=True, append_images=rest, duration=round(1000 / VIDEO_FPS), loop=0)
    return path, ("MP4 needs imageio-ffmpeg (pip install 'trellis2-pipeline[video]' or pip install imageio-ffmpeg); "
                  f"wrote an animated GIF instead: {path}")


def even_sized(frame: np.ndarray) -> np.ndarray:
    """`frame` (H, W, C) with a black row/column appended where a side is odd (1.5 * resolution can be)."""
    return np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)))


def load_envmap(name_or_path: str) -> Any:
    """A bundled environment map by name, or one read from an .exr/.hdr file."""
    from ..renderers import BUILTIN_ENVMAPS, EnvMap

    try:
        if name_or_path in BUILTIN_ENVMAPS:
            return EnvMap.builtin(name_or_path)
        return EnvMap.from_file(name_or_path)
    except (FileNotFoundError, ValueError, ImportError) as error:
        raise click.ClickException(f"--envmap {name_or_path}: {error} (built-in maps: "
                                   f"{', '.join(BUILTIN_ENVMAPS)})") from None


def output_paths(images: tuple[Path, ...], output: Path) -> list[Path]:
    """Where each image's GLB goes: `output` itself when it names one .glb file, else `output`/STEM.glb (stems
    made unique)."""
    if output.suffix.lower() == ".glb":
        if len(images) != 1:
            raise click.ClickException(f"-o {output} names one file but {len(images)} images were given; "
                                       "pass a folder instead")
        return [output]
    paths, used = [], set()
    for image in images:
        stem, counter = image.stem, 1
        while stem in used:
            counter += 1
            stem = f"{image.stem}_{counter}"
        used.add(stem)
        paths.append(output / f"{stem}.glb")
    return paths
