"""The `ovoxel` command line: convert meshes to O-Voxels, inspect voxel files, run a bundled demo."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

import ovoxel.io

VOXEL_SUFFIXES = (".vxz", ".npz", ".ply")
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")
MESH_OUT_SUFFIXES = (".glb", ".obj", ".ply")
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, MemoryError, RuntimeError, OSError)


class OvoxelGroup(click.Group):
    """Click group that turns expected failures into one `error:` line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *_args, **_kw: click.echo(f"warning: {message}", err=True)
            try:
                return super().invoke(ctx)
            except USER_ERRORS as exc:
                click.echo(f"error: {exc}", err=True)
                ctx.exit(1)


def _atomic_write(out: Path, write) -> None:
    """Call `write(temp_path)` on a temporary file beside `out`, then rename it into place (never half-written)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(temp)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, out)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def _convert_mesh(source, out: Path, resolution: int, aabb, compression: str, attrs: bool = True) -> dict:
    from .ovoxel_build import mesh_to_ovoxel

    with tqdm(total=2, desc="mesh -> O-Voxel", unit="step", file=sys.stderr, disable=None) as progress:
        coords, attrs, box = mesh_to_ovoxel(source, resolution, aabb=aabb, attrs=attrs)
        progress.update()
        options = {"compression": compression} if out.suffix == ".vxz" else {}
        _atomic_write(out, lambda temp: ovoxel.io.write(temp, coords, attrs, **options))
        progress.update()
    return {"voxels": int(len(coords)), "aabb": box.tolist(), "attributes": sorted(attrs)}


def _export_mesh(source: Path, out: Path, resolution: int | None, aabb, glb_options: dict | None = None) -> int:
    """O-Voxel file -> mesh; returns the face count. A .glb of an O-Voxel with PBR attributes is textured by
    `ovoxel.postprocess.to_glb` (`glb_options`: decimation_target, texture_size, remesh); otherwise the mesh is
    written untextured (vertex colours from base_color when present)."""
    import trimesh

    from .ovoxel_build import ovoxel_to_mesh
    from .postprocess import PBR_LAYOUT

    coords, attrs = ovoxel.io.read(source)
    if len(coords) == 0:
        raise ValueError(f"{source} holds no voxels")
    grid = resolution or 1 << int(np.ceil(np.log2(coords.max() + 1)))
    if coords.max() >= grid:
        raise ValueError(f"voxel coordinates reach {coords.max()}, outside a grid of resolution {grid}")
    box = np.array([[0.0] * 3, [float(grid)] * 3]) if aabb is None else aabb
    textured = out.suffix.lower() == ".glb" and all(name in attrs for name in PBR_LAYOUT)
    with tqdm(total=2, desc="O-Voxel -> mesh", unit="step", file=sys.stderr, disable=None) as progress:
        vertices, faces, colours = ovoxel_to_mesh(coords, attrs, box, grid)
        progress.update()
        if textured:
            volume = np.concatenate([attrs[name] for name in PBR_LAYOUT], axis=1).astype(np.float32) / 255
            glb = ovoxel.postprocess.to_glb(vertices, faces, volume, coords, PBR_LAYOUT, aabb=box, grid_size=grid,
                                            **(glb_options or {}))
            faces = glb.faces
            # O-Voxels made by `convert` keep the source mesh's axes, so coordinates are written unchanged.
            _atomic_write(out, lambda temp: glb.export(temp, z_up=False))
        else:
            mesh = trimesh.Trimesh(vertices, faces, vertex_colors=colours, process=False)
            _atomic_write(out, lambda temp: mesh.export(temp))
        progress.update()
    return len(faces)


@click.group(cls=OvoxelGroup)
@click.version_option(package_name="ovoxel")
def main() -> None:
    """O-Voxel conversion tools.

    \b
    Examples:
      ovoxel convert Duck.glb duck.vxz --resolution 256
      ovoxel convert scene.gltf out.vxz --resolution 512 --aabb -0.5 -0.5 -0.5 0.5 0.5 0.5
      ovoxel info duck.vxz
      ovoxel demo ./demo_out
    """


@main.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resolution", "-r", default=None, type=click.IntRange(2, 4096),
              help="Voxels along each grid axis [mesh input: 256; O-Voxel input: next power of two of the extent].")
@click.option("--aabb", nargs=6, type=float, default=None,
              help="Grid box as XMIN YMIN ZMIN XMAX YMAX ZMAX; default: a cube fitted around the mesh, or voxel "
                   "units when extracting a mesh.")
@click.option("--attrs/--no-attrs", default=True, show_default=True, help="Store PBR material attributes.")
@click.option("--compression", default="lzma", show_default=True,
              type=click.Choice(["none", "deflate", "lzma", "zstd"]), help="Stream codec for .vxz output.")
@click.option("--decimation-target", default=100_000, show_default=True, type=click.IntRange(1),
              help="Textured GLB output: face count to simplify to.")
@click.option("--texture-size", default=2048, show_default=True, type=click.IntRange(8, 16384),
              help="Textured GLB output: edge of the square PBR textures.")
@click.option("--remesh/--no-remesh", default=False, show_default=True,
              help="Textured GLB output: rebuild the surface by narrow-band dual contouring first.")
def convert(source: Path, out: Path, resolution: int, aabb, attrs: bool, compression: str, decimation_target: int,
            texture_size: int, remesh: bool) -> None:
    """Convert a mesh (GLB/glTF/OBJ/PLY/STL) into an O-Voxel file (.vxz/.npz/.ply), or an O-Voxel (.vxz/.npz)
    back into a mesh: a .glb gets UVs and baked PBR textures when the O-Voxel has base_color, metallic, roughness
    and alpha; .obj/.ply (and attribute-less O-Voxels) come out untextured, with vertex colours from base_color.

    \b
    Examples:
      ovoxel convert Duck.glb duck.vxz --resolution 256 --compression zstd
      ovoxel convert duck.vxz duck_back.glb --resolution 256 --aabb -1 -1 -1 1 1 1 --texture-size 1024
    """
    box = None if aabb is None else np.asarray(aabb, dtype=np.float64).reshape(2, 3)
    if source.suffix.lower() in (".vxz", ".npz") and out.suffix.lower() in MESH_OUT_SUFFIXES:
        options = {"decimation_target": decimation_target, "texture_size": texture_size, "remesh": remesh,
                   "remesh_project": 0}
        faces = _export_mesh(source, out, resolution, box, options)
        click.echo(f"wrote {out}: {faces} triangles")
        return
    if out.suffix.lower() not in VOXEL_SUFFIXES:
        raise ValueError(f"output must end in one of {', '.join(VOXEL_SUFFIXES + MESH_OUT_SUFFIXES)}, got {out.name!r}")
    if source.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"input must be a mesh ({', '.join(MESH_SUFFIXES)}), got {source.name!r}")
    summary = _convert_mesh(str(source), out, resolution or 256, box, compression, attrs)
    click.echo(f"wrote {out}: {summary['voxels']} voxels, attributes {', '.join(summary['attributes'])}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def info(file: Path) -> None:
    """Print a voxel file's header (voxel count, attributes, codec) as JSON without decoding voxels.

    \b
    Example:
      ovoxel info duck.vxz
    """
    header = ovoxel.io.read_info(file)
    header.pop("chunks", None)
    click.echo(json.dumps(header, indent=2))


def _chamfer(a, b, samples: int = 200000) -> tuple[float, float]:
    """Mean nearest-surface distance a->b and b->a between two meshes, from area-uniform surface samples."""
    import trimesh
    from scipy.spatial import cKDTree

    points_a = trimesh.sample.sample_surface(a, samples, seed=0)[0]
    points_b = trimesh.sample.sample_surface(b, samples, seed=1)[0]
    return float(cKDTree(points_b).query(points_a)[0].mean()), float(cKDTree(points_a).query(points_b)[0].mean())


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--resolution", "-r", default=64, show_default=True, type=click.IntRange(2, 1024))
def demo(out_dir: Path, resolution: int) -> None:
    """Round-trip the bundled textured sphere: mesh -> OUT_DIR/demo.vxz -> OUT_DIR/demo.glb (textured), and print
    the Chamfer distance between input and output.

    \b
    Example:
      ovoxel demo ./demo_out --resolution 128
    """
    import trimesh

    from .demo_asset import demo_mesh

    sphere = demo_mesh()
    voxels, mesh_out = out_dir / "demo.vxz", out_dir / "demo.glb"
    summary = _convert_mesh(sphere, voxels, resolution, None, "lzma")
    faces = _export_mesh(voxels, mesh_out, resolution, np.asarray(summary["aabb"]),
                         {"decimation_target": 20_000, "texture_size": 512})
    back = trimesh.load(mesh_out, force="mesh")
    forward, backward = _chamfer(sphere, back)
    floor = _chamfer(sphere, sphere)[0]  # what sampling alone gives for identical surfaces
    voxel = (summary["aabb"][1][0] - summary["aabb"][0][0]) / resolution
    click.echo(f"{summary['voxels']} voxels in {voxels.stat().st_size} bytes -> {faces} triangles; sampled Chamfer "
               f"input->output {forward:.5f}, output->input {backward:.5f} (same-mesh sampling floor {floor:.5f}, "
               f"voxel size {voxel:.5f})")


if __name__ == "__main__":
    main()
