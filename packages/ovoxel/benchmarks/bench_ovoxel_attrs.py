"""Time textured mesh -> PBR voxel attributes: the previous numpy path (tests/attr_reference.py) against the native
one on 1 and 2 threads, each call from the mesh file (loading and texture decoding included, imports warm).

Usage: python benchmarks/bench_ovoxel_attrs.py [--grids 256 512 1024] [--threads 1 2] [--reference-max-grid 1024]
           [--asset PATH] [--repeats 2] [--fresh-processes 0]
Prints a markdown table; every native result is checked byte-identical to the numpy one where that ran. With
--fresh-processes N, each native cell also shows the first call of N new processes (its buffers are all fresh pages,
as in a one-shot run; min / median). OpenBLAS threads are held to one: once numpy is imported they spin and inflate
the CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import numpy as np  # noqa: E402
import ovoxel  # noqa: E402
from ovoxel.mesh_loading import load_parts  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from attr_reference import reference_volumetric_attr  # noqa: E402

DEFAULT_ASSET = HERE.parents[2] / ".." / "shared" / "assets" / "DamagedHelmet" / "DamagedHelmet.gltf"


def timed(fn, repeats: int):
    """(result of the last call, smallest wall seconds, CPU seconds of that call) over `repeats` calls."""
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        sample = (time.perf_counter() - wall, time.process_time() - cpu)
        best = sample if best is None or sample[0] < best[0] else best
    return result, best[0], best[1]


def first_calls(asset: Path, grid: int, threads: int, processes: int) -> str:
    """'wall (CPU)' of the first native call in each of `processes` new processes (imports warmed there first):
    the minimum and the median."""
    samples = []
    for _ in range(processes):
        out = subprocess.run([sys.executable, __file__, "--asset", str(asset), "--single", str(grid), str(threads)],
                             capture_output=True, text=True, check=True).stdout.split()
        samples.append((float(out[0]), float(out[1])))
    walls, cpus = zip(*samples, strict=True)
    return (f"first {min(walls):.2f} / {statistics.median(walls):.2f} "
            f"({min(cpus):.2f} / {statistics.median(cpus):.2f})")


def same(a, b) -> bool:
    return np.array_equal(a[0], b[0]) and all(np.array_equal(a[1][k], b[1][k]) for k in b[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asset", type=Path, default=DEFAULT_ASSET)
    parser.add_argument("--grids", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reference-max-grid", type=int, default=1024, help="skip the numpy path above this grid")
    parser.add_argument("--repeats", type=int, default=2, help="native calls per cell (best wall time is shown)")
    parser.add_argument("--fresh-processes", type=int, default=0, help="also time first calls in this many processes")
    parser.add_argument("--single", type=int, nargs=2, metavar=("GRID", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.asset.is_file():
        raise SystemExit(f"asset not found: {args.asset}")
    load_parts(args.asset)  # warm imports (trimesh, PIL plugins)
    if args.single:  # a child of --fresh-processes: one call, "wall cpu"
        _, wall, cpu = timed(lambda: ovoxel.textured_mesh_to_volumetric_attr(
            args.asset, grid_size=args.single[0], num_threads=args.single[1]), 1)
        print(wall, cpu)
        return
    header = ["grid", "voxels", "numpy s (CPU s)"] + [f"native {t} thr s (CPU s)" for t in args.threads]
    fresh = (f"; first: the first call in each of {args.fresh_processes} new processes, min / median"
             if args.fresh_processes else "")
    print(f"asset: {args.asset.name}; wall seconds per call from the file, best of {args.repeats} for native{fresh}\n")
    print("| " + " | ".join(header + ["speed-up 1 thr", "identical"]) + " |")
    print("|" + "---|" * (len(header) + 2))
    for grid in args.grids:
        reference, ref_cells = None, ["skipped"]
        if grid <= args.reference_max_grid:
            reference, wall, cpu = timed(lambda g=grid: reference_volumetric_attr(args.asset, grid_size=g), 1)
            ref_cells = [f"{wall:.2f} ({cpu:.2f})"]
        cells, walls, identical = [], {}, True
        for threads in args.threads:
            result, wall, cpu = timed(lambda g=grid, t=threads: ovoxel.textured_mesh_to_volumetric_attr(
                args.asset, grid_size=g, num_threads=t), args.repeats)
            walls[threads] = wall
            cells.append(f"{wall:.2f} ({cpu:.2f})" + (
                f"; {first_calls(args.asset, grid, threads, args.fresh_processes)}" if args.fresh_processes else ""))
            identical &= reference is None or same(result, reference)
        speedup = f"{float(ref_cells[0].split()[0]) / walls[args.threads[0]]:.1f}x" if reference else "-"
        verdict = "not checked" if reference is None else ("yes" if identical else "NO")
        print("| " + " | ".join([str(grid), f"{len(result[0]):,}", *ref_cells, *cells, speedup, verdict]) + " |",
              flush=True)


if __name__ == "__main__":
    main()
