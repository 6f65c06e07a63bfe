"""Time mesh -> flexible dual grid and its extraction back to a mesh, on 1 CPU thread and all threads (native C++
for numpy inputs), and the extraction on CUDA (torch path) when present.

Usage: python benchmarks/bench_ovoxel_geometry.py [--quick] [--assets DIR]
Prints a markdown table comparable to issue 5's upstream figures.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
import ovoxel
import trimesh

AABB = [[-0.5] * 3, [0.5] * 3]
UPSTREAM_1T = {("icosphere", 256): 1.99, ("icosphere", 512): 3.44, ("icosphere", 1024): 9.52,
               ("Duck", 256): 0.24, ("Duck", 512): 1.45, ("Duck", 1024): 5.56}


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


def extraction_timers(coords, offsets, flags, grid) -> dict[str, object]:
    """Callables for native CPU extraction on 1 and all threads and, when available, torch CUDA extraction."""
    extract = partial(ovoxel.flexible_dual_grid_to_mesh, coords, offsets, flags, aabb=AABB, grid_size=grid)
    timers = {"cpu1": partial(extract, num_threads=1), "cpu": partial(extract, num_threads=0)}
    try:
        import torch
    except ImportError:
        return timers
    if torch.cuda.is_available():
        c, o, f = (torch.as_tensor(a, device="cuda") for a in (coords, offsets, flags))

        def on_gpu():
            ovoxel.flexible_dual_grid_to_mesh(c, o, f, aabb=AABB, grid_size=grid)
            torch.cuda.synchronize()

        timers["cuda"] = on_gpu
    return timers


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sphere and grids 64/128 for a smoke run")
    parser.add_argument("--assets", type=Path,
                        default=Path(__file__).resolve().parents[3] / ".." / "shared" / "assets")
    args = parser.parse_args()
    grids = [64, 128] if args.quick else [256, 512, 1024]
    repeats = 1 if args.quick else 3
    all_threads = ovoxel.native_threads()
    print(f"| input | tris | grid | voxels | mesh->grid 1 thread | {all_threads} threads | upstream 1 thread "
          f"| extraction 1 thread | {all_threads} threads | CUDA |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, mesh in load_inputs(args.quick, args.assets).items():
        v, f = np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int32)
        for grid in grids:
            convert = partial(ovoxel.mesh_to_flexible_dual_grid, v, f, grid_size=grid, aabb=AABB)
            t1 = best_of(partial(convert, num_threads=1), repeats)
            tn = best_of(partial(convert, num_threads=0), repeats)
            coords, duals, flags = convert()
            offsets = duals * grid - coords
            timers = extraction_timers(coords, offsets, flags, grid)
            ext = " | ".join("-" if key not in timers else f"{best_of(timers[key], repeats) * 1e3:.1f} ms"
                             for key in ("cpu1", "cpu", "cuda"))
            up = UPSTREAM_1T.get((name, grid))
            print(f"| {name} | {len(f)} | {grid} | {len(coords) / 1e6:.2f}M | {t1:.3f} s | {tn:.3f} s | "
                  f"{'-' if up is None else f'{up:.2f} s'} | {ext} |", flush=True)

if __name__ == "__main__":
    main()
