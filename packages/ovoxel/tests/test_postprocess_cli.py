"""`ovoxel convert X.vxz Y.glb` writes a textured GLB through to_glb (axes kept, target and texture size honoured);
.obj/.ply output and attribute-less O-Voxels keep the untextured path."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import trimesh
from ovoxel.demo_asset import demo_mesh
from PIL import Image

OVOXEL = [sys.executable, "-c", "from ovoxel.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*OVOXEL, *[str(a) for a in args]], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def box_voxels(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("box")
    trimesh.creation.box(extents=(1, 0.5, 0.25)).export(folder / "box.obj")
    assert run("convert", folder / "box.obj", folder / "box.vxz", "-r", "24", "--aabb", *[-0.55] * 3,
               *[0.55] * 3).returncode == 0
    return folder / "box.vxz"


def embedded_image(gltf: pygltflib.GLTF2, index: int) -> io.BytesIO:
    """The encoded bytes of a GLB's image `index`."""
    view = gltf.bufferViews[gltf.images[index].bufferView]
    return io.BytesIO(gltf.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength])


def test_textured_glb_keeps_axes_and_honours_options(box_voxels, tmp_path):
    out = tmp_path / "box.glb"
    result = run("convert", box_voxels, out, "-r", "24", "--aabb", *[-0.55] * 3, *[0.55] * 3,
                 "--decimation-target", "300", "--texture-size", "64")
    assert result.returncode == 0, result.stderr
    gltf = pygltflib.GLTF2.load(out)
    pbr = gltf.materials[0].pbrMetallicRoughness
    assert pbr.baseColorTexture is not None and pbr.metallicRoughnessTexture is not None
    assert [Image.open(embedded_image(gltf, i)).size for i in range(len(gltf.images))] == [(64, 64), (64, 64)]
    mesh = trimesh.load(out, force="mesh", process=False)
    assert len(mesh.faces) <= 300 and f"{len(mesh.faces)} triangles" in result.stdout
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.25, -0.125], [0.5, 0.25, 0.125]], atol=0.05)  # no axis swap


def test_baked_colours_come_from_the_voxels(tmp_path):
    demo_mesh().export(tmp_path / "striped.glb")
    assert run("convert", tmp_path / "striped.glb", tmp_path / "striped.vxz", "-r", "32").returncode == 0
    result = run("convert", tmp_path / "striped.vxz", tmp_path / "back.glb", "-r", "32", "--texture-size", "128",
                 "--remesh")
    assert result.returncode == 0, result.stderr
    texture = np.asarray(trimesh.load(tmp_path / "back.glb", force="mesh").visual.material.baseColorTexture)
    rgb = texture[..., :3].reshape(-1, 3).astype(float)
    warm, cool = np.array([240.0, 120.0, 40.0]), np.array([40.0, 120.0, 220.0])
    t = np.clip((rgb - cool) @ (warm - cool) / np.sum((warm - cool) ** 2), 0, 1)
    off_segment = np.linalg.norm(rgb - (cool + t[:, None] * (warm - cool)), axis=1)
    assert np.percentile(off_segment, 95) < 3, np.percentile(off_segment, 95)  # blends of the two stripe colours
    assert (t > 0.9).mean() > 0.2 and (t < 0.1).mean() > 0.2, ((t > 0.9).mean(), (t < 0.1).mean())


def test_obj_output_and_attribute_less_voxels_stay_untextured(box_voxels, tmp_path):
    assert run("convert", box_voxels, tmp_path / "box.obj", "-r", "24").returncode == 0
    assert "vt " not in (tmp_path / "box.obj").read_text()
    bare = tmp_path / "bare.vxz"
    source = tmp_path / "cube.obj"
    trimesh.creation.box(extents=(0.5, 0.5, 0.5)).export(source)
    assert run("convert", source, bare, "-r", "16", "--no-attrs").returncode == 0
    assert run("convert", bare, tmp_path / "bare.glb", "-r", "16").returncode == 0
    assert not pygltflib.GLTF2.load(tmp_path / "bare.glb").textures
