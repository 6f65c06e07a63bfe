"""Texel utilisation of meshkit.unwrap_uv against xatlas (upstream's packer) on the same meshes.

Meshes: the dual-grid bumpy sphere at 256^3 simplified to 50,000 faces (as ``bench_uv_device.py --quick``, needs
ovoxel), Duck and DamagedHelmet from ../shared/assets (skipped without them). Per mesh and method the table gives
wall seconds, charts, the UV triangle area over the unit square and the share of texel centres at
`--texture-size` that some triangle covers (meshkit.rasterize_uv; for xatlas at the atlas size it chose). xatlas
(PyPI ``xatlas``, a benchmark-only dependency that meshkit never imports) runs with its default chart options and
packs at the same resolution with the same gutter as padding; its column is skipped with a note when it is not
installed.

    python packages/meshkit/benchmarks/bench_uv_utilisation.py
    python packages/meshkit/benchmarks/bench_uv_utilisation.py --texture-size 2048 --no-xatlas
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import meshkit
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_uv_device import simplified_sphere  # noqa: E402

ASSETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "assets"


def load_meshes(names: list[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, vertices, faces) of the meshes that are available, with a note for each one that is not."""
    meshes = []
    for name in names:
        if name == "sphere":
            mesh = simplified_sphere(256, 50_000)
            if mesh is not None:
                meshes.append(("bumpy sphere 50k", *mesh))
            continue
        path = {"duck": ASSETS / "Duck.glb", "helmet": ASSETS / "DamagedHelmet" / "DamagedHelmet.gltf"}[name]
        if not path.exists():
            print(f"note: {path} is absent, {name} skipped")
            continue
        import trimesh

        loaded = trimesh.load(path, force="mesh", process=False)
        meshes.append((path.stem, np.asarray(loaded.vertices, np.float64), np.asarray(loaded.faces, np.int64)))
    return meshes


def utilisation(uvs: np.ndarray, faces: np.ndarray, shape: tuple[int, int]) -> tuple[float, float]:
    """(total UV triangle area, share of texel centres of a (height, width) texture inside some triangle) of a
    layout in [0, 1]^2."""
    a, b, c = (uvs[faces[:, k]] for k in range(3))
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]).sum()
    face_id, _ = meshkit.rasterize_uv(uvs, faces, shape)
    return float(area), float((np.asarray(face_id) >= 0).mean())


def run_meshkit(vertices: np.ndarray, faces: np.ndarray, texture_size: int, gutter: int) -> dict[str, Any]:
    start = time.perf_counter()
    layout = meshkit.unwrap_uv(vertices, faces, texture_size, gutter)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "charts": int(layout.chart_of_face.max()) + 1, "uvs": layout.uvs,
            "faces": layout.faces, "shape": (texture_size, texture_size)}


def run_torch_cpu(vertices: np.ndarray, faces: np.ndarray, texture_size: int, gutter: int) -> dict[str, Any]:
    import torch
    from meshkit.uv_torch import unwrap_uv_torch

    v, f = torch.from_numpy(vertices), torch.from_numpy(faces)
    start = time.perf_counter()
    layout = unwrap_uv_torch(v, f, texture_size, gutter)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "charts": int(layout.chart_of_face.max()) + 1, "uvs": layout.uvs.numpy(),
            "faces": layout.faces.numpy(), "shape": (texture_size, texture_size)}


def run_xatlas(vertices: np.ndarray, faces: np.ndarray, texture_size: int, gutter: int) -> dict[str, Any]:
    import xatlas

    start = time.perf_counter()
    atlas = xatlas.Atlas()
    atlas.add_mesh(vertices.astype(np.float32), faces.astype(np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding = texture_size, gutter
    atlas.generate(xatlas.ChartOptions(), pack)
    _, indices, uvs = atlas[0]
    seconds = time.perf_counter() - start
    # xatlas picks its texel density to come near `resolution` and may end up with a larger atlas: its gutter is
    # `padding` texels of that atlas, so its texels are counted there.
    return {"seconds": seconds, "charts": int(atlas.chart_count), "uvs": np.asarray(uvs, np.float64),
            "faces": np.asarray(indices, np.int64), "shape": (int(atlas.height), int(atlas.width))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texture-size", type=int, default=1024)
    parser.add_argument("--gutter", type=int, default=2)
    parser.add_argument("--meshes", default="sphere,duck,helmet", help="comma-separated: sphere, duck, helmet")
    parser.add_argument("--no-xatlas", action="store_true", help="skip xatlas even when it is installed")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch path on CPU tensors")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    methods = [("meshkit numpy", run_meshkit)]
    if not args.no_torch and importlib.util.find_spec("torch") is not None:
        methods.append(("meshkit torch-cpu", run_torch_cpu))
    if args.no_xatlas:
        pass
    elif importlib.util.find_spec("xatlas") is None:
        print("note: xatlas is not installed (pip install xatlas): its column is skipped")
    else:
        methods.append(("xatlas", run_xatlas))
    rows = []
    print(f"texture {args.texture_size}^2, gutter {args.gutter}")
    print(f"{'mesh':>18} {'faces':>7} {'method':>18} {'seconds':>8} {'charts':>7} {'UV area':>8} {'texels':>7}  atlas")
    for name, vertices, faces in load_meshes(args.meshes.split(",")):
        for method, call in methods:
            result = call(vertices, faces, args.texture_size, args.gutter)
            area, covered = utilisation(result["uvs"], result["faces"], result["shape"])
            print(f"{name:>18} {len(faces):7,} {method:>18} {result['seconds']:8.3f} {result['charts']:7,} "
                  f"{area:8.1%} {covered:7.1%}  {result['shape'][1]} x {result['shape'][0]}")
            rows.append({"mesh": name, "faces": len(faces), "method": method, "seconds": result["seconds"],
                         "charts": result["charts"], "uv_area": area, "texels_covered": covered})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
