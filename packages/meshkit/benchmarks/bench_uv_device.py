"""Time meshkit.unwrap_uv on numpy against the torch path on a device, on to_glb's 500k-face bumpy sphere.

The mesh is the bumpy sphere's dual grid at 1024^3 (bench_meshkit_geometry.dual_grid_mesh("sphere", 1024), needs
ovoxel) simplified to 500,000 faces with meshkit.simplify, cached as .npz in the temp folder. The numpy path and
the torch path on `--device` (tensors already there; one untimed warm-up call, each timing ends with a device
synchronisation) unwrap it at `--texture-size`; the table gives best-of-`--repeats` wall seconds, charts and
output vertices, whether the layouts agree (chart ids, faces, max UV difference) and the texel utilisation (UV
area over the texture, and the share of texel centres the rasterizer covers).

    python packages/meshkit/benchmarks/bench_uv_device.py --device cuda
    python packages/meshkit/benchmarks/bench_uv_device.py --quick --device cpu      # 256^3 grid, 50k faces
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import meshkit
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_meshkit_geometry import dual_grid_mesh  # noqa: E402


def simplified_sphere(resolution: int, faces: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The dual-grid bumpy sphere simplified to `faces` faces, cached as .npz in the temp folder."""
    cache = Path(tempfile.gettempdir()) / f"meshkit_bench_uv_sphere_{resolution}_{faces}.npz"
    if cache.exists():
        with np.load(cache) as stored:
            return stored["vertices"], stored["faces"]
    mesh = dual_grid_mesh("sphere", resolution)
    if mesh is None:
        return None
    result = meshkit.simplify(*mesh, faces)
    vertices, faces_out = np.asarray(result.vertices, np.float64), np.asarray(result.faces, np.int64)
    np.savez(cache, vertices=vertices, faces=faces_out)
    return vertices, faces_out


def best_time(call: Callable[[], Any], repeats: int, synchronize: Callable[[], None]) -> tuple[float, Any]:
    """Best wall time of `repeats` calls (each ended by `synchronize`) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def utilisation(layout: meshkit.UVUnwrap, texture_size: int) -> tuple[float, float]:
    """(total UV triangle area, share of texel centres inside a triangle) of a numpy layout."""
    a, b, c = (layout.uvs[layout.faces[:, k]] for k in range(3))
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]).sum()
    face_id, _ = meshkit.rasterize_uv(layout.uvs, layout.faces, texture_size)
    return float(area), float((np.asarray(face_id) >= 0).mean())


def run(device: str, resolution: int, faces: int, texture_size: int, repeats: int) -> dict[str, Any] | None:
    import torch

    mesh = simplified_sphere(resolution, faces)
    if mesh is None:
        return None
    vertices, faces_in = mesh
    print(f"input: bumpy sphere dual grid {resolution}^3 simplified to {len(faces_in):,} faces, "
          f"texture {texture_size}^2, device {device}")
    numpy_seconds, expected = best_time(lambda: meshkit.unwrap_uv(vertices, faces_in, texture_size), repeats,
                                        lambda: None)
    v, f = torch.from_numpy(vertices).to(device), torch.from_numpy(faces_in).to(device)

    def synchronize() -> None:
        if v.device.type == "cuda":
            torch.cuda.synchronize(v.device)

    from meshkit.uv_torch import unwrap_uv_torch

    unwrap_uv_torch(v, f, texture_size)  # warm-up: kernels, caching allocator
    synchronize()
    torch_seconds, result = best_time(lambda: unwrap_uv_torch(v, f, texture_size), repeats, synchronize)
    got = meshkit.UVUnwrap(*(x.cpu().numpy() for x in result))
    same_charts = bool(np.array_equal(got.chart_of_face, expected.chart_of_face))
    same_faces = bool(np.array_equal(got.faces, expected.faces))
    uv_difference = float(np.abs(got.uvs - expected.uvs).max()) if got.uvs.shape == expected.uvs.shape else None
    area, covered = utilisation(expected, texture_size)
    rows = [("numpy", numpy_seconds, expected), (f"torch on {device}", torch_seconds, got)]
    print(f"{'unwrap_uv':>18} {'seconds':>8} {'charts':>7} {'vertices':>10} {'speed-up':>8}")
    for name, seconds, layout in rows:
        print(f"{name:>18} {seconds:8.3f} {int(layout.chart_of_face.max()) + 1:7,} {len(layout.uvs):10,} "
              f"{numpy_seconds / seconds:8.1f}")
    print(f"same charts: {same_charts}, same faces: {same_faces}, max |uv difference|: {uv_difference}")
    print(f"texel utilisation: UV area {area:.1%} of the square, texel centres covered {covered:.1%}")
    return {"faces": len(faces_in), "texture_size": texture_size, "device": device, "numpy_seconds": numpy_seconds,
            "torch_seconds": torch_seconds, "charts": int(expected.chart_of_face.max()) + 1,
            "same_charts": same_charts, "same_faces": same_faces, "max_uv_difference": uv_difference,
            "uv_area": area, "texels_covered": covered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--texture-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="256^3 grid simplified to 50,000 faces")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    resolution, faces = (256, 50_000) if args.quick else (1024, 500_000)
    report = run(device, resolution, faces, args.texture_size, args.repeats)
    if report is not None and args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
