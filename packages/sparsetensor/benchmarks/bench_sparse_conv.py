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


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of fn() in milliseconds (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1e3)
    return sorted(samples)[len(samples) // 2]


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
    print(f"device={device} dtype={dtype}")
    print(f"| {'C':>5} | {'res':>5} | {'voxels':>10} | {'nmap ms':>8} | {'conv ms':>8} | {'TFLOP/s':>8} |")
    print("| ----: | ----: | ---------: | -------: | -------: | -------: |")
    with torch.inference_mode():
        for channels, res in QUICK_ROWS if args.quick else FULL_ROWS:
            coords = sphere_shell(res, device)
            nmap_ms = timed(lambda c=coords: build_neighbor_map(c, 3), device, repeats)
            nmap = build_neighbor_map(coords, 3)
            pairs = int((nmap >= 0).sum())
            feats = torch.randn(coords.shape[0], channels, device=device, dtype=dtype)
            weight = torch.randn(channels, 3, 3, 3, channels, device=device, dtype=dtype) * 0.05
            bias = torch.zeros(channels, device=device, dtype=dtype)
            conv_ms = timed(lambda f=feats, c=coords, w=weight, b=bias, m=nmap: submanifold_conv3d(f, c, w, b,
                                                                                             neighbor_map=m),
                            device, repeats)
            tflops = 2 * pairs * channels * channels / (conv_ms * 1e-3) / 1e12
            print(f"| {channels:>5} | {res:>5} | {coords.shape[0]:>10,} | {nmap_ms:>8.2f} | {conv_ms:>8.2f} "
                  f"| {tflops:>8.3f} |")
            del coords, nmap, feats, weight


if __name__ == "__main__":
    main()
