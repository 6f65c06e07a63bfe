"""Benchmark neighbour-map construction on sphere-shell voxels: torch sort-and-search, the previous Triton hash
table of 64-bit voxel keys ("old", neighbor_map_hash64.py) and the brick-table Triton kernels ("new", the default).

Usage: python bench_neighbor_map.py [--device cuda|cpu] [--quick] [--repeats R]
Times include the host syncs (key extent, brick count, duplicate flag). Every row checks that all three maps are
identical; 'best new' sweeps the probe tile, warp count and brick size of the new kernels (default tile 1024,
4 warps, 4^3 bricks). On CPU the Triton columns need TRITON_INTERPRET=1 (and are slow).
"""

from __future__ import annotations

import argparse
import os

import torch
from bench_sparse_conv import sphere_shell, timed
from neighbor_map_hash64 import build_neighbor_map_triton as build_old
from sparsetensor.ops import build_neighbor_map, kernel_offsets
from sparsetensor.ops.lookup import key_extent
from sparsetensor.ops.neighbor_map_triton import build_neighbor_map_triton

FULL_ROWS = [(256, 3), (512, 3), (1024, 3), (1024, 5)]
QUICK_ROWS = [(16, 3), (16, 5)]
SWEEP = [(tile, warps, bits) for tile in (512, 1024, 2048) for warps in (4, 8) for bits in (2, 3)]


def with_backend(backend: str, fn):
    """fn() with SPARSETENSOR_NMAP_BACKEND set to `backend` (restored afterwards)."""
    previous = os.environ.get("SPARSETENSOR_NMAP_BACKEND")
    os.environ["SPARSETENSOR_NMAP_BACKEND"] = backend
    try:
        return fn()
    finally:
        if previous is None:
            del os.environ["SPARSETENSOR_NMAP_BACKEND"]
        else:
            os.environ["SPARSETENSOR_NMAP_BACKEND"] = previous


def bench_row(res: int, kernel_size: int, device: torch.device, repeats: int, sweep: bool) -> list[str]:
    """One table row: each implementation's time for the shell at `res`, whether the maps agree, the best config."""
    coords = sphere_shell(res, device)
    offsets = kernel_offsets(kernel_size)
    margin = kernel_size // 2

    def old():
        return build_old(coords, offsets, key_extent(coords, margin)[1:], margin)

    def new():
        return with_backend("triton", lambda: build_neighbor_map(coords, kernel_size))

    def reference():
        return with_backend("torch", lambda: build_neighbor_map(coords, kernel_size))

    torch_ms, old_ms, new_ms = (timed(fn, device, repeats) for fn in (reference, old, new))
    expected = reference()
    same = torch.equal(old(), expected) and torch.equal(new(), expected)
    row = [f"{res}", f"{kernel_size ** 3}", f"{coords.shape[0]:,}", f"{torch_ms:.2f}", f"{old_ms:.2f}",
           f"{new_ms:.2f}", f"{old_ms / new_ms:.2f}", "yes" if same else "NO"]
    if not sweep:
        return row + ["-"]
    extent = key_extent(coords, margin)
    times = {config: timed(lambda c=config: build_neighbor_map_triton(coords, offsets, extent, margin, tile=c[0],
                                                                        num_warps=c[1], brick_bits=c[2]),
                           device, repeats)
             for config in SWEEP}
    (tile, warps, bits), best = min(times.items(), key=lambda item: item[1])
    return row + [f"{best:.2f} (tile {tile}, {warps} warps, {1 << bits}^3 bricks)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny shapes (CPU smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = args.repeats or (1 if args.quick else 20)
    print(f"device={device}; median ms per map, host syncs included; old/new = speed-up of the brick table")
    header = ["res", "K", "voxels", "torch ms", "old triton ms", "new triton ms", "old/new", "same map",
              "best new ms"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    with torch.inference_mode():
        for res, kernel_size in QUICK_ROWS if args.quick else FULL_ROWS:
            cells = bench_row(res, kernel_size, device, repeats, sweep=device.type == "cuda")
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
