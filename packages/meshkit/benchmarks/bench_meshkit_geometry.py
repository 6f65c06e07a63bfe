"""Time meshkit's geometry passes on large meshes and compare simplification with PyPI libraries.

Simplification inputs: `sphere`, the bumpy sphere's dual-grid mesh at 1024^3 that ovoxel's to_glb benchmark
builds (`--resolution 1024 --radius 0.226`, 2,015,636 faces); `asset`, Duck.glb from ../shared voxelised and
extracted at 512^3 (1,865,362 faces); `icosphere`, a bumpy trimesh icosphere (1,310,720 faces), which replaces the
asset without ovoxel or ../shared. The dual-grid meshes need ovoxel and are built once, then cached as .npz in the
temp folder. Each goes to 500,000 faces through meshkit, fast-simplification and pymeshlab (each where
it is installed: `pip install meshkit[bench]`), side by side: wall and CPU seconds, faces reached, symmetric
Chamfer distance to the input (relative to the bounding-box diagonal) and the time ratio (other / meshkit).
With `--device cuda` (or cpu) the torch port, meshkit.simplify_torch, runs too, on tensors already on that device
(on an accelerator after one untimed warm-up call, best of three; the time ends with a device synchronisation).
Seconds below 1 s are printed with three decimals. `--syncs` then
profiles one more call of it with torch.profiler and prints per-call counts of host waits (cudaStreamSynchronize,
and the ops that cause them: nonzero, item, bincount, ...), kernel launches and GPU kernel time. Cleanup passes,
hole filling and a narrow-band remesh are timed on a 2M-face bumpy torus grid.

    python packages/meshkit/benchmarks/bench_meshkit_geometry.py                      # every input, then passes
    python packages/meshkit/benchmarks/bench_meshkit_geometry.py --inputs sphere --no-passes
    python packages/meshkit/benchmarks/bench_meshkit_geometry.py --quick              # quarter-size smoke run
    python packages/meshkit/benchmarks/bench_meshkit_geometry.py --device cuda --no-passes   # plus the GPU port
    python packages/meshkit/benchmarks/bench_meshkit_geometry.py --inputs sphere --no-passes --device cuda --syncs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import meshkit
import numpy as np
from meshkit import BVH, cleanup

REPO = Path(__file__).resolve().parents[3]
DUCK = REPO / ".." / "shared" / "assets" / "Duck.glb"
INPUTS = ("sphere", "asset", "icosphere")
RESOLUTIONS = {"sphere": (256, 1024), "asset": (128, 512)}  # dual-grid resolution with and without --quick


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


def bumpy_icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """A trimesh icosphere (20 * 4^subdivisions faces) with smooth radial bumps."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions)
    v = np.asarray(sphere.vertices)
    bumps = np.sin(6 * v[:, 0]) * np.cos(5 * v[:, 1]) + np.sin(7 * v[:, 2])
    return v * (1 + 0.05 * bumps)[:, None], np.asarray(sphere.faces, dtype=np.int64)


def dual_grid_mesh(name: str, resolution: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The `sphere` or `asset` input: ovoxel's dual-grid extraction at `resolution`, cached as .npz in the temp
    folder; None (with a note) when ovoxel or the shared asset is missing. meshkit itself never imports ovoxel."""
    cache = Path(tempfile.gettempdir()) / f"meshkit_bench_{name}_{resolution}.npz"
    if cache.exists():
        with np.load(cache) as stored:
            return stored["vertices"], stored["faces"]
    try:
        import ovoxel
    except ImportError:
        print(f"{name}: ovoxel not installed, skipped")
        return None
    if name == "sphere":
        # The to_glb benchmark's generated-like shape, so both benchmarks time the same mesh.
        path = REPO / "packages" / "ovoxel" / "benchmarks" / "bench_to_glb.py"
        spec = importlib.util.spec_from_file_location("bench_to_glb", path)
        to_glb_bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(to_glb_bench)
        source, box = to_glb_bench.noisy_sphere(7, 0.226), to_glb_bench.AABB
    elif DUCK.exists():
        source, box = str(DUCK), None
    else:
        print(f"asset: {DUCK} is absent (../shared beside the repository), skipped")
        return None
    coords, values, aabb = ovoxel.mesh_to_ovoxel(source, resolution, aabb=box, attrs=False)
    vertices, faces, _ = ovoxel.ovoxel_to_mesh(coords, values, aabb, resolution)
    vertices, faces = np.asarray(vertices, np.float64), np.asarray(faces, np.int64)
    np.savez(cache, vertices=vertices, faces=faces)
    return vertices, faces


def simplify_inputs(names: list[str], quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The requested inputs that can be built here, by label; the icosphere stands in for the asset when that
    cannot be built (no ../shared or no ovoxel)."""
    meshes = {}
    for name in names:
        mesh = None if name == "icosphere" else dual_grid_mesh(name, RESOLUTIONS[name][0 if quick else 1])
        if mesh is not None:
            meshes[f"{name} {RESOLUTIONS[name][0 if quick else 1]}^3"] = mesh
        elif name != "sphere":
            meshes["icosphere"] = bumpy_icosphere(6 if quick else 8)
    return meshes


def chamfer(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], samples: int = 200_000) -> float:
    """Symmetric Chamfer distance (mean of both one-sided mean closest distances) over random surface samples."""

    def sample(mesh: tuple[np.ndarray, np.ndarray], seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        v, f = mesh
        pick = rng.integers(0, len(f), samples)
        w = rng.dirichlet(np.ones(3), samples)
        return np.einsum("sk,skd->sd", w, v[f[pick]])

    return float((BVH(*b).closest_point(sample(a, 0))[0].mean() + BVH(*a).closest_point(sample(b, 1))[0].mean()) / 2)


def timed(function: Callable[[], tuple[np.ndarray, np.ndarray]],
          repeats: int = 1) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
    """(wall seconds, CPU seconds of the process, result) of the fastest of ``repeats`` calls."""
    best = None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = function()
        run = (time.perf_counter() - start, time.process_time() - cpu, result)
        best = run if best is None or run[0] < best[0] else best
    return best


def seconds_text(seconds: float, width: int) -> str:
    """Seconds right-aligned in ``width``: three decimals below 1 s (margins on sub-second GPU times), else two."""
    return f"{seconds:>{width}.3f}" if seconds < 1 else f"{seconds:>{width}.2f}"


def simplifiers(vertices: np.ndarray, faces: np.ndarray, target: int, device: str | None) -> dict[str, Callable]:
    """Simplification runners by name, for the libraries that import here (and the torch port on ``device``)."""
    runners: dict[str, Callable] = {}

    def ours() -> tuple[np.ndarray, np.ndarray]:
        result = meshkit.simplify(vertices, faces, target)
        return result.vertices, result.faces

    runners["meshkit"] = ours
    if device is not None:
        runners[f"meshkit-torch ({device})"] = torch_port(vertices, faces, target, device)
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


def torch_port(vertices: np.ndarray, faces: np.ndarray, target: int, device: str) -> Callable:
    """A runner of meshkit.simplify_torch on tensors already on ``device`` (on an accelerator, warmed up by one
    untimed call); it returns once the device has finished, with the result still there."""
    import torch
    from meshkit.simplify_torch import simplify_torch

    v, f = torch.from_numpy(vertices).to(device), torch.from_numpy(faces).to(device)

    def run() -> tuple[Any, Any]:
        result = simplify_torch(v, f, target)
        if v.is_cuda:
            torch.cuda.synchronize(v.device)
        return result.vertices, result.faces

    if v.device.type != "cpu":
        run()
    return run


SYNC_EVENTS = ("cudaStreamSynchronize", "cudaMemcpyAsync", "aten::nonzero", "aten::item", "aten::_local_scalar_dense",
               "aten::masked_select", "aten::bincount")
LAUNCH_EVENTS = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")


def sync_profile(vertices: np.ndarray, faces: np.ndarray, target: int, device: str) -> dict[str, float]:
    """Per-call counts of host waits and the ops behind them, kernel launches and GPU kernel milliseconds of one
    (warmed-up) torch-port call, from torch.profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    run = torch_port(vertices, faces, target, device)
    cuda = torch.device(device).type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        run()
    events = prof.key_averages()
    counts: dict[str, float] = {key: 0 for key in SYNC_EVENTS}
    counts.update({event.key: event.count for event in events if event.key in SYNC_EVENTS})
    counts["kernel launches"] = sum(event.count for event in events if event.key in LAUNCH_EVENTS)
    counts["GPU kernel ms"] = sum(event.self_device_time_total for event in events
                                  if event.device_type == torch.autograd.DeviceType.CUDA) / 1e3
    print(f"torch port on {device}, one call under torch.profiler:")
    for key, value in counts.items():
        print(f"  {key:<28}{value:>10,.1f}" if isinstance(value, float) else f"  {key:<28}{value:>10,}")
    return counts


def host_array(values: Any, dtype: type) -> np.ndarray:
    """A result array (numpy, or a torch tensor on any device) as numpy."""
    return np.asarray(values.cpu() if hasattr(values, "cpu") else values, dtype)


def compare_simplifiers(name: str, vertices: np.ndarray, faces: np.ndarray, target: int,
                        device: str | None = None) -> dict[str, dict]:
    """Runs every available simplifier on one input and prints the side-by-side table."""
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    print(f"\n{name}: {len(faces):,} faces -> {target:,}; native threads {meshkit.native_threads()}")
    rows: dict[str, dict] = {}
    for tool, run in simplifiers(vertices, faces, target, device).items():
        repeats = 3 if tool.startswith("meshkit-torch") and device != "cpu" else 1  # best of 3 on an accelerator
        seconds, cpu, (v, f) = timed(run, repeats)
        error = chamfer((vertices, faces), (host_array(v, np.float64), host_array(f, np.int64))) / diagonal
        rows[tool] = {"seconds": seconds, "cpu_seconds": cpu, "faces": int(len(f)), "chamfer_over_diagonal": error}
    ours = rows["meshkit"]["seconds"]
    print(f"{'simplifier':<28}{'seconds':>9}{'CPU s':>8}{'faces':>10}{'off target':>12}{'chamfer/diag':>14}"
          f"{'time ratio':>12}")
    for tool, row in rows.items():
        off = (row["faces"] - target) / target
        print(f"{tool:<28}{seconds_text(row['seconds'], 9)}{seconds_text(row['cpu_seconds'], 8)}{row['faces']:>10,}"
              f"{off:>11.3%} "
              f"{row['chamfer_over_diagonal']:>13.2e}{row['seconds'] / ours:>12.2f}")
    return rows


def time_passes(quick: bool) -> dict[str, float]:
    """Cleanup passes, hole filling, BVH build and a narrow-band remesh on the bumpy torus grid."""
    vertices, faces = bumpy_torus(*((200, 200) if quick else (1000, 1000)))
    remesh_resolution = 64 if quick else 256
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
    print(f"\ntorus grid: {len(faces):,} faces\n{'pass':<30}{'seconds':>9}")
    seconds = {}
    for name, run in passes.items():
        seconds[name] = timed(run)[0]
        print(f"{name:<30}{seconds[name]:>9.3f}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs (about 1/4 of the face target) smoke run")
    parser.add_argument("--inputs", nargs="+", choices=INPUTS, default=["sphere", "asset"],
                        help="simplification inputs (icosphere replaces the asset when that cannot be built)")
    parser.add_argument("--no-passes", action="store_true", help="skip the cleanup/holes/remesh timings")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--device", help="also time the torch port (meshkit.simplify_torch) on this torch device")
    parser.add_argument("--syncs", action="store_true",
                        help="with --device: profile one more port call (host waits, launches, GPU time)")
    args = parser.parse_args()
    results: dict[str, dict] = {"simplify": {}, "passes": {}}
    for name, (vertices, faces) in simplify_inputs(args.inputs, args.quick).items():
        target = len(faces) // 4 if args.quick else 500_000
        rows = compare_simplifiers(name, vertices, faces, target, args.device)
        results["simplify"][name] = {"input_faces": len(faces), "target": target, "tools": rows}
        if args.syncs and args.device:
            results["simplify"][name]["port_profile"] = sync_profile(vertices, faces, target, args.device)
    if not args.no_passes:
        results["passes"] = time_passes(args.quick)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
