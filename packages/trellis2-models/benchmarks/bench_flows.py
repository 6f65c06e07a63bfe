"""Time one forward pass of the TRELLIS.2 flow transformers with random full-size weights.

Full size (GPU): the ss flow at 16^3 = 4,096 tokens with 1,029 condition tokens, and the SLat flow at
4,096 / 8,192 / 16,384 / 32,768 / 49,152 voxels (1,029 condition tokens at 4k, 4,101 above), torso in bf16.
Prints milliseconds per forward (median of --repeats after warm-up) and peak allocated GB on CUDA.

    python packages/trellis2-models/benchmarks/bench_flows.py                       # CUDA, full size
    python packages/trellis2-models/benchmarks/bench_flows.py --device cpu --quick  # tiny smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from profiling import print_profile
from sparsetensor import SparseTensor
from trellis2_models.cuda_graph import CudaGraphModel
from trellis2_models.loading import build_model

DEFAULT_SPEC_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "spec" / "checkpoints"
SS_FLOW_SPEC = "ss_flow_img_dit_1_3B_64_bf16"
SLAT_FLOW_SPEC = "slat_flow_img2shape_dit_1_3B_1024_bf16"
SLAT_TOKENS = [(4096, 1029), (8192, 4101), (16384, 4101), (32768, 4101), (49152, 4101)]
QUICK_ARGS = {"model_channels": 96, "num_blocks": 2, "num_heads": 3, "cond_channels": 64}
QUICK_SLAT_TOKENS = [(256, 37), (1024, 37)]


def load_spec(spec_dir: Path, name: str, quick: bool, dtype: str) -> dict:
    """Read a checkpoint config JSON; `quick` shrinks it to a tiny model of the same structure."""
    path = spec_dir / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"checkpoint spec {path} not found; pass --spec-dir pointing at shared/spec/checkpoints")
    config = json.loads(path.read_text())
    config["args"]["dtype"] = dtype
    if quick:
        config["args"].update(QUICK_ARGS)
    return config


def random_voxels(num: int, resolution: int, channels: int, device: torch.device) -> SparseTensor:
    """`num` distinct random voxels of one sample in a resolution^3 grid, with standard-normal features."""
    cells = torch.randperm(resolution**3, device=device)[:num]
    xyz = torch.stack([cells // resolution**2, cells // resolution % resolution, cells % resolution], dim=1)
    coords = torch.cat([torch.zeros_like(xyz[:, :1]), xyz], dim=1).int()
    return SparseTensor(torch.randn(num, channels, device=device), coords)


def time_forward(run, device: torch.device, repeats: int) -> tuple[float, float | None]:
    """Median milliseconds of `run()` after two warm-up calls, and peak CUDA memory in GB (None on CPU)."""
    with torch.no_grad():
        for _ in range(2):
            run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append((time.perf_counter() - start) * 1000)
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return statistics.median(times), peak


def report(label: str, ms: float, peak: float | None) -> None:
    """Print one result row."""
    peak_text = f"{peak:6.2f} GB" if peak is not None else "     n/a"
    print(f"{label:<38} {ms:10.1f} ms  peak {peak_text}", flush=True)


def prepare(config: dict, device: torch.device, args: argparse.Namespace):
    """Build a random-weight model on `device`, optionally compiling each transformer block (experimental) or
    replaying it through CUDA graphs as the pipeline does (the two warm-up calls then warm up and capture)."""
    model = build_model(config, device=device).eval()
    if args.compile:
        for block in model.blocks:
            block.compile(dynamic=True)
    return CudaGraphModel(model) if args.cuda_graph else model


def bench_ss_flow(args: argparse.Namespace, device: torch.device) -> None:
    """Benchmark the dense sparse-structure flow over its full 16^3 grid."""
    runner = prepare(load_spec(args.spec_dir, SS_FLOW_SPEC, args.quick, args.dtype), device, args)
    model = getattr(runner, "model", runner)
    res = model.resolution
    x = torch.randn(1, model.in_channels, res, res, res, device=device)
    t = torch.tensor([500.0], device=device)
    cond = torch.randn(1, 37 if args.quick else 1029, model.cond_channels, device=device)
    ms, peak = time_forward(lambda: runner(x, t, cond), device, args.repeats)
    report(f"ss flow {res**3} tokens ({cond.shape[1]} cond)", ms, peak)
    if args.profile:
        print_profile(lambda: runner(x, t, cond), device, args.profile)


def bench_slat_flow(args: argparse.Namespace, device: torch.device) -> None:
    """Benchmark the sparse SLat flow at each token count."""
    runner = prepare(load_spec(args.spec_dir, SLAT_FLOW_SPEC, args.quick, args.dtype), device, args)
    model = getattr(runner, "model", runner)
    t = torch.tensor([500.0], device=device)
    for tokens, cond_tokens in QUICK_SLAT_TOKENS if args.quick else SLAT_TOKENS:
        voxels = random_voxels(tokens, 64, model.in_channels, device)
        cond = torch.randn(1, cond_tokens, model.cond_channels, device=device)
        ms, peak = time_forward(lambda v=voxels, c=cond: runner(v, t, c), device, args.repeats)
        report(f"SLat flow {tokens} tokens ({cond_tokens} cond)", ms, peak)
        if args.profile and tokens == (QUICK_SLAT_TOKENS if args.quick else SLAT_TOKENS)[0][0]:
            print_profile(lambda v=voxels, c=cond: runner(v, t, c), device, args.profile)


def main() -> None:
    """Parse arguments and benchmark both flows, one model in memory at a time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny config and token counts (CPU smoke test)")
    parser.add_argument("--dtype", default="bfloat16", help="torso dtype (bfloat16, float16, float32)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--spec-dir", type=Path, default=DEFAULT_SPEC_DIR)
    parser.add_argument("--compile", action="store_true", help="torch.compile each block (warm-up pays compilation)")
    parser.add_argument("--cuda-graph", action="store_true", help="replay each model through CUDA graphs")
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="profile the ss flow and the smallest SLat case, printing the ROWS costliest operators")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    bench_ss_flow(args, device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    bench_slat_flow(args, device)


if __name__ == "__main__":
    main()
