"""Time ovoxel.postprocess.to_glb stage by stage on a generated-like input: a noisy sphere (or a mesh file) turned
into an O-Voxel at `--resolution`, extracted back to a dense dual-grid mesh, then exported with or without remesh.

Usage: python benchmarks/bench_to_glb.py [--quick] [--resolution 256] [--decimation-target 200000]
                                        [--texture-size 2048] [--asset PATH] [--radius 0.4] [--remesh both|on|off]
                                        [--device cpu|cuda|both]
Prints a markdown table: seconds per stage, in total and of CPU, and the face count reached. A generated 1024^3 asset
has ~2M faces: `--resolution 1024 --radius 0.226 --decimation-target 500000` gives that size. `--device cuda` hands
to_glb the mesh and volume as CUDA tensors, as the decoder does, so the whole chain runs on the GPU; an untimed first
run on the same input compiles its Triton kernels (their variants depend on sizes such as the BVH depth, so a smaller
warm-up input would leave some to compile inside the timed run) and its time is printed as the first-call cost; the
BVH build on the CPU inside the bake is timed too.
"""

from __future__ import annotations

import argparse
import time

import meshkit
import numpy as np
import ovoxel
import trimesh
from ovoxel.postprocess.stages import STAGES

AABB = np.array([[-0.5] * 3, [0.5] * 3])
LAYOUT = {"base_color": slice(0, 3), "metallic": slice(3, 4), "roughness": slice(4, 5), "alpha": slice(5, 6)}


def noisy_sphere(subdivisions: int, radius: float = 0.4, seed: int = 0) -> trimesh.Trimesh:
    """An icosphere of about `radius` with smooth random bumps, like a generated organic shape."""
    sphere = trimesh.creation.icosphere(subdivisions, radius=1.0)
    rng = np.random.default_rng(seed)
    directions, phases = rng.normal(size=(12, 3)), rng.uniform(0, 2 * np.pi, 12)
    bumps = np.sin(sphere.vertices @ directions.T * 4 + phases).sum(axis=1) / 12
    return trimesh.Trimesh(sphere.vertices * (radius * (1 + 0.125 * bumps))[:, None], sphere.faces, process=False)


def generated_input(resolution: int, asset: str | None, radius: float = 0.4):
    """(vertices, faces, attr volume (N, 6) float, coords, aabb) the way a decoder hands them to to_glb: the dense
    extracted mesh plus per-voxel attributes (a colour pattern for the sphere, the asset's materials otherwise)."""
    source = asset or noisy_sphere(5 if resolution <= 128 else 7, radius)
    coords, values, box = ovoxel.mesh_to_ovoxel(source, resolution, aabb=None if asset else AABB,
                                                attrs=asset is not None)
    vertices, faces, _ = ovoxel.ovoxel_to_mesh(coords, values, box, resolution)
    if asset:
        attrs = np.concatenate([values[k] for k in LAYOUT], axis=1).astype(np.float32) / 255
    else:
        centres = (coords + 0.5) / resolution - 0.5
        colour = 0.5 + 0.5 * np.sin(centres * [23.0, 31.0, 17.0])
        attrs = np.concatenate([colour, centres[:, :1] > 0, 0.3 + 0.4 * colour[:, 1:2], np.ones((len(coords), 1))],
                               axis=1).astype(np.float32)
    return vertices, faces, attrs, coords, box


def on_cuda(*arrays: np.ndarray) -> list:
    """The arrays as CUDA tensors."""
    import torch

    return [torch.from_numpy(np.ascontiguousarray(array)).cuda() for array in arrays]


def main() -> None:
    """Build the input, run to_glb once per remesh setting and device and print the stage table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="resolution 48, 2,000 faces, 128^2 texture")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--decimation-target", type=int, default=200_000)
    parser.add_argument("--texture-size", type=int, default=2048)
    parser.add_argument("--asset", help="a textured mesh file to voxelise instead of the noisy sphere")
    parser.add_argument("--radius", type=float, default=0.4, help="noisy sphere radius (sets the face count)")
    parser.add_argument("--remesh", choices=("both", "on", "off"), default="both")
    parser.add_argument("--device", choices=("cpu", "cuda", "both"), default="cpu",
                        help="where the inputs live: numpy (CPU bake), CUDA tensors (GPU bake) or one row each")
    args = parser.parse_args()
    if args.quick:
        args.resolution, args.decimation_target, args.texture_size = 48, 2000, 128

    start = time.perf_counter()
    vertices, faces, attrs, coords, box = generated_input(args.resolution, args.asset, args.radius)
    print(f"input: {args.asset or 'noisy sphere'} at {args.resolution}^3: {len(coords):,} voxels, "
          f"{len(faces):,} faces ({time.perf_counter() - start:.1f} s to voxelise and extract); "
          f"target {args.decimation_target:,} faces, texture {args.texture_size}^2, "
          f"{ovoxel.native_threads()} native threads\n")
    devices = ("cpu", "cuda") if args.device == "both" else (args.device,)
    settings = {"both": (False, True), "on": (True,), "off": (False,)}[args.remesh]
    if "cuda" in devices:
        for remesh in settings:
            start = time.perf_counter()
            ovoxel.postprocess.to_glb(*on_cuda(vertices, faces, attrs, coords), LAYOUT, aabb=box,
                                      grid_size=args.resolution, decimation_target=args.decimation_target,
                                      texture_size=args.texture_size, remesh=remesh, remesh_band=1, remesh_project=0)
            print(f"first GPU run in this process, remesh {'on' if remesh else 'off'} (Triton compilation included; "
                  f"not in the table): {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        meshkit.BVH(vertices, faces)
        print(f"BVH build over the dense input on the CPU (inside the bake on both devices): "
              f"{time.perf_counter() - start:.2f} s\n")
    print("| remesh | " + " | ".join(STAGES) + " | total | CPU s | faces |")
    print("| --- " * (len(STAGES) + 4) + "|")
    for remesh in settings:
        for device in devices:
            mesh = (vertices, faces, attrs, coords) if device == "cpu" else on_cuda(vertices, faces, attrs, coords)
            cpu = time.process_time()
            glb = ovoxel.postprocess.to_glb(*mesh, LAYOUT, aabb=box, grid_size=args.resolution,
                                            decimation_target=args.decimation_target, texture_size=args.texture_size,
                                            remesh=remesh, remesh_band=1, remesh_project=0)
            cells = [f"{glb.timings[s]:.2f}" if s in glb.timings else "-" for s in STAGES]
            label = ("on" if remesh else "off") + ("" if device == "cpu" else f", {device}")
            print(f"| {label} | " + " | ".join(cells) +
                  f" | {sum(glb.timings.values()):.2f} | {time.process_time() - cpu:.2f} | {len(glb.faces):,} |")


if __name__ == "__main__":
    main()
