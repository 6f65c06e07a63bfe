"""Time meshkit's cleanup passes (the ones `to_glb` runs) on the numpy/native path and as torch code on a device.

Input: the bumpy sphere's dual-grid mesh that bench_meshkit_geometry builds (`dual_grid_mesh("sphere", 1024)`,
2,015,636 faces; 256 with --quick), cached as .npz in the temp folder; `--faces 1500000 500000` also times every
pass on that mesh simplified to those counts, the sizes at which upstream's chain runs them (the first cleanup round
after simplifying to three times the 500k target, the last round and the orientation at the target). Each pass runs
on numpy arrays (native code)
and on tensors already on `--device` (cleanup_torch, or fill_holes_on_device for the holes), best of `--repeats`
after one untimed warm-up, the device time ending with a synchronisation. The table gives milliseconds, whether
both paths gave the same vertices and faces, and, on CUDA, the host syncs of one call.

    python packages/meshkit/benchmarks/bench_cleanup_device.py --device cuda
    python packages/meshkit/benchmarks/bench_cleanup_device.py --device cuda --faces 1500000 500000
    python packages/meshkit/benchmarks/bench_cleanup_device.py --quick --device cpu --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from meshkit import cleanup, cleanup_torch, fill_holes, simplify
from meshkit.holes import fill_holes_on_device

HOLE_PERIMETER = 3e-2  # to_glb's limits, relative to the mesh's extent
SMALL_AREA = 1e-5


def sphere_mesh(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """bench_meshkit_geometry's dual-grid sphere (that script is loaded from beside this one)."""
    path = Path(__file__).resolve().parent / "bench_meshkit_geometry.py"
    spec = importlib.util.spec_from_file_location("bench_meshkit_geometry", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mesh = module.dual_grid_mesh("sphere", resolution)
    if mesh is None:
        raise SystemExit("the dual-grid sphere needs ovoxel installed")
    return mesh


def passes(extent: float) -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    """Pass name -> (numpy/native function, device function), each taking (vertices, faces)."""
    area, perimeter = SMALL_AREA * extent**2, HOLE_PERIMETER * extent
    return {
        "remove_duplicate_faces": (cleanup.remove_duplicate_faces, cleanup_torch.remove_duplicate_faces),
        "repair_non_manifold": (cleanup.repair_non_manifold, cleanup_torch.repair_non_manifold),
        "remove_small_components": (lambda v, f: cleanup.remove_small_components(v, f, min_area=area),
                                    lambda v, f: cleanup_torch.remove_small_components(v, f, min_area=area)),
        "fill_holes": (lambda v, f: fill_holes(v, f, perimeter), lambda v, f: fill_holes_on_device(v, f, perimeter)),
        "unify_orientation": (cleanup.unify_orientation, cleanup_torch.unify_orientation),
        "remove_unreferenced_vertices": (cleanup.remove_unreferenced_vertices,
                                         cleanup_torch.remove_unreferenced_vertices),
    }


def best_ms(run: Callable[[], Any], repeats: int, device: torch.device | None = None) -> tuple[float, Any]:
    """Best wall time of `repeats` calls after a warm-up, in ms (synchronising `device` when given), and a result."""
    result = run()
    best = float("inf")
    for _ in range(repeats):
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = run()
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best, result


def count_syncs(run: Callable[[], Any]) -> int:
    """Host syncs of one call on CUDA, as torch's sync debug mode reports them."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def time_passes(v: np.ndarray, f: np.ndarray, device: torch.device, repeats: int) -> dict[str, dict[str, Any]]:
    """Every pass on (v, f) as numpy and as tensors on `device`: one printed table, and its rows by pass name."""
    extent = float(np.ptp(v, axis=0).max())
    tensors = (torch.from_numpy(v).to(device), torch.from_numpy(f).to(device))
    print(f"input: {len(f):,} faces, {len(v):,} vertices; device {device} "
          f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU tensors'})")
    print(f"{'pass':<30}{'numpy ms':>10}{'torch ms':>10}{'speedup':>9}{'syncs':>7}  same")
    rows = {}
    for name, (native, on_device) in passes(extent).items():
        native_ms, expected = best_ms(lambda native=native: native(v, f), repeats)
        device_ms, result = best_ms(lambda run=on_device: run(*tensors), repeats, device)
        syncs = count_syncs(lambda run=on_device: run(*tensors)) if device.type == "cuda" else None
        same = all(np.array_equal(np.asarray(a), b.cpu().numpy()) for a, b in zip(expected, result, strict=True))
        rows[name] = {"numpy_ms": native_ms, "torch_ms": device_ms, "syncs": syncs, "same": same,
                      "faces_out": len(result[1])}
        print(f"{name:<30}{native_ms:>10.1f}{device_ms:>10.1f}{native_ms / device_ms:>8.1f}x"
              f"{'-' if syncs is None else syncs:>7}  {same}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="the 256^3 dual grid instead")
    parser.add_argument("--faces", type=int, nargs="*", default=[],
                        help="also time the passes on the mesh simplified (native code) to these face counts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    device = torch.device(args.device)
    v, f = sphere_mesh(256 if args.quick else args.resolution)
    tables = {len(f): time_passes(v, f, device, args.repeats)}
    for target in args.faces:
        simplified = simplify(v, f, target)
        print()
        tables[len(simplified.faces)] = time_passes(simplified.vertices, simplified.faces, device, args.repeats)
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "passes_by_faces": tables}, indent=1))


if __name__ == "__main__":
    main()
