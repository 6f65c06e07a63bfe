"""Offline self-test: write the tiny pipeline, run every pipeline type on it, and say what passed."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .tiny_pipeline import missing_requirements, write_tiny_pipeline


def selftest_image() -> Image.Image:
    """A 96x96 RGBA disc on a transparent background (needs no background removal)."""
    yy, xx = np.mgrid[:96, :96]
    pixels = np.zeros((96, 96, 4), np.uint8)
    pixels[(xx - 48) ** 2 + (yy - 48) ** 2 < 32**2] = (210, 130, 60, 255)
    return Image.fromarray(pixels, "RGBA")


def run_selftest(device: str = "cpu", keep_model: str | Path | None = None,
                 echo: Callable[[str], None] = print) -> bool:
    """Write the tiny pipeline (into `keep_model` if given, else a temporary folder), run each pipeline type on
    `device` and report one line per check through `echo`; returns True when everything passed."""
    missing = missing_requirements(for_running=True)
    if missing:
        echo(f"FAIL environment: missing {', '.join(missing)}")
        return False
    from ..pipelines import PIPELINE_TYPES, Trellis2ImageTo3DPipeline

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(keep_model) if keep_model is not None else Path(scratch)
        write_tiny_pipeline(folder, seed=0, steps=2)
        echo(f"ok   tiny pipeline written to {folder}")
        pipeline = Trellis2ImageTo3DPipeline.from_pretrained(folder, low_vram=False).to(device)
        echo(f"ok   pipeline loaded on {device}")
        passed = True
        for name in PIPELINE_TYPES:
            start = time.perf_counter()
            try:
                mesh = pipeline.run(selftest_image(), seed=0, pipeline_type=name)[0]
            except Exception as error:  # report every failure, keep checking the other types
                echo(f"FAIL {name}: {type(error).__name__}: {error}")
                passed = False
                continue
            finite = bool(torch.isfinite(mesh.vertices).all() and torch.isfinite(mesh.attrs).all())
            healthy = finite and mesh.faces.shape[0] > 0
            passed &= healthy
            problem = "" if healthy else (" (non-finite values)" if not finite else " (empty mesh)")
            echo(f"{'ok  ' if healthy else 'FAIL'} {name}: {mesh.faces.shape[0]} faces, {mesh.coords.shape[0]} voxels "
                 f"in {time.perf_counter() - start:.1f} s{problem}")
    return passed
