"""Benchmark submanifold sparse conv (3x3x3, batch 1, cached neighbour map) on sphere-shell voxels (issue 3).

Usage: python bench_sparse_conv.py [--device cuda|cpu] [--dtype float16|bfloat16|float32] [--quick]
TFLOP/s counts 2 * pairs * C_in * C_out, pairs = existing (voxel, neighbour) pairs including the voxel itself.
"""

from __future__ import annotations

import argparse
import time

import torch
from sparsetensor.ops import build_neighbor_map, submanifold_conv3d

FULL_ROWS = [(1024, 64), (512, 128), (256, 256), (128, 512), (64, 1024)]
QUICK_ROWS = [(32, 16), (16, 32)]


def sphere_shell(res: int, device: torch.device) -> torch.Tensor:
    """Coords [N, 4] of voxels whose centre lies within 1.25 of the sphere of radius 0.45*res about the grid centre."""
    axis = torch.arange(res, device=device, dtype=torch.float64) + 0.5 - res / 2
    yz = axis[:, None] ** 2 + axis[None, :] ** 2
    parts = []
    for x in range(res):
        keep = ((yz + axis[x] ** 2).sqrt() - 0.45 * res).abs() < 1.25
        y, z = keep.nonzero(as_tuple=True)
        parts.append(torch.stack([torch.zeros_like(y), torch.full_like(y, x), y, z], 1))
    return torch.cat(parts).int()


def first_call_ms(fn, device: torch.device) -> float:
    """Wall time of one call in milliseconds, including any compilation or autotuning it triggers."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of fn() in milliseconds (after one warm-up call)."""
    fn()
    samples = sorted(first_call_ms(fn, device) for _ in range(repeats))
    return samples[len(samples) // 2]


UPSTREAM_MS = {(1024, 64): 3.45, (512, 128): 3.06, (256, 256): 3.11, (128, 512): 3.59, (64, 1024): 6.90}


def flexgemm_conv():
    """Upstream's kernel library (FlexGEMM) as a callable (feats, coords, res, weight, bias, cache), or None."""
    try:
        from flex_gemm.ops.spconv import sparse_submanifold_conv3d
    except ImportError:
        return None

    def run(feats, coords, res, weight, bias, cache=None):
        shape = torch.Size([1, feats.shape[1], res, res, res])
        return sparse_submanifold_conv3d(feats, coords, shape, weight, bias, cache)

    return run


def bench_row(channels: int, res: int, device: torch.device, dtype: torch.dtype, repeats: int, upstream) -> list[str]:
    """One table row: our neighbour map and conv on the sphere shell, and upstream's conv on the same data if given."""
    coords = sphere_shell(res, device)
    nmap_ms = timed(lambda: build_neighbor_map(coords, 3), device, repeats)
    nmap = build_neighbor_map(coords, 3)
    pairs = int((nmap >= 0).sum())
    feats = torch.randn(coords.shape[0], channels, device=device, dtype=dtype)
    weight = torch.randn(channels, 3, 3, 3, channels, device=device, dtype=dtype) * 0.05
    bias = torch.zeros(channels, device=device, dtype=dtype)

    def ours():
        return submanifold_conv3d(feats, coords, weight, bias, neighbor_map=nmap)

    first = first_call_ms(ours, device)
    conv_ms = timed(ours, device, repeats)
    tflops = 2 * pairs * channels * channels / (conv_ms * 1e-3) / 1e12
    quoted = UPSTREAM_MS.get((channels, res))
    row = [f"{channels}", f"{res}", f"{coords.shape[0]:,}", f"{nmap_ms:.2f}", f"{first:.0f}", f"{conv_ms:.2f}",
           f"{tflops:.1f}", f"{quoted / conv_ms:.2f}" if quoted else "-"]
    if upstream is None:
        return row + ["-"] * 4
    up_first = first_call_ms(lambda: upstream(feats, coords, res, weight, bias), device)
    _, cache = upstream(feats, coords, res, weight, bias)
    up_ms = timed(lambda: upstream(feats, coords, res, weight, bias, cache), device, repeats)
    reference = upstream(feats, coords, res, weight, bias, cache)[0].float()
    diff = float((ours().float() - reference).norm() / reference.norm())
    return row + [f"{up_ms:.2f}", f"{up_first:.0f}", f"{up_ms / conv_ms:.2f}", f"{diff:.1e}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--quick", action="store_true", help="tiny shapes (CPU smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if device.type == "cpu" and dtype == torch.float16:
        dtype = torch.float32
    repeats = args.repeats or (3 if args.quick else 20)
    upstream = flexgemm_conv() if device.type == "cuda" else None
    print(f"device={device} dtype={dtype} flex_gemm={'yes' if upstream else 'not installed'}")
    print("ratio = upstream ms / ours ms (above 1: we are faster); 'quoted' is the issue's H100 figure, 'flexgemm' is "
          "upstream's library run here; first = first call in this process (compile/autotune included)")
    header = ["C", "res", "voxels", "nmap ms", "first ms", "conv ms", "TFLOP/s", "quoted ratio", "flexgemm ms",
              "flexgemm first ms", "ratio", "rel diff"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    with torch.inference_mode():
        for channels, res in QUICK_ROWS if args.quick else FULL_ROWS:
            print("| " + " | ".join(bench_row(channels, res, device, dtype, repeats, upstream)) + " |", flush=True)


if __name__ == "__main__":
    main()
