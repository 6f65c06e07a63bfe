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


def _convert_mesh(source, out: Path, resolution: int, aabb, compression: str) -> dict:
    from .ovoxel_build import mesh_to_ovoxel

    with tqdm(total=2, desc="mesh -> O-Voxel", unit="step", file=sys.stderr, disable=None) as progress:
        coords, attrs, box = mesh_to_ovoxel(source, resolution, aabb=aabb)
        progress.update()
        options = {"compression": compression} if out.suffix == ".vxz" else {}
        _atomic_write(out, lambda temp: ovoxel.io.write(temp, coords, attrs, **options))
        progress.update()
    return {"voxels": int(len(coords)), "aabb": box.tolist(), "attributes": sorted(attrs)}


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
@click.option("--resolution", "-r", default=256, show_default=True, type=click.IntRange(2, 4096),
              help="Voxels along each axis of the (cubic) grid.")
@click.option("--aabb", nargs=6, type=float, default=None,
              help="Grid box as XMIN YMIN ZMIN XMAX YMAX ZMAX; default: a cube fitted around the mesh.")
@click.option("--attrs/--no-attrs", default=True, show_default=True, help="Store PBR material attributes.")
@click.option("--compression", default="lzma", show_default=True,
              type=click.Choice(["none", "deflate", "lzma", "zstd"]), help="Stream codec for .vxz output.")
def convert(source: Path, out: Path, resolution: int, aabb, attrs: bool, compression: str) -> None:
    """Convert a mesh (GLB/glTF/OBJ/PLY/STL) into an O-Voxel file (.vxz/.npz/.ply).

    \b
    Example:
      ovoxel convert Duck.glb duck.vxz --resolution 256 --compression zstd
    """
    if out.suffix.lower() not in VOXEL_SUFFIXES:
        if source.suffix.lower() in VOXEL_SUFFIXES:
            raise RuntimeError("O-Voxel -> mesh needs the flexible dual grid extractor, which is not installed yet")
        raise ValueError(f"output must end in one of {', '.join(VOXEL_SUFFIXES)}, got {out.name!r}")
    if source.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"input must be a mesh ({', '.join(MESH_SUFFIXES)}), got {source.name!r}")
    if not attrs:
        raise RuntimeError("--no-attrs needs the flexible dual grid (geometry) converter, which is not installed yet")
    box = None if aabb is None else np.asarray(aabb, dtype=np.float64).reshape(2, 3)
    summary = _convert_mesh(str(source), out, resolution, box, compression)
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


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--resolution", "-r", default=64, show_default=True, type=click.IntRange(2, 1024))
def demo(out_dir: Path, resolution: int) -> None:
    """Voxelize the bundled textured sphere to OUT_DIR/demo.vxz, read it back and report what was kept.

    \b
    Example:
      ovoxel demo ./demo_out --resolution 128
    """
    from .demo_asset import demo_mesh

    out = out_dir / "demo.vxz"
    summary = _convert_mesh(demo_mesh(), out, resolution, None, "lzma")
    coords, attrs = ovoxel.io.read(out)
    size = out.stat().st_size
    click.echo(f"wrote {out}: {summary['voxels']} voxels in {size} bytes "
               f"({size / max(summary['voxels'], 1):.2f} bytes/voxel); read back {len(coords)} voxels, "
               f"mean base colour {np.round(attrs['base_color'].mean(axis=0), 1).tolist()}")


if __name__ == "__main__":
    main()
