"""Time meshkit's geometry passes on a large procedural mesh and compare simplification with PyPI libraries.

The test mesh is a bumpy torus grid (watertight, 2,000,000 faces by default), simplified to 500,000 faces by
meshkit, fast-simplification and pymeshlab (each where it is installed), side by side: seconds, faces reached,
symmetric Chamfer distance to the input (relative to the bounding-box diagonal) and time ratios (other / meshkit).
Cleanup passes, hole filling and a narrow-band remesh are timed too.

    python packages/meshkit/benchmarks/bench_meshkit_geometry.py           # 2M -> 500k faces
    python packages/meshkit/benchmarks/bench_meshkit_geometry.py --quick   # 80k -> 20k smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import meshkit
import numpy as np
from meshkit import BVH, cleanup


def bumpy_torus(rings: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed torus grid with 2 * rings * segments faces and a wavy surface (so QEM has curvature to keep)."""
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, rings, endpoint=False),
                       np.linspace(0, 2 * np.pi, segments, endpoint=False), indexing="ij")
    tube = 0.3 * (1 + 0.08 * np.sin(7 * u) * np.cos(5 * v))
    x = (1 + tube * np.cos(v)) * np.cos(u)
    y = (1 + tube * np.cos(v)) * np.sin(u)
    z = tube * np.sin(v)
    vertices = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a = i * segments + j
    b = ((i + 1) % rings) * segments + j
    c = ((i + 1) % rings) * segments + (j + 1) % segments
    d = i * segments + (j + 1) % segments
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return vertices, faces


def chamfer(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], samples: int = 200_000) -> float:
    """Symmetric Chamfer distance (mean of both one-sided mean closest distances) over random surface samples."""

    def sample(mesh: tuple[np.ndarray, np.ndarray], seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        v, f = mesh
        pick = rng.integers(0, len(f), samples)
        w = rng.dirichlet(np.ones(3), samples)
        return np.einsum("sk,skd->sd", w, v[f[pick]])

    return float((BVH(*b).closest_point(sample(a, 0))[0].mean() + BVH(*a).closest_point(sample(b, 1))[0].mean()) / 2)


def timed(function: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def simplifiers(vertices: np.ndarray, faces: np.ndarray, target: int) -> dict[str, Callable]:
    """Simplification runners by name, for the libraries that import here."""
    runners: dict[str, Callable] = {}

    def ours() -> tuple[np.ndarray, np.ndarray]:
        result = meshkit.simplify(vertices, faces, target)
        return result.vertices, result.faces

    runners["meshkit"] = ours
    try:
        import fast_simplification

        runners["fast-simplification"] = lambda: fast_simplification.simplify(
            vertices.astype(np.float32), faces.astype(np.int32), target_reduction=1 - target / len(faces)
        )
    except ImportError:
        print("fast-simplification not installed: skipped")
    try:
        import pymeshlab

        def meshlab() -> tuple[np.ndarray, np.ndarray]:
            mesh_set = pymeshlab.MeshSet()
            mesh_set.add_mesh(pymeshlab.Mesh(vertices, faces.astype(np.int32)))
            mesh_set.meshing_decimation_quadric_edge_collapse(targetfacenum=target)
            out = mesh_set.current_mesh()
            return out.vertex_matrix(), out.face_matrix()

        runners["pymeshlab"] = meshlab
    except ImportError:
        print("pymeshlab not installed: skipped")
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small mesh (80k -> 20k faces) smoke run")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    rings, segments, target = (200, 200, 20_000) if args.quick else (1000, 1000, 500_000)
    vertices, faces = bumpy_torus(rings, segments)
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    print(f"input: {len(faces):,} faces; target {target:,}; native threads {meshkit.native_threads()}")
    results: dict[str, dict] = {"input_faces": len(faces), "target": target, "simplify": {}, "passes": {}}

    for name, run in simplifiers(vertices, faces, target).items():
        seconds, (v, f) = timed(run)
        error = chamfer((vertices, faces), (np.asarray(v, np.float64), np.asarray(f, np.int64))) / diagonal
        results["simplify"][name] = {"seconds": seconds, "faces": int(len(f)), "chamfer_over_diagonal": error}
    ours = results["simplify"]["meshkit"]["seconds"]
    print(f"\n{'simplifier':<22}{'seconds':>9}{'faces':>10}{'off target':>12}{'chamfer/diag':>14}{'time ratio':>12}")
    for name, row in results["simplify"].items():
        off = (row["faces"] - target) / target
        print(f"{name:<22}{row['seconds']:>9.2f}{row['faces']:>10,}{off:>11.2%} {row['chamfer_over_diagonal']:>13.2e}"
              f"{row['seconds'] / ours:>12.2f}")

    remesh_resolution = 64 if args.quick else 256
    holed = faces[np.random.default_rng(0).random(len(faces)) > 1e-4]  # ~200 small holes at full size
    passes = {
        "remove_duplicate_faces": lambda: cleanup.remove_duplicate_faces(vertices, faces),
        "repair_non_manifold": lambda: cleanup.repair_non_manifold(vertices, faces),
        "remove_small_components": lambda: cleanup.remove_small_components(vertices, faces, min_area=1e-5),
        "unify_orientation": lambda: cleanup.unify_orientation(vertices, faces),
        "fill_holes": lambda: meshkit.fill_holes(vertices, holed, max_hole_perimeter=0.03),
        "bvh_build": lambda: BVH(vertices, faces),
        f"remesh_narrow_band_dc({remesh_resolution})": lambda: meshkit.remesh_narrow_band_dc(
            vertices, faces, np.zeros(3), 2.7, remesh_resolution, 1.0, 0.9
        ),
    }
    print(f"\n{'pass':<30}{'seconds':>9}")
    for name, run in passes.items():
        seconds, _ = timed(run)
        results["passes"][name] = seconds
        print(f"{name:<30}{seconds:>9.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
