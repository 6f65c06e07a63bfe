"""Time meshkit's UV unwrap and UV rasterizer on a noisy sphere (CPU time / wall time = cores kept busy).

Usage: python packages/meshkit/benchmarks/bench_meshkit_texturing.py [--faces 500000] [--texture 2048] [--xatlas]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from meshkit.raster import rasterize_uv
from meshkit.uv import unwrap_uv


def noisy_sphere(target_faces: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A latitude-longitude sphere with about ``target_faces`` triangles and 0.2% radial noise."""
    n = max(4, int(np.sqrt(target_faces / 4)))
    theta, phi = np.meshgrid(np.linspace(0.01, np.pi - 0.01, n), np.linspace(0, 2 * np.pi, 2 * n, endpoint=False),
                             indexing="ij")
    radius = 1 + 0.002 * np.random.default_rng(seed).standard_normal(theta.shape)
    vertices = np.stack([radius * np.sin(theta) * np.cos(phi), radius * np.sin(theta) * np.sin(phi),
                         radius * np.cos(theta)], -1).reshape(-1, 3)
    idx = np.arange(n * 2 * n).reshape(n, 2 * n)
    a, b = idx[:-1], np.roll(idx, -1, axis=1)[:-1]
    c, d = idx[1:], np.roll(idx, -1, axis=1)[1:]
    faces = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return vertices, faces


def timed(label: str, function, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:>22}: {wall:7.2f} s wall, {cpu / max(wall, 1e-9):4.2f} cores busy")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=500_000)
    parser.add_argument("--texture", type=int, default=2048)
    parser.add_argument("--xatlas", action="store_true", help="also time xatlas (pip install xatlas) as a baseline")
    args = parser.parse_args()
    vertices, faces = noisy_sphere(args.faces)
    print(f"mesh: {len(vertices)} vertices, {len(faces)} faces; texture {args.texture}^2")
    result = timed("meshkit unwrap_uv", unwrap_uv, vertices, faces, args.texture)
    print(f"{'':>22}  {result.chart_of_face.max() + 1} charts, {len(result.uvs)} uv vertices")
    face_id, _ = timed("meshkit rasterize_uv", rasterize_uv, result.uvs, result.faces, args.texture)
    print(f"{'':>22}  texels covered: {(face_id >= 0).mean():.1%}")
    if args.xatlas:
        import xatlas

        timed("xatlas parametrize", xatlas.parametrize, vertices.astype(np.float32), faces.astype(np.uint32))


if __name__ == "__main__":
    main()
