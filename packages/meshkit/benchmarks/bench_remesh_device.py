"""Time ``meshkit.remesh_narrow_band_dc`` natively (numpy input, C++ with OpenMP) against its torch path (CUDA
tensors: Triton BVH walk and torch on the GPU; or CPU tensors, to see how the torch path scales) on the generated-like
input: ovoxel's noisy sphere voxelised at ``--resolution`` and extracted back to its dense dual-grid mesh (1024 with
radius 0.226: ~2M faces), remeshed on the export chain's grid (the box grown by 3 * band voxels).

    python packages/meshkit/benchmarks/bench_remesh_device.py --resolution 1024 --paths native cuda --stages
    python packages/meshkit/benchmarks/bench_remesh_device.py --resolution 256 --paths native torch-cpu

Prints one row per path: best and first of ``--repeat`` wall seconds (CUDA synchronised; the GPU path includes the
CPU BVH build and its upload), output size, and whether vertices and faces equal the native ones. ``--stages`` adds
the GPU path's seconds per step (synchronised, so a little slower in total). ovoxel is needed for the input only.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import meshkit
import meshkit.remesh_torch as remesh_torch
import numpy as np
import torch

TO_GLB_BENCH = Path(__file__).resolve().parents[2] / "ovoxel" / "benchmarks" / "bench_to_glb.py"
STEPS = ["find_inside_points", "repair", "dual_vertices", "quad_faces"]
QUERIES, PASSES, BUILD = "distance queries (within all steps)", "sequential repair passes (within repair)", "BVH build"
POINTS = "points queried"
LABELS = [BUILD, *STEPS, PASSES, QUERIES]


def generated_input(resolution: int, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, faces, box) of bench_to_glb's noisy sphere voxelised and extracted at ``resolution``."""
    import ovoxel

    spec = importlib.util.spec_from_file_location("bench_to_glb", TO_GLB_BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    source = bench.noisy_sphere(5 if resolution <= 128 else 7, radius)
    coords, values, box = ovoxel.mesh_to_ovoxel(source, resolution, aabb=bench.AABB, attrs=False)
    vertices, faces, _ = ovoxel.ovoxel_to_mesh(coords, values, box, resolution)
    return np.asarray(vertices, np.float64), np.asarray(faces, np.int64), np.asarray(box, np.float64)


def synchronise() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Wall seconds of each of ``repeat`` runs and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        synchronise()
        start = time.perf_counter()
        result = run()
        synchronise()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def record_steps(totals: dict[str, float]) -> None:
    """Wrap the torch path's steps and the tree's queries so that their synchronised seconds add up in ``totals``."""

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def step(*args: Any, **kwargs: Any) -> Any:
            synchronise()
            start = time.perf_counter()
            result = original(*args, **kwargs)
            synchronise()
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - start
            if label == QUERIES:
                totals[POINTS] = totals.get(POINTS, 0) + len(args[1])
            return result

        setattr(owner, name, step)

    for name in STEPS:
        wrap(remesh_torch, name, name)
    wrap(remesh_torch.Grid, "distance", QUERIES)
    wrap(remesh_torch.RepairPass, "run", PASSES)
    wrap(meshkit.BVH, "__init__", BUILD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--radius", type=float, default=0.226, help="noisy sphere radius (0.226: ~2M faces at 1024)")
    parser.add_argument("--band", type=float, default=1.0)
    parser.add_argument("--project-back", type=float, default=0.9)
    parser.add_argument("--outer-only", action="store_true", help="drop the inner shell, as the export chain does")
    parser.add_argument("--paths", nargs="+", choices=("native", "cuda", "torch-cpu"), default=["native", "cuda"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="seconds per step of the GPU (or torch-cpu) path")
    args = parser.parse_args()

    start = time.perf_counter()
    vertices, faces, box = generated_input(args.resolution, args.radius)
    extent = float((box[1] - box[0]).max())
    centre, scale = box.mean(axis=0), (args.resolution + 3 * args.band) / args.resolution * extent
    print(f"input: noisy sphere r={args.radius} at {args.resolution}^3, {len(faces):,} faces "
          f"({time.perf_counter() - start:.1f} s to build); band {args.band}, project_back {args.project_back}, "
          f"outer_only {args.outer_only}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    options = {"band": args.band, "project_back": args.project_back, "outer_only": args.outer_only}

    def remesh(v: Any, f: Any) -> Any:
        return meshkit.remesh_narrow_band_dc(v, f, centre, scale, args.resolution, **options)

    runs: dict[str, Callable[[], Any]] = {"native": lambda: remesh(vertices, faces)}
    if "cuda" in args.paths:
        if not torch.cuda.is_available():
            parser.error("--paths cuda needs a CUDA device")
        v_cuda, f_cuda = torch.from_numpy(vertices).cuda(), torch.from_numpy(faces).cuda()
        start = time.perf_counter()
        small = generated_input(64, args.radius)
        meshkit.remesh_narrow_band_dc(*(torch.from_numpy(x).cuda() for x in small[:2]), centre, scale, 64)
        print(f"GPU warm-up (Triton compilation, small input): {time.perf_counter() - start:.1f} s")
        runs["cuda"] = lambda: remesh(v_cuda, f_cuda)
    if "torch-cpu" in args.paths:
        # The torch path on CPU tensors (remesh_narrow_band_dc sends only CUDA tensors there); no outer_only.
        runs["torch-cpu"] = lambda: remesh_torch.remesh_on_device(
            meshkit.BVH(vertices, faces), tuple(centre), scale, args.resolution, args.band, args.project_back, "cpu")

    totals: dict[str, float] = {}
    if args.stages:
        record_steps(totals)
    results = {}
    print(f"\n| path | best s | first s | vertices | faces | equals native |\n|{' --- |' * 6}")
    for path in ["native"] + [p for p in args.paths if p != "native"]:
        totals.clear()
        seconds, (out_v, out_f) = timed(runs[path], args.repeat)
        results[path] = (np.asarray(out_v.cpu() if torch.is_tensor(out_v) else out_v),
                         np.asarray(out_f.cpu() if torch.is_tensor(out_f) else out_f))
        same = "-" if path == "native" else str(
            results[path][1].shape == results["native"][1].shape and (results[path][1] == results["native"][1]).all()
            and np.abs(results[path][0] - results["native"][0]).max(initial=0.0) <= 1e-9 * scale)
        print(f"| {path} | {min(seconds):.3f} | {seconds[0]:.3f} | {len(out_v):,} | {len(out_f):,} | {same} |")
        if args.stages and path != "native":
            for label in LABELS:
                print(f"|   {label}, mean | {totals.get(label, 0.0) / args.repeat:.3f} | | | | |")
            print(f"|   {POINTS} per run | {totals.get(POINTS, 0) // args.repeat:,} | | | | |")


if __name__ == "__main__":
    main()
