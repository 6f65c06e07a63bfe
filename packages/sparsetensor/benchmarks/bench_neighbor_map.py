"""Benchmark neighbour-map construction (torch sort-and-search vs the Triton hash table) on sphere-shell voxels.

Usage: python bench_neighbor_map.py [--device cuda|cpu] [--quick] [--repeats R]
Every row checks that both backends give the same map; 'best' sweeps the probe tile and warp count of the Triton
kernels (the default is tile 1024, 4 warps). On CPU the Triton columns need TRITON_INTERPRET=1 (and are slow).
"""

from __future__ import annotations

import argparse
import os

import torch
from bench_sparse_conv import sphere_shell, timed
from sparsetensor.ops import build_neighbor_map, kernel_offsets
from sparsetensor.ops.lookup import key_extent

FULL_ROWS = [(256, 3), (512, 3), (1024, 3), (1024, 5)]
QUICK_ROWS = [(16, 3), (16, 5)]
SWEEP = [(tile, warps) for tile in (512, 1024, 2048) for warps in (4, 8)]


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
    """One table row: both backends' time for the shell at `res`, whether they agree, and the best Triton config."""
    from sparsetensor.ops.neighbor_map_triton import build_neighbor_map_triton

    coords = sphere_shell(res, device)
    row = [f"{res}", f"{kernel_size ** 3}", f"{coords.shape[0]:,}"]
    torch_ms = with_backend("torch", lambda: timed(lambda: build_neighbor_map(coords, kernel_size), device, repeats))
    triton_ms = with_backend("triton", lambda: timed(lambda: build_neighbor_map(coords, kernel_size), device, repeats))
    same = torch.equal(with_backend("torch", lambda: build_neighbor_map(coords, kernel_size)),
                       with_backend("triton", lambda: build_neighbor_map(coords, kernel_size)))
    row += [f"{torch_ms:.2f}", f"{triton_ms:.2f}", f"{torch_ms / triton_ms:.1f}", "yes" if same else "NO"]
    if not sweep:
        return row + ["-"]
    offsets = kernel_offsets(kernel_size)
    margin = kernel_size // 2
    extent = key_extent(coords, margin)
    times = {(tile, warps): timed(lambda t=tile, w=warps: build_neighbor_map_triton(coords, offsets, extent, margin,
                                                                                    tile=t, num_warps=w),
                                  device, repeats)
             for tile, warps in SWEEP}
    (tile, warps), best = min(times.items(), key=lambda item: item[1])
    return row + [f"{best:.2f} (tile {tile}, {warps} warps)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny shapes (CPU smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = args.repeats or (1 if args.quick else 20)
    print(f"device={device}; ratio = torch ms / triton ms; kernel hash build + probe, syncs included")
    header = ["res", "K", "voxels", "torch ms", "triton ms", "ratio", "same map", "best triton ms"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    with torch.inference_mode():
        for res, kernel_size in QUICK_ROWS if args.quick else FULL_ROWS:
            cells = bench_row(res, kernel_size, device, repeats, sweep=device.type == "cuda")
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
