"""Time mesh -> flexible dual grid and its extraction back to a mesh, on 1 CPU thread and all threads (native C++
for numpy inputs), and the extraction on CUDA when present: the Triton path beside the torch path (the same output,
checked on every row).

Usage: python benchmarks/bench_ovoxel_geometry.py [--quick] [--gpu-only] [--assets DIR]
Prints a markdown table comparable to issue 5's upstream figures.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial
from pathlib import Path
from unittest.mock import patch

import numpy as np
import ovoxel
import trimesh

AABB = [[-0.5] * 3, [0.5] * 3]
UPSTREAM_1T = {("icosphere", 256): 1.99, ("icosphere", 512): 3.44, ("icosphere", 1024): 9.52,
               ("Duck", 256): 0.24, ("Duck", 512): 1.45, ("Duck", 1024): 5.56}
UPSTREAM_CUDA_MS = {("icosphere", 256): 1.73, ("icosphere", 512): 2.46, ("icosphere", 1024): 9.18}  # H100, issue 5
GPU_BACKENDS = ("torch", "auto")  # OVOXEL_EXTRACT_BACKEND values: the torch path, and Triton where installed


def best_of(fn, repeats: int) -> float:
    """Smallest wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def load_inputs(quick: bool, assets: Path) -> dict[str, trimesh.Trimesh]:
    """The icosphere (1.31M triangles, 20480 in quick mode) and Duck.glb normalised to [-0.45, 0.45]^3."""
    meshes = {"icosphere": trimesh.creation.icosphere(subdivisions=5 if quick else 8, radius=0.45)}
    duck = assets / "Duck.glb"
    if duck.exists():
        mesh = trimesh.load(duck, force="mesh")
        lo, hi = mesh.bounds
        mesh.apply_translation(-(lo + hi) / 2)
        mesh.apply_scale(0.9 / (hi - lo).max())
        meshes["Duck"] = mesh
    return meshes


def extraction_timers(coords, offsets, flags, grid, cpu: bool = True) -> dict[str, object]:
    """Callables for native CPU extraction on 1 and all threads (when `cpu`) and, when CUDA is present, for the
    torch and Triton CUDA paths (each returns its mesh, synchronised)."""
    extract = partial(ovoxel.flexible_dual_grid_to_mesh, coords, offsets, flags, aabb=AABB, grid_size=grid)
    timers = {"cpu1": partial(extract, num_threads=1), "cpu": partial(extract, num_threads=0)} if cpu else {}
    try:
        import torch
    except ImportError:
        return timers
    if torch.cuda.is_available():
        c, o, f = (torch.as_tensor(a, device="cuda") for a in (coords, offsets, flags))

        def on_gpu(backend: str):
            with patch.dict(os.environ, {"OVOXEL_EXTRACT_BACKEND": backend}):
                mesh = ovoxel.flexible_dual_grid_to_mesh(c, o, f, aabb=AABB, grid_size=grid)
            torch.cuda.synchronize()
            return mesh

        timers.update({backend: partial(on_gpu, backend) for backend in GPU_BACKENDS})
    return timers


def gpu_columns(timers: dict[str, object], repeats: int) -> str:
    """'torch ms | Triton ms | same output' cells: best of `repeats` after a warm-up (Triton compiles on first use)."""
    if not all(key in timers for key in GPU_BACKENDS):
        return "- | - | -"
    import torch

    meshes = [timers[key]() for key in GPU_BACKENDS]
    same = all(torch.equal(a, b) for a, b in zip(*meshes, strict=True))
    times = [best_of(timers[key], repeats) * 1e3 for key in GPU_BACKENDS]
    return f"{times[0]:.2f} ms | {times[1]:.2f} ms | {'yes' if same else 'NO'}"


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sphere and grids 64/128 for a smoke run")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU timings (the grid is still built once)")
    parser.add_argument("--assets", type=Path,
                        default=Path(__file__).resolve().parents[3] / ".." / "shared" / "assets")
    args = parser.parse_args()
    grids = [64, 128] if args.quick else [256, 512, 1024]
    repeats = 1 if args.quick else 3
    all_threads = ovoxel.native_threads()
    print(f"| input | tris | grid | voxels | mesh->grid 1 thread | {all_threads} threads | upstream 1 thread "
          f"| extraction 1 thread | {all_threads} threads | CUDA torch | CUDA Triton | same output "
          f"| upstream CUDA (H100) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, mesh in load_inputs(args.quick, args.assets).items():
        v, f = np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int32)
        for grid in grids:
            convert = partial(ovoxel.mesh_to_flexible_dual_grid, v, f, grid_size=grid, aabb=AABB)
            t1 = None if args.gpu_only else best_of(partial(convert, num_threads=1), repeats)
            tn = None if args.gpu_only else best_of(partial(convert, num_threads=0), repeats)
            coords, duals, flags = convert()
            offsets = duals * grid - coords
            timers = extraction_timers(coords, offsets, flags, grid, cpu=not args.gpu_only)
            ext = " | ".join("-" if key not in timers else f"{best_of(timers[key], repeats) * 1e3:.1f} ms"
                             for key in ("cpu1", "cpu"))
            up, up_cuda = UPSTREAM_1T.get((name, grid)), UPSTREAM_CUDA_MS.get((name, grid))
            build = " | ".join("-" if t is None else f"{t:.3f} s" for t in (t1, tn))
            print(f"| {name} | {len(f)} | {grid} | {len(coords) / 1e6:.2f}M | {build} | "
                  f"{'-' if up is None else f'{up:.2f} s'} | {ext} | {gpu_columns(timers, max(repeats, 20))} | "
                  f"{'-' if up_cuda is None else f'{up_cuda:.2f} ms'} |", flush=True)


if __name__ == "__main__":
    main()
