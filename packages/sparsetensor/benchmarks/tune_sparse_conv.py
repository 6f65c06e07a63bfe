"""Sweep the Triton conv's launch configurations on the benchmark rows and print the fastest per row.

This is how `conv_triton.launch_config` was chosen (we ship a heuristic instead of autotuning at run time).
Usage on a GPU: python tune_sparse_conv.py [--dtype float16] [--repeats 10]
"""

from __future__ import annotations

import argparse
import itertools

import torch
from bench_sparse_conv import FULL_ROWS, sphere_shell, timed
from sparsetensor.ops import build_neighbor_map
from sparsetensor.ops.conv_triton import launch_config, submanifold_conv3d_triton

TILES_M = (64, 128)
TILES_N = (64, 128, 256)
TILES_K = (32, 64, 128)
WARPS = (4, 8)
STAGES = (2, 3, 4)


def candidate_configs(c_in: int, c_out: int):
    """Every configuration whose tiles do not exceed the channel counts (beyond the minimum of 16)."""
    for bm, bn, bk, warps, stages in itertools.product(TILES_M, TILES_N, TILES_K, WARPS, STAGES):
        if bn > max(16, c_out) or bk > max(16, c_in) or bm * bn > 128 * 256:
            continue
        yield {"BM": bm, "BN": bn, "BK": bk, "num_warps": warps, "num_stages": stages}


def sweep_row(channels: int, res: int, dtype: torch.dtype, repeats: int) -> None:
    """Time every candidate configuration on one benchmark row and print the heuristic's time and the best four."""
    device = torch.device("cuda")
    coords = sphere_shell(res, device)
    nmap = build_neighbor_map(coords, 3)
    feats = torch.randn(coords.shape[0], channels, device=device, dtype=dtype)
    weight = torch.randn(channels, 3, 3, 3, channels, device=device, dtype=dtype) * 0.05
    results = []
    for config in candidate_configs(channels, channels):
        try:
            ms = timed(lambda c=config: submanifold_conv3d_triton(feats, nmap, weight, config=c), device, repeats)
        except Exception as error:  # e.g. out of shared memory for this tile shape: not a candidate
            print(f"  skip {config}: {type(error).__name__}")
            continue
        results.append((ms, config))
    results.sort(key=lambda item: item[0])
    default = timed(lambda: submanifold_conv3d_triton(feats, nmap, weight), device, repeats)
    heuristic = launch_config(len(coords), channels, channels)
    print(f"C={channels} res={res}: heuristic {heuristic} {default:.2f} ms", flush=True)
    for ms, config in results[:4]:
        print(f"    {ms:.2f} ms {config}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with torch.inference_mode():
        for channels, res in FULL_ROWS:
            sweep_row(channels, res, getattr(torch, args.dtype), args.repeats)


if __name__ == "__main__":
    main()
