"""Time meshkit's hole filling on extracted dual-grid meshes, as the TRELLIS.2 pipeline runs it, against trimesh.

Inputs are the meshes the pipeline fills: DamagedHelmet (from ../shared) voxelised with
``ovoxel.mesh_to_flexible_dual_grid`` and extracted with ``ovoxel.flexible_dual_grid_to_mesh`` at each resolution
(512: ~2.6M faces, 1024: ~10.4M), with a share of faces removed at random so that there are thousands of holes.
Without ovoxel or the asset a wavy torus grid of similar size stands in. Each row gives median wall (and CPU) seconds
of ``meshkit.fill_holes`` on numpy arrays, wall seconds of the ``meshkit.Mesh(...).fill_holes`` path the pipeline uses,
and one run of ``trimesh.repair.fill_holes`` (which closes only triangle and quad holes) relative to meshkit's wall.

    python packages/meshkit/benchmarks/bench_fill_holes.py            # helmet at 512 and 1024
    python packages/meshkit/benchmarks/bench_fill_holes.py --quick    # 120k-face torus, seconds
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import meshkit
import numpy as np
from meshkit.holes import boundary_loops

HELMET = Path(__file__).resolve().parents[3] / ".." / "shared" / "assets" / "DamagedHelmet" / "DamagedHelmet.gltf"
LIMIT = 3e-2  # the pipeline's max_hole_perimeter, in [-0.5, 0.5]^3 box units


def torus(faces: int) -> tuple[np.ndarray, np.ndarray]:
    """A wavy torus grid with about ``faces`` faces, scaled into the unit box."""
    rings = int(np.sqrt(faces))
    segments = max(3, faces // (2 * rings))
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, rings, endpoint=False),
                       np.linspace(0, 2 * np.pi, segments, endpoint=False), indexing="ij")
    tube = 0.3 * (1 + 0.1 * np.sin(7 * u) * np.cos(5 * v))
    vertices = 0.35 * np.stack([(1 + tube * np.cos(v)) * np.cos(u), (1 + tube * np.cos(v)) * np.sin(u),
                                tube * np.sin(v)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a, b = i * segments + j, (i + 1) % rings * segments + j
    c, d = (i + 1) % rings * segments + (j + 1) % segments, i * segments + (j + 1) % segments
    return vertices, np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])


def dual_grid_mesh(resolution: int) -> tuple[str, np.ndarray, np.ndarray]:
    """(name, vertices, faces) of the helmet's extracted dual-grid mesh, or a torus of similar size without it."""
    try:
        import ovoxel
        import trimesh
    except ImportError:
        ovoxel = None
    if ovoxel is None or not HELMET.exists():
        vertices, faces = torus(10 * resolution**2)
        return f"torus (no ovoxel/helmet) ~{resolution}", vertices, faces
    mesh = trimesh.load(HELMET, force="mesh")
    points = np.asarray(mesh.vertices)
    points = (points - (points.max(0) + points.min(0)) / 2) / np.ptp(points, axis=0).max() * 0.9
    aabb = [[-0.5] * 3, [0.5] * 3]
    coords, dual, flags = ovoxel.mesh_to_flexible_dual_grid(points, mesh.faces, grid_size=resolution, aabb=aabb,
                                                            face_weight=1.0, boundary_weight=0.2,
                                                            regularization_weight=0.01)
    vertices, faces = ovoxel.flexible_dual_grid_to_mesh(coords, dual * resolution - coords, flags, split_weight=None,
                                                        aabb=aabb, grid_size=resolution)
    return f"helmet dual grid {resolution}", np.asarray(vertices, np.float64), np.asarray(faces, np.int64)


def median_seconds(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (wall, CPU summed over threads) seconds of ``function``: CPU time is the steadier on a busy machine."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def trimesh_seconds(vertices: np.ndarray, faces: np.ndarray) -> float | None:
    """Seconds of trimesh.repair.fill_holes on the mesh, or None without trimesh and networkx (which it needs)."""
    try:
        import networkx  # noqa: F401
        import trimesh
    except ImportError:
        return None
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    start = time.perf_counter()
    trimesh.repair.fill_holes(mesh)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one 120k-face torus, one repeat")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--punch", type=float, default=1e-3, help="share of faces removed to make holes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-trimesh", action="store_true", help="skip trimesh (slow and memory hungry at 10M faces)")
    args = parser.parse_args()
    if args.quick:
        meshes = [("torus (quick)", *torus(120_000))]
        args.repeats = 1
    else:
        meshes = [dual_grid_mesh(resolution) for resolution in args.resolutions]
    print(f"meshkit native threads: {meshkit.native_threads()}; max_hole_perimeter {LIMIT}")
    header = (f"{'mesh':<30} {'faces':>10} {'holes':>7} {'added':>7} {'meshkit s':>10} {'cpu s':>6} {'Mesh() s':>9} "
              f"{'trimesh s':>10} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name, vertices, faces in meshes:
        faces = faces[rng.random(len(faces)) >= args.punch]
        holes = len(boundary_loops(faces))
        filled = meshkit.fill_holes(vertices, faces, LIMIT)[1]
        ours, ours_cpu = median_seconds(lambda v=vertices, f=faces: meshkit.fill_holes(v, f, LIMIT), args.repeats)
        via_mesh, _ = median_seconds(lambda v=vertices, f=faces: meshkit.Mesh(v, f).fill_holes(LIMIT), args.repeats)
        other = None if args.no_trimesh else trimesh_seconds(vertices, faces)
        other_text = "-" if other is None else f"{other:10.3f}"
        ratio = "-" if other is None else f"{other / ours:5.1f}x"
        print(f"{name:<30} {len(faces):>10,} {holes:>7,} {len(filled) - len(faces):>7,} {ours:>10.3f} "
              f"{ours_cpu:>6.3f} {via_mesh:>9.3f} {other_text:>10} {ratio:>6}")


if __name__ == "__main__":
    main()
