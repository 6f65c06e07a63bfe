"""Time meshkit's texture-baking kernels, native CPU against Triton on a GPU, and check that they agree: the UV
rasterizer (a noisy sphere unwrapped into a square texture) and BVH closest points (points near the surface).

Usage: python packages/meshkit/benchmarks/bench_gpu_texturing.py [--raster-faces 500000] [--texture 2048]
           [--bvh-faces 2000000] [--points 4000000] [--repeats 3] [--quick]
--quick runs tiny sizes; without CUDA the Triton kernels then run in Triton's interpreter on the CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def best_time(function: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> tuple[float, float, Any]:
    """(first call's wall seconds, best of the following `repeats`, first result)."""
    times, result = [], None
    for run in range(repeats + 1):
        start = time.perf_counter()
        out = function()
        sync()
        times.append(time.perf_counter() - start)
        result = out if run == 0 else result
    return times[0], min(times[1:]) if repeats else times[0], result


def report(label: str, cpu_s: float, first_s: float, gpu_s: float) -> None:
    print(f"{label:>32}: CPU native {cpu_s:8.3f} s | GPU first call {first_s:8.3f} s, then {gpu_s:8.4f} s "
          f"({cpu_s / max(gpu_s, 1e-9):6.1f}x)")


def bench_raster(meshkit: Any, torch: Any, device: Any, faces_target: int, texture: int, repeats: int,
                 sync: Callable[[], None]) -> None:
    from bench_meshkit_texturing import noisy_sphere

    vertices, faces = noisy_sphere(faces_target)
    layout = meshkit.unwrap_uv(vertices, faces, texture_size=texture)
    print(f"raster: {len(layout.faces):,} faces into {texture}^2 texels")
    start = time.perf_counter()
    face_id, bary = meshkit.rasterize_uv(layout.uvs, layout.faces, texture)
    cpu_s = time.perf_counter() - start
    uvs_t = torch.as_tensor(layout.uvs, device=device)
    first_s, gpu_s, (face_t, bary_t) = best_time(lambda: meshkit.gpu.raster_triton.rasterize_uv_triton(
        uvs_t, torch.as_tensor(layout.faces, device=device), texture, texture), repeats, sync)
    report("rasterize_uv", cpu_s, first_s, gpu_s)
    same = (face_t.cpu().numpy() == face_id).mean()
    print(f"{'':>32}  face ids equal on {same:.6%} of texels ({(face_id >= 0).mean():.1%} covered), "
          f"max |barycentric difference| {np.abs(bary_t.cpu().numpy() - bary).max():.2e}")


def bench_closest(meshkit: Any, torch: Any, device: Any, faces_target: int, num_points: int, repeats: int,
                  sync: Callable[[], None]) -> None:
    from bench_meshkit_texturing import noisy_sphere

    vertices, faces = noisy_sphere(faces_target)
    rng = np.random.default_rng(1)
    directions = rng.standard_normal((num_points, 3))
    points = directions / np.linalg.norm(directions, axis=1, keepdims=True) * rng.uniform(0.98, 1.02, (num_points, 1))
    print(f"closest point: {num_points:,} points within 2% of a {len(faces):,}-face sphere")
    start = time.perf_counter()
    tree = meshkit.BVH(vertices, faces)
    print(f"{'BVH build (CPU, shared by both)':>32}: {time.perf_counter() - start:8.3f} s")
    start = time.perf_counter()
    distance, face, _ = tree.closest_point(points)
    cpu_s = time.perf_counter() - start
    start = time.perf_counter()
    device_tree = meshkit.gpu.bvh_triton.DeviceBVH(tree._tree.arrays(), device)
    sync()
    print(f"{'tree upload':>32}: {time.perf_counter() - start:8.3f} s")
    points_t = torch.as_tensor(points, device=device)
    first_s, gpu_s, result = best_time(lambda: device_tree.closest_point(points_t), repeats, sync)
    report("closest_point", cpu_s, first_s, gpu_s)
    relative = np.abs(result[0].cpu().numpy() - distance) / np.maximum(distance, 1e-300)
    print(f"{'':>32}  face ids equal for {(result[1].cpu().numpy() == face).mean():.6%} of points, "
          f"max relative distance difference {relative.max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raster-faces", type=int, default=500_000)
    parser.add_argument("--texture", type=int, default=2048)
    parser.add_argument("--bvh-faces", type=int, default=2_000_000)
    parser.add_argument("--points", type=int, default=4_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed GPU calls after the first (compiling) one")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (interpreted on the CPU without CUDA)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        if not args.quick:
            sys.exit("no CUDA device: run with --quick to check the kernels in Triton's interpreter")
        os.environ["TRITON_INTERPRET"] = "1"  # read when meshkit.gpu's kernels are defined, i.e. imported below
    if args.quick:
        args.raster_faces, args.texture, args.bvh_faces, args.points, args.repeats = 2000, 64, 2000, 256, 1
    import meshkit
    import meshkit.gpu.bvh_triton
    import meshkit.gpu.raster_triton

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU (Triton interpreter)'}, "
          f"{os.cpu_count()} CPU cores for the native code")
    bench_raster(meshkit, torch, device, args.raster_faces, args.texture, args.repeats, sync)
    bench_closest(meshkit, torch, device, args.bvh_faces, args.points, args.repeats, sync)


if __name__ == "__main__":
    main()
