"""Time ovoxel's to_glb stage by stage on a generated-like dense mesh, the workload meshkit's speed matters for.

The input is a noisy sphere voxelised into an O-Voxel at `--resolution` and extracted back to a dual-grid mesh
(radius 0.226 at 1024 gives ~2M faces, the size of a generated asset), then exported with and without the
narrow-band remesh (band 1, no projection, as ovoxel's bench_to_glb.py). Needs ovoxel and trimesh.

    python packages/meshkit/benchmarks/bench_to_glb_stages.py [--resolution 1024] [--radius 0.226]
                                                           [--target 500000] [--texture 2048] [--remesh both]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ovoxel
import trimesh
from ovoxel.postprocess.stages import STAGES

LAYOUT = {"base_color": slice(0, 3), "metallic": slice(3, 4), "roughness": slice(4, 5), "alpha": slice(5, 6)}
AABB = np.array([[-0.5] * 3, [0.5] * 3])


def dense_input(resolution: int, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, faces, attributes (N, 6), coords, aabb): a bumpy sphere's dual-grid mesh and a colour volume."""
    sphere = trimesh.creation.icosphere(7, radius=1.0)
    rng = np.random.default_rng(0)
    directions, phases = rng.normal(size=(12, 3)), rng.uniform(0, 2 * np.pi, 12)
    bumps = np.sin(sphere.vertices @ directions.T * 4 + phases).sum(axis=1) / 12
    source = trimesh.Trimesh(sphere.vertices * (radius * (1 + 0.125 * bumps))[:, None], sphere.faces, process=False)
    coords, values, box = ovoxel.mesh_to_ovoxel(source, resolution, aabb=AABB, attrs=False)
    vertices, faces, _ = ovoxel.ovoxel_to_mesh(coords, values, box, resolution)
    centres = (coords + 0.5) / resolution - 0.5
    colour = 0.5 + 0.5 * np.sin(centres * [23.0, 31.0, 17.0])
    attrs = np.concatenate([colour, centres[:, :1] > 0, 0.3 + 0.4 * colour[:, 1:2], np.ones((len(coords), 1))],
                           axis=1).astype(np.float32)
    return vertices, faces, attrs, coords, box


def main() -> None:
    """Build the input once, run to_glb per remesh setting and print wall seconds per stage."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--radius", type=float, default=0.226)
    parser.add_argument("--target", type=int, default=500_000)
    parser.add_argument("--texture", type=int, default=2048)
    parser.add_argument("--remesh", choices=("both", "on", "off"), default="both")
    args = parser.parse_args()
    vertices, faces, attrs, coords, box = dense_input(args.resolution, args.radius)
    print(f"input: {len(faces):,} faces at {args.resolution}^3 -> {args.target:,} faces, {args.texture}^2 texture, "
          f"{ovoxel.native_threads()} native threads\n")
    print("| remesh | " + " | ".join(STAGES) + " | total | CPU s | faces |")
    print("| --- " * (len(STAGES) + 4) + "|")
    for remesh in {"both": (False, True), "on": (True,), "off": (False,)}[args.remesh]:
        cpu = time.process_time()
        glb = ovoxel.postprocess.to_glb(vertices, faces, attrs, coords, LAYOUT, aabb=box, grid_size=args.resolution,
                                        decimation_target=args.target, texture_size=args.texture, remesh=remesh,
                                        remesh_band=1, remesh_project=0)
        cells = [f"{glb.timings[s]:.2f}" if s in glb.timings else "-" for s in STAGES]
        print(f"| {'on' if remesh else 'off'} | " + " | ".join(cells) + f" | {sum(glb.timings.values()):.2f} | "
              f"{time.process_time() - cpu:.1f} | {len(glb.faces):,} |", flush=True)


if __name__ == "__main__":
    main()
