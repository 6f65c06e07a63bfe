"""Offline self-test: write the tiny pipeline, run every pipeline type on it, export a GLB and render a preview,
and say what passed."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .tiny_pipeline import missing_requirements, write_tiny_pipeline

Echo = Callable[[str], None]


def selftest_image() -> Image.Image:
    """A 96x96 RGBA disc on a transparent background (needs no background removal)."""
    yy, xx = np.mgrid[:96, :96]
    pixels = np.zeros((96, 96, 4), np.uint8)
    pixels[(xx - 48) ** 2 + (yy - 48) ** 2 < 32**2] = (210, 130, 60, 255)
    return Image.fromarray(pixels, "RGBA")


def _report(echo: Echo, ok: bool, stage: str, detail: str) -> bool:
    echo(f"{'ok  ' if ok else 'FAIL'} {stage}: {detail}")
    return ok


def _check_glb(mesh, folder: Path, echo: Echo) -> bool:
    """Bake the mesh into a small textured GLB and check that it holds a mesh and a texture."""
    import pygltflib

    start = time.perf_counter()
    path = folder / "selftest.glb"
    mesh.to_glb(decimation_target=20_000, texture_size=128, remesh=True, remesh_band=1, remesh_project=0).export(path)
    gltf = pygltflib.GLTF2().load(str(path))
    faces = sum(gltf.accessors[p.indices].count // 3 for m in gltf.meshes for p in m.primitives)
    ok = faces > 0 and len(gltf.images) > 0
    return _report(echo, ok, "glb export", f"{faces} faces, {len(gltf.images)} textures, "
                   f"{path.stat().st_size // 1024} KiB in {time.perf_counter() - start:.1f} s")


def _check_preview(mesh, echo: Echo) -> bool:
    """Render two PBR preview frames under a bundled environment map; the object must show up in them (the tiny
    model's output is a scatter of voxel-sized fragments, so a frame covers only a few pixels of it)."""
    from ..renderers import EnvMap
    from ..utils import render_utils

    start = time.perf_counter()
    frames = render_utils.render_video(mesh, resolution=128, num_frames=2, envmap=EnvMap.builtin("forest"),
                                       verbose=False)
    composed = render_utils.make_pbr_vis_frames(frames, resolution=128)
    covered = sum(int((mask[..., 0] > 0).sum()) for mask in frames["mask"])
    ok = len(composed) == 2 and composed[0].shape == (192, 256, 3) and covered > 0
    return _report(echo, ok, "preview render", f"{len(composed)} frames of 128x128, the object on {covered} pixels, "
                   f"in {time.perf_counter() - start:.1f} s")


def run_selftest(device: str = "cpu", keep_model: str | Path | None = None, echo: Echo = print) -> bool:
    """Write the tiny pipeline (into `keep_model` if given, else a temporary folder), run each pipeline type on
    `device`, bake one result into a GLB and render a preview; report one line per stage through `echo` and return
    True when everything passed."""
    missing = missing_requirements(for_running=True)
    if missing:
        echo(f"FAIL environment: missing {', '.join(missing)}")
        return False
    from ..pipelines import PIPELINE_TYPES, Trellis2ImageTo3DPipeline

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(keep_model) if keep_model is not None else Path(scratch) / "tiny-trellis2"
        write_tiny_pipeline(folder, seed=0, steps=2)
        echo(f"ok   tiny pipeline written to {folder}")
        pipeline = Trellis2ImageTo3DPipeline.from_pretrained(folder, low_vram=False).to(device)
        echo(f"ok   pipeline loaded on {device}")
        passed, meshes = True, []
        for name in PIPELINE_TYPES:
            start = time.perf_counter()
            try:
                mesh = pipeline.run(selftest_image(), seed=0, pipeline_type=name)[0]
            except Exception as error:  # report every failure, keep checking the other types
                passed = _report(echo, False, name, f"{type(error).__name__}: {error}")
                continue
            finite = bool(torch.isfinite(mesh.vertices).all() and torch.isfinite(mesh.attrs).all())
            healthy = finite and mesh.faces.shape[0] > 0
            problem = "" if healthy else (" (non-finite values)" if not finite else " (empty mesh)")
            passed &= _report(echo, healthy, name, f"{mesh.faces.shape[0]} faces, {mesh.coords.shape[0]} voxels "
                              f"in {time.perf_counter() - start:.1f} s{problem}")
            if healthy:
                meshes.append(mesh.cpu())
        if not meshes:
            return _report(echo, False, "outputs", "no pipeline type produced a mesh to export and render")
        for stage, check in (("glb export", lambda: _check_glb(meshes[0], Path(scratch), echo)),
                             ("preview render", lambda: _check_preview(meshes[0], echo))):
            try:
                passed &= check()
            except Exception as error:  # a broken stage is a result to report, not a crash
                passed = _report(echo, False, stage, f"{type(error).__name__}: {error}")
    return passed
