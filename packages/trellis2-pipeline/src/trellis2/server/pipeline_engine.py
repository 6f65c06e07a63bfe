"""The real engine: one `Trellis2ImageTo3DPipeline` per process, shared by the workers, plus previews and GLB export.

Model execution (preprocessing with the matting model, and `pipeline.run`) is serialised by one lock because the
pipeline keeps per-call state on its models (conditioning size, decoder resolution, low-VRAM placement); preview
rendering and GLB export work on the task's own files and overlap freely, up to TRELLIS2_MAX_ACTIVE_TASKS.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..pipelines import Trellis2ImageTo3DPipeline
from ..pipelines.image_preprocessing import has_transparency
from .asset_files import ASSET_FILE, SavedAsset
from .engine import ProgressCallback
from .previews import render_previews

#: API resolution -> pipeline type, as upstream's demo maps them (1024 and 1536 sample the shape as a cascade).
PIPELINE_TYPE_FOR_RESOLUTION = {"512": "512", "1024": "1024_cascade", "1536": "1536_cascade"}
SAMPLER_STAGES = ("sparse_structure", "shape_slat", "tex_slat")
GLB_AABB = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]


def default_device() -> str:
    """CUDA when available, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def run_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """`pipeline.run` keyword arguments for a stored task request (unset sampler fields keep pipeline.json's)."""
    resolution = str(request.get("resolution", "1024"))
    if resolution not in PIPELINE_TYPE_FOR_RESOLUTION:
        raise ValueError(f"unknown resolution {resolution!r}; choose one of {', '.join(PIPELINE_TYPE_FOR_RESOLUTION)}")
    sampler_params = request.get("sampler_params") or {}
    arguments: dict[str, Any] = {"seed": int(request.get("seed", 0)),
                                 "pipeline_type": PIPELINE_TYPE_FOR_RESOLUTION[resolution]}
    for stage in SAMPLER_STAGES:
        overrides = sampler_params.get(stage) or {}
        arguments[f"{stage}_sampler_params"] = {name: value for name, value in overrides.items() if value is not None}
    return arguments


class PipelineEngine:
    """The Engine protocol on a loaded pipeline: preprocess, generate (asset + turntable previews), export GLBs."""

    def __init__(self, pipeline: Trellis2ImageTo3DPipeline, preview_frames: int = 8, preview_size: int = 512):
        self.pipeline = pipeline
        self.preview_frames = preview_frames
        self.preview_size = preview_size
        self._model_lock = threading.Lock()

    @classmethod
    def load(cls, model: str, device: str | None = None, preview_frames: int = 8,
             preview_size: int = 512) -> PipelineEngine:
        """Load the pipeline (hub id or folder) onto `device` (default: CUDA if available); float32 on a CPU."""
        device = device or default_device()
        dtype = torch.float32 if torch.device(device).type == "cpu" else None
        pipeline = Trellis2ImageTo3DPipeline.from_pretrained(model, device=device, dtype=dtype)
        return cls(pipeline, preview_frames, preview_size)

    def preprocess(self, image: Image.Image) -> Image.Image:
        """Crop around the object (its alpha, or the matting model's for opaque images) and premultiply."""
        if has_transparency(image):  # no model involved: no need to wait for a running generation
            return self.pipeline.preprocess_image(image)
        with self._model_lock:
            return self.pipeline.preprocess_image(image)

    def generate(self, image: Image.Image, request: dict[str, Any], workdir: Path, progress: ProgressCallback) -> None:
        """Run the pipeline, save the asset for export and render every preview mode into `workdir/previews`.

        Images with transparency are preprocessed first; opaque ones are taken as already preprocessed
        (`POST /preprocess` returns an opaque, object-centred image).
        """
        arguments = run_arguments(request)
        workdir.mkdir(parents=True, exist_ok=True)
        with self._model_lock:  # `progress` raises TaskCancelled after a sampler step when cancelled
            mesh = self.pipeline.run(image, preprocess_image=has_transparency(image), progress=progress,
                                     **arguments)[0]
        SavedAsset.from_mesh(mesh).save(workdir / ASSET_FILE)
        render_previews(mesh, workdir / "previews", self.preview_frames, self.preview_size, progress)

    def extract_glb(self, workdir: Path, decimation_target: int, texture_size: int, out_path: Path) -> None:
        """Simplify, remesh, UV-unwrap and bake the saved asset into a textured GLB at `out_path`."""
        from ovoxel.postprocess import to_glb

        asset = SavedAsset.load(workdir / ASSET_FILE)
        device = self.pipeline.device
        glb = to_glb(
            vertices=torch.from_numpy(asset.vertices).to(device), faces=torch.from_numpy(asset.faces).to(device),
            attr_volume=torch.from_numpy(asset.attrs).to(device), coords=torch.from_numpy(asset.coords).to(device),
            attr_layout=asset.layout, voxel_size=asset.voxel_size, aabb=GLB_AABB,
            decimation_target=decimation_target, texture_size=texture_size,
            remesh=True, remesh_band=1, remesh_project=0,
        )
        # Written under a hidden name and renamed, so GET /tasks/{id}/glb never serves a half-written file.
        temporary = out_path.with_name(f".{out_path.stem}.tmp.glb")
        glb.export(temporary, extension_webp=False)
        temporary.replace(out_path)
