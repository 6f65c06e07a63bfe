"""Time the full-size shape decoder (FlexiDualGridVaeDecoder) on the issue's input: a 64^3 sphere-shell latent.

Random weights predict random subdivisions, so each up block's subdivision layer is answered by the sphere itself: a
child voxel exists where its centre lies within 1.25 voxels (of its own grid) of the sphere of radius 0.45 * res,
the shell rule of the sparse-conv benchmark applied at every level. Every network layer still runs at full size.
Prints the first call (compilation included), the median of --repeats later calls, voxels out and peak memory.

    python packages/trellis2-models/benchmarks/bench_decoder.py                        # CUDA, full size
    python packages/trellis2-models/benchmarks/bench_decoder.py --device cpu --quick   # tiny smoke test
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
from torch import nn
from trellis2_models.loading import build_model
from trellis2_models.sc_vaes.blocks import UP_BLOCKS

DEFAULT_SPEC = Path(__file__).resolve().parents[3] / ".." / "shared" / "spec" / "checkpoints"
DECODER_SPEC = "shape_dec_next_dc_f16c32_fp16"
QUICK_ARGS = {"model_channels": [32, 16, 16, 16, 16], "num_blocks": [1, 1, 1, 1, 0]}
SHELL_HALF_WIDTH = 1.25
# child k of a voxel sits at 2 * parent + (k % 2, k // 2 % 2, k // 4): x fastest, as sparsetensor packs children
CHILD_OFFSETS = torch.tensor([[k % 2, k // 2 % 2, k // 4] for k in range(8)])


def in_shell(xyz: torch.Tensor, resolution: int) -> torch.Tensor:
    """Whether voxels xyz [..., 3] of a resolution^3 grid lie in the sphere shell of that grid."""
    centre = xyz.double() + 0.5 - resolution / 2
    return (centre.norm(dim=-1) - 0.45 * resolution).abs() < SHELL_HALF_WIDTH


def shell_coords(resolution: int, device: torch.device) -> torch.Tensor:
    """Coords [N, 4] (batch 0) of the shell voxels, built one x-slab at a time."""
    axis = torch.arange(resolution, device=device)
    parts = []
    for x in range(resolution):
        y, z = torch.meshgrid(axis, axis, indexing="ij")
        xyz = torch.stack([torch.full_like(y, x), y, z], -1).reshape(-1, 3)
        xyz = xyz[in_shell(xyz, resolution)]
        parts.append(torch.cat([torch.zeros_like(xyz[:, :1]), xyz], 1))
    return torch.cat(parts).int()


class ShellSubdivision(nn.Module):
    """Stands in for an up block's subdivision layer: logits +1 for children inside the finer grid's shell."""

    def __init__(self, child_resolution: int) -> None:
        super().__init__()
        self.child_resolution = child_resolution
        self.parents: torch.Tensor | None = None

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        children = self.parents[:, None, 1:].long() * 2 + CHILD_OFFSETS.to(feats.device)
        return torch.where(in_shell(children, self.child_resolution), 1.0, -1.0).to(feats.dtype)


def install_shell_subdivisions(decoder: nn.Module, latent_resolution: int) -> None:
    """Replace every up block's subdivision layer by the sphere-shell rule at that block's output grid."""
    up_blocks = [block for level in decoder.blocks for block in level if isinstance(block, UP_BLOCKS)]
    for index, block in enumerate(up_blocks):
        rule = ShellSubdivision(latent_resolution << (index + 1))
        block.to_subdiv = rule
        block.register_forward_pre_hook(lambda _module, args, target=rule: setattr(target, "parents", args[0].coords))


def timed(fn, device: torch.device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--spec-dir", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--quick", action="store_true", help="tiny decoder at an 8^3 latent (CPU smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-trace", action="store_true",
                        help="after timing, decode once more printing each block's peak CUDA memory")
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="after timing, profile one decode and print the ROWS most expensive operators")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = json.loads((args.spec_dir / f"{DECODER_SPEC}.json").read_text())
    if args.quick:
        config["args"].update(QUICK_ARGS)
    latent_resolution = 8 if args.quick else 64
    torch.manual_seed(0)
    decoder = build_model(config, device=device).eval()
    install_shell_subdivisions(decoder, latent_resolution)
    coords = shell_coords(latent_resolution, device)
    latent = SparseTensor(torch.randn(coords.shape[0], config["args"]["latent_channels"], device=device), coords)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        first_ms, (raw, _) = timed(lambda: decoder.decode_features(latent), device)
        samples = [timed(lambda: decoder.decode_features(latent), device)[0] for _ in range(args.repeats)]
    peak = torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else float("nan")
    print(f"device={device} decoder={DECODER_SPEC}{' (quick)' if args.quick else ''}")
    print("| latent tokens | voxels out | first call ms | median ms | peak GB |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print(f"| {coords.shape[0]:,} | {raw.coords.shape[0]:,} | {first_ms:.0f} | {statistics.median(samples):.1f} "
          f"| {peak:.2f} |")
    if args.memory_trace and device.type == "cuda":
        print_memory_trace(decoder, lambda: decoder.decode_features(latent))
    if args.profile:
        print_profile(lambda: decoder.decode_features(latent), device, args.profile)


def print_memory_trace(decoder: nn.Module, fn) -> None:
    """One call with per-block CUDA memory: allocated before, the peak while it ran, allocated after (GB)."""
    rows = []

    def before(module, _args):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        module._trace_start = torch.cuda.memory_allocated()

    def after(module, _args, _output):
        torch.cuda.synchronize()
        rows.append((module._trace_name, module._trace_start, torch.cuda.max_memory_allocated(),
                     torch.cuda.memory_allocated()))

    handles = []
    for name, module in decoder.named_modules():
        if name.count(".") == 2 or name in ("from_latent", "output_layer"):  # blocks.<level>.<index>, ends
            module._trace_name = name
            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    with torch.inference_mode():
        fn()
    for handle in handles:
        handle.remove()
    print("| module | allocated before GB | peak during GB | allocated after GB |")
    print("| --- | ---: | ---: | ---: |")
    for name, start, peak, end in rows:
        print(f"| {name} | {start / 1e9:.2f} | {peak / 1e9:.2f} | {end / 1e9:.2f} |")


if __name__ == "__main__":
    main()
