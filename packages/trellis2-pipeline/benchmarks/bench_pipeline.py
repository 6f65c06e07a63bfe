"""Benchmark the TRELLIS.2 image-to-3D pipeline stage by stage with full-size random weights (bf16 flows).

Every model is built from its checkpoint config (shared/spec/checkpoints) with random weights directly on the
device, no checkpoint files; DINOv3 is a random ViT-L/16. A real asset (default DamagedHelmet) supplies the sparse
structure after the sparse-structure flow and decoder have run, the shape decoder's subdivisions and the decoded
dual grids (see pipeline_bench_asset.py), so token counts are those of a real object while every network, sampler
(12 steps, guidance as in pipeline.json), conversion and the mesh extraction run as in production. Background
removal is skipped (the input image has alpha). On CUDA an untimed warm-up run of the first type (all steps) comes
first: it compiles the kernels and captures the dense flow's CUDA graphs for both batch sizes its guidance interval
uses (the sparse flows' graphs follow each run's voxels, so every timed run captures its own).

Prints a table per run and a summary against upstream's published H100 times; `--json` saves everything (after
each run, so a time-limited job keeps what it finished).

    python packages/trellis2-pipeline/benchmarks/bench_pipeline.py --json bench.json --budget 300   # CUDA, full size
    python packages/trellis2-pipeline/benchmarks/bench_pipeline.py --quick                          # tiny, CPU

Paths default to ../shared beside the repository (--shared DIR for another copy).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_bench_asset import LOOKUP_STAGE, AssetGuide, AssetSurface  # noqa: E402
from pipeline_bench_timer import StageTimer  # noqa: E402
from trellis2.pipelines import Trellis2ImageTo3DPipeline  # noqa: E402
from trellis2.pipelines.cascade import LATENT_DOWNSAMPLING  # noqa: E402
from trellis2.pipelines.config import read_pipeline_config  # noqa: E402
from trellis2.pipelines.pipeline_types import PIPELINE_TYPES, pipeline_type  # noqa: E402
from trellis2.pipelines.trellis2_image_to_3d import CASCADE_SOURCE_RESOLUTION  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
DEFAULT_ASSET = Path("assets") / "DamagedHelmet" / "DamagedHelmet.gltf"  # these three relative to --shared
DEFAULT_IMAGE = Path("images") / "T.png"
DEFAULT_SPEC = Path("spec")
#: Upstream's published H100 generation times (512^3, 1024^3, 1536^3) and the issue's goals, in seconds.
UPSTREAM_H100_SECONDS = {"512": 3.0, "1024": 17.0, "1024_cascade": 17.0, "1536_cascade": 60.0}
GOAL_SECONDS = {"512": 2.0, "1024": 10.0, "1024_cascade": 10.0, "1536_cascade": 35.0}
LOW_VRAM_GOAL_TYPE, LOW_VRAM_GOAL_GB = "1024_cascade", 16.0  # the memory goal, in low-VRAM mode
#: facebook/dinov3-vitl16-pretrain-lvd1689m sizes (the gated repository's config).
DINOV3_VITL16 = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
                 "num_register_tokens": 4, "patch_size": 16, "image_size": 512}
FLOW_STAGES = {"sparse_structure": "ss flow", "shape_slat_lr": "shape flow 512 (cascade)",
               "shape_slat": "shape flow", "tex_slat": "texture flow"}
OUTER_STAGE = "other (preprocess, noise, glue)"
GB = 1024**3


# ------------------------------------------------------------------------------------------------ models
def checkpoint_configs(spec_dir: Path, pipeline_args: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model key -> checkpoint config (`{"name", "args"}`) for every model pipeline.json names."""
    from trellis2_models.loading import load_config

    configs = {}
    for key, ref in pipeline_args["models"].items():
        path = spec_dir / "checkpoints" / f"{ref.rsplit('/', 1)[-1]}.json"
        if not path.is_file():
            raise SystemExit(f"checkpoint config {path} not found (pass --spec-dir pointing at shared/spec)")
        configs[key] = load_config(path)
    return configs


def build_full_models(configs: dict[str, dict[str, Any]], keys: list[str],
                      device: torch.device | str) -> dict[str, nn.Module]:
    """Full-size models with PyTorch's default random initialisation, built directly on `device` in their
    checkpoint precision (bf16 flow torsos, fp16 decoder blocks)."""
    from trellis2_models.loading import build_model

    return {key: build_model(configs[key], device=device).eval() for key in keys}


def build_dinov3(config: dict[str, Any], device: torch.device | str) -> Any:
    """A random-weight DINOv3 feature extractor of the given transformers config, in float32 like the pipeline."""
    from transformers import DINOv3ViTConfig, DINOv3ViTModel
    from trellis2_models.conditioning import DinoV3FeatureExtractor

    with torch.device(device):
        model = DINOv3ViTModel(DINOv3ViTConfig(**config))
    return DinoV3FeatureExtractor("random DINOv3", model=model)


def build_components(keys: list[str], spec_dir: Path, pipeline_args: dict[str, Any], quick: bool,
                     device: torch.device) -> tuple[dict[str, nn.Module], Any, dict[str, float]]:
    """Models for `keys`, the conditioning model and the seconds each took to build."""
    from trellis2.testing.tiny_pipeline import TINY_DINOV3, build_tiny_model

    configs = checkpoint_configs(spec_dir, pipeline_args)
    generator = torch.Generator().manual_seed(0)
    models, seconds = {}, {}
    for key in keys:
        start = time.perf_counter()
        if quick:
            models[key] = build_tiny_model(key, generator).to(device)
        else:
            models.update(build_full_models(configs, [key], device))
        seconds[key] = _synced_seconds(start, device)
        params = sum(p.numel() for p in models[key].parameters())
        print(f"built {key:<30} {params / 1e9:6.3f} B params  {seconds[key]:6.1f} s", flush=True)
    start = time.perf_counter()
    cond_model = build_dinov3(TINY_DINOV3 if quick else DINOV3_VITL16, device)
    seconds["image_cond_model"] = _synced_seconds(start, device)
    return models, cond_model, seconds


def _synced_seconds(start: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------------------ pipeline
class BenchPipeline(Trellis2ImageTo3DPipeline):
    """The production pipeline with every stage timed and the asset steering its data-dependent steps."""

    timer: StageTimer
    guide: AssetGuide

    def attach(self, timer: StageTimer, guide: AssetGuide) -> None:
        """Time stages with `timer`; let `guide` choose the sparse structure, subdivisions and dual grids."""
        self.timer, self.guide = timer, guide
        shape_decoder, tex_decoder = self.models["shape_slat_decoder"], self.models["tex_slat_decoder"]
        guide.install(shape_decoder)
        upsample, decode_features = shape_decoder.upsample, shape_decoder.decode_features
        to_dual_grids, tex_forward = shape_decoder.to_dual_grids, tex_decoder.forward

        def timed_upsample(latent: Any, upsample_times: int) -> torch.Tensor:
            guide.latent_resolution = CASCADE_SOURCE_RESOLUTION // LATENT_DOWNSAMPLING
            coords = upsample(latent, upsample_times)
            timer.set_size("cascade upsample", coords.shape[0], f"voxels at {CASCADE_SOURCE_RESOLUTION}")
            return coords

        def timed_decode_features(latent: Any, guide_subs: Any = None) -> Any:
            guide.latent_resolution = shape_decoder.resolution // LATENT_DOWNSAMPLING
            with timer.stage("shape decode"):
                raw, subdivisions = decode_features(latent, guide_subs)
            timer.set_size("shape decode", raw.feats.shape[0], "voxels out")
            return raw, subdivisions

        def timed_to_dual_grids(raw: Any) -> list:
            with timer.stage("shape decode"):
                grids = to_dual_grids(raw)
            return [guide.dual_grid(grid) for grid in grids]

        def timed_tex_forward(latent: Any, guide_subs: Any = None) -> Any:
            with timer.stage("texture decode"):
                voxels = tex_forward(latent, guide_subs)
            timer.set_size("texture decode", voxels.feats.shape[0], "voxels out")
            return voxels

        shape_decoder.upsample, shape_decoder.decode_features = timed_upsample, timed_decode_features
        shape_decoder.to_dual_grids, tex_decoder.forward = timed_to_dual_grids, timed_tex_forward

    def get_cond(self, images: list[Image.Image], resolution: int, num_samples: int = 1) -> dict[str, torch.Tensor]:
        name = f"conditioning {resolution}"
        with self.timer.stage(name):
            cond = super().get_cond(images, resolution, num_samples)
        self.timer.set_size(name, cond["cond"].shape[1], "tokens")
        return cond

    def _sample(self, stage: str, label: str, model: nn.Module, noise: Any, cond: dict, overrides: dict,
                context: Any, **model_kwargs: Any) -> Any:
        name = FLOW_STAGES[label]
        with self.timer.stage(name):
            samples = super()._sample(stage, label, model, noise, cond, overrides, context, **model_kwargs)
        tokens = noise.feats.shape[0] if hasattr(noise, "feats") else math.prod(noise.shape[2:])
        self.timer.set_size(name, tokens, "tokens")
        return samples

    def sample_sparse_structure(self, cond: dict, resolution: int, num_samples: int, context: Any,
                                sampler_params: dict) -> torch.Tensor:
        """Run (and time) the sparse-structure flow and decoder, then return the asset's occupied voxels."""
        with self.timer.stage("ss decode"):
            try:
                super().sample_sparse_structure(cond, resolution, num_samples, context, sampler_params)
            except RuntimeError as error:  # random weights may decode an empty structure: the asset replaces it
                if type(error) is not RuntimeError or "is empty" not in str(error):
                    raise
        with self.timer.stage(LOOKUP_STAGE, excluded=True):
            coords = self.guide.sparse_structure(resolution, num_samples, self.device)
        self.timer.set_size("ss decode", coords.shape[0], f"voxels at {resolution} (asset)")
        return coords

    def sample_shape_slat_cascade(self, lr_cond: dict, cond: dict, spec: Any, coords: torch.Tensor, context: Any,
                                  sampler_params: dict, max_num_tokens: int) -> tuple[Any, int]:
        with self.timer.stage("cascade upsample"):
            return super().sample_shape_slat_cascade(lr_cond, cond, spec, coords, context, sampler_params,
                                                     max_num_tokens)

    def decode_latent(self, shape_slat: Any, tex_slat: Any, resolution: int) -> list:
        with self.timer.stage("decode transfers, attrs"):
            return super().decode_latent(shape_slat, tex_slat, resolution)


@contextmanager
def timed_mesh_extraction(timer: StageTimer) -> Iterator[None]:
    """Time ovoxel's dual-grid mesh extraction and the pipeline's hole filling while the block runs."""
    import ovoxel
    from trellis2.representations import MeshWithVoxel

    extract, fill_holes = ovoxel.flexible_dual_grid_to_mesh, MeshWithVoxel.fill_holes

    def timed_extract(*args: Any, **kwargs: Any) -> Any:
        with timer.stage("mesh extraction"):
            vertices, faces = extract(*args, **kwargs)
        timer.set_size("mesh extraction", faces.shape[0], "faces")
        return vertices, faces

    def timed_fill_holes(mesh: MeshWithVoxel, *args: Any, **kwargs: Any) -> None:
        with timer.stage("hole filling"):
            fill_holes(mesh, *args, **kwargs)
        timer.set_size("hole filling", mesh.faces.shape[0], "faces")

    with patch.object(ovoxel, "flexible_dual_grid_to_mesh", timed_extract), \
            patch.object(MeshWithVoxel, "fill_holes", timed_fill_holes):
        yield


# ------------------------------------------------------------------------------------------------ runs
def run_once(pipeline: BenchPipeline, image: Image.Image, name: str, steps: int, seed: int) -> dict[str, Any]:
    """One timed generation of pipeline type `name`; returns its JSON record."""
    timer = pipeline.timer
    if pipeline.device.type == "cuda":
        torch.cuda.empty_cache()
    timer.reset()
    params = {"steps": steps}
    with timed_mesh_extraction(timer), timer.stage(OUTER_STAGE):
        meshes, (_, _, resolution) = pipeline.run(
            image, seed=seed, pipeline_type=name, return_latent=True, sparse_structure_sampler_params=params,
            shape_slat_sampler_params=params, tex_slat_sampler_params=params,
        )
    total = timer.total_seconds
    upstream = UPSTREAM_H100_SECONDS[name]
    return {
        "pipeline_type": name, "low_vram": pipeline.low_vram, "steps": steps, "resolution": resolution,
        "total_s": total, "upstream_h100_s": upstream, "goal_s": GOAL_SECONDS[name],
        "upstream_over_ours": upstream / total, "peak_allocated_gb": timer.peak_bytes / GB,
        "peak_reserved_gb": timer.reserved_peak_bytes / GB,
        "vertices": int(meshes[0].vertices.shape[0]), "faces": int(meshes[0].faces.shape[0]),
        "stages": [_stage_json(record) for record in timer.counted()],
        "excluded": [_stage_json(record) for record in timer.records.values() if record.excluded],
    }


def _stage_json(record: Any) -> dict[str, Any]:
    return {"name": record.name, "seconds": record.seconds, "calls": record.calls, "count": record.count,
            "unit": record.unit, "peak_allocated_gb": record.peak_bytes / GB}


def stage_table(run: dict[str, Any]) -> str:
    """Markdown table of one run's stages."""
    mode = " low-VRAM" if run["low_vram"] else ""
    lines = [f"\n### {run['pipeline_type']}{mode}: {run['total_s']:.2f} s at {run['resolution']}^3, "
             f"{run['faces']:,} faces\n", "| stage | s | share | work | peak alloc GB |", "|---|--:|--:|---|--:|"]
    for stage in run["stages"]:
        work = "" if stage["count"] is None else f"{stage['count']:,} {stage['unit']}"
        lines.append(f"| {stage['name']} | {stage['seconds']:.3f} | {100 * stage['seconds'] / run['total_s']:.1f}% "
                     f"| {work} | {stage['peak_allocated_gb']:.2f} |")
    lines.append(f"| **total** | **{run['total_s']:.3f}** | 100% | | **{run['peak_allocated_gb']:.2f}** |")
    excluded = sum(stage["seconds"] for stage in run["excluded"])
    lines.append(f"\n(benchmark bookkeeping excluded from the total: {excluded:.3f} s)")
    return "\n".join(lines)


def summary_table(runs: list[dict[str, Any]]) -> str:
    """Markdown summary of all runs against upstream's H100 figures and the goals."""
    lines = ["\n## Summary (upstream/ours > 1 means faster than upstream)\n",
             "| pipeline | low VRAM | resolution | ours s | upstream H100 s | upstream/ours | goal s | "
             "peak alloc GB | peak reserved GB |", "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for run in runs:
        goal = f"{run['goal_s']:g}"
        if run["low_vram"] and run["pipeline_type"] == LOW_VRAM_GOAL_TYPE:
            goal = f"peak < {LOW_VRAM_GOAL_GB:g} GB: {'yes' if run['peak_allocated_gb'] < LOW_VRAM_GOAL_GB else 'NO'}"
        lines.append(f"| {run['pipeline_type']} | {'yes' if run['low_vram'] else 'no'} | {run['resolution']} | "
                     f"{run['total_s']:.2f} | {run['upstream_h100_s']:g} | {run['upstream_over_ours']:.2f} | {goal} | "
                     f"{run['peak_allocated_gb']:.2f} | {run['peak_reserved_gb']:.2f} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main
def parse_types(text: str) -> list[str]:
    """Comma-separated pipeline types ('' or 'none' for none), each checked."""
    if text.strip().lower() in ("", "none"):
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in PIPELINE_TYPES:
            raise argparse.ArgumentTypeError(f"unknown pipeline type {name!r}; choose from {', '.join(PIPELINE_TYPES)}")
    return names


def run_plan(types: list[str], low_vram_types: list[str]) -> list[tuple[str, bool]]:
    """(type, low_vram) in run order: each type, followed by its low-VRAM run if asked, then the low-VRAM runs of
    types not timed normally (so a time budget cuts the least important runs)."""
    plan = []
    for name in types:
        plan.append((name, False))
        if name in low_vram_types:
            plan.append((name, True))
    return plan + [(name, True) for name in low_vram_types if name not in types]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; --quick switches the defaults to a tiny CPU run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--types", type=parse_types, default=parse_types("512,1024_cascade,1536_cascade"),
                        help="pipeline types to time, in order (also: 1024)")
    parser.add_argument("--low-vram", type=parse_types, default=parse_types("1024_cascade"),
                        help="types to time (also) in low-VRAM mode, right after their normal run ('none' to skip)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps per stage (default 12; 2 with --quick)")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder (default ../shared)")
    parser.add_argument("--asset", type=Path, default=None,
                        help=f"mesh whose voxels steer the run (default SHARED/{DEFAULT_ASSET})")
    parser.add_argument("--asset-extent", type=float, default=None,
                        help="longest side of the asset in the unit output box (default 0.95; 0.1 with --quick)")
    parser.add_argument("--image", type=Path, default=None, help=f"RGBA input image (default SHARED/{DEFAULT_IMAGE})")
    parser.add_argument("--spec-dir", type=Path, default=None,
                        help="folder with pipeline.json and checkpoints/*.json (default SHARED/spec)")
    parser.add_argument("--device", default=None, help="default cuda (cpu with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny random models from trellis2.testing (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up run (CUDA)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds since start after which no further run is started (results so far are kept)")
    parser.add_argument("--json", type=Path, default=None, help="write all results to this JSON file")
    args = parser.parse_args(argv)
    args.device = torch.device(args.device or ("cpu" if args.quick else "cuda"))
    args.steps = args.steps or (2 if args.quick else 12)
    args.asset_extent = args.asset_extent or (0.1 if args.quick else 0.95)
    args.asset = args.asset or args.shared / DEFAULT_ASSET
    args.image = args.image or args.shared / DEFAULT_IMAGE
    args.spec_dir = args.spec_dir or args.shared / DEFAULT_SPEC
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if not args.types and not args.low_vram:
        parser.error("nothing to run: give --types and/or --low-vram")
    for path in (args.asset, args.image, args.spec_dir / "pipeline.json"):
        if not path.exists():
            parser.error(f"{path} not found")
    if args.device.type == "cuda" and not torch.cuda.is_available():
        parser.error("CUDA is not available (use --quick for a CPU run)")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build once, run every requested type (low-VRAM runs after their normal run) and report; returns the JSON
    record."""
    args = parse_args(argv)
    started = time.perf_counter()
    device = args.device
    pipeline_args = read_pipeline_config(args.spec_dir / "pipeline.json")
    names = list(dict.fromkeys(args.types + args.low_vram))
    keys = list(dict.fromkeys(key for name in names for key in pipeline_type(name).required_models))
    models, cond_model, build_seconds = build_components(keys, args.spec_dir, pipeline_args, args.quick, device)
    pipeline = BenchPipeline.from_components(pipeline_args, models, cond_model, low_vram=False).to(device)
    timer = StageTimer(device)
    surface = AssetSurface(args.asset, args.asset_extent)
    pipeline.attach(timer, AssetGuide(surface, timer))
    image = Image.open(args.image)

    start = time.perf_counter()
    for name in names:  # voxelize up front: sparse structure at 512 or 1024, decoding at the output resolution
        spec = pipeline_type(name)
        surface.grid(spec.sparse_structure_resolution * LATENT_DOWNSAMPLING)
        surface.grid(spec.resolution)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "quick": args.quick, "steps": args.steps, "asset": str(args.asset),
        "asset_extent": args.asset_extent, "image": str(args.image), "build_seconds": build_seconds,
        "asset_voxelize_seconds": time.perf_counter() - start, "runs": [], "skipped": [],
    }
    print(f"asset {args.asset.name}: voxelized in {report['asset_voxelize_seconds']:.1f} s", flush=True)
    if device.type == "cuda" and not args.no_warmup:
        start = time.perf_counter()
        run_once(pipeline, image, names[0], args.steps, args.seed)
        report["warmup_seconds"] = time.perf_counter() - start
        print(f"warm-up ({names[0]}, {args.steps} steps): {report['warmup_seconds']:.1f} s", flush=True)

    for name, low_vram in run_plan(args.types, args.low_vram):
        if args.budget is not None and time.perf_counter() - started > args.budget:
            report["skipped"].append({"pipeline_type": name, "low_vram": low_vram, "reason": "time budget"})
            print(f"skipped {name}{' low-VRAM' if low_vram else ''}: past the {args.budget:g} s budget", flush=True)
            continue
        if pipeline.low_vram != low_vram:
            pipeline.low_vram = low_vram  # moves every model to the CPU (or back to the device)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        run = run_once(pipeline, image, name, args.steps, args.seed)
        report["runs"].append(run)
        print(stage_table(run), flush=True)
        if args.json is not None:
            args.json.write_text(json.dumps(report, indent=2))
    print(summary_table(report["runs"]), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
