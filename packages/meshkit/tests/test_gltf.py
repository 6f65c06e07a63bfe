"""GLB/OBJ/PLY export: Khronos validator (when node + gltf-validator are installed), trimesh round trips, materials."""

import dataclasses
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import trimesh
from meshkit.gltf import PBRMaterial, resolve_alpha_mode, write_glb, write_obj, write_ply
from PIL import Image

JS_DIR = Path(__file__).resolve().parent / "js"


def uv_grid(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n x n vertex grid in the z = 0.5 plane (Z-up) with UVs equal to its xy coordinates."""
    xs, ys = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="xy")
    vertices = np.stack([xs.ravel(), ys.ravel(), np.full(n * n, 0.5)], axis=1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return vertices, faces, vertices[:, :2].copy()


def textures(alpha: np.ndarray | None = None) -> PBRMaterial:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    base[..., 3] = 255 if alpha is None else alpha
    mr = np.zeros((16, 16, 3), np.float32)
    mr[..., 1], mr[..., 2] = 0.7, 0.2
    return PBRMaterial(base_color_texture=base, metallic_roughness_texture=mr, alpha_mode="auto")


def accessor_array(gltf: pygltflib.GLTF2, index: int, dtype: type, width: int) -> np.ndarray:
    """Read one tightly packed accessor of a loaded GLB as a (count, width) array."""
    view = gltf.bufferViews[gltf.accessors[index].bufferView]
    return np.frombuffer(gltf.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength], dtype).reshape(
        -1, width)


def khronos_report(path: Path) -> dict:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "gltf-validator").is_dir():
        pytest.skip("Khronos validator unavailable: needs node and `npm install --prefix tests/js gltf-validator`")
    done = subprocess.run([node, str(JS_DIR / "validate.mjs"), str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("image_format", ["png", "jpeg", "webp"])
def test_textured_glb_passes_khronos_validator(tmp_path, image_format):
    vertices, faces, uvs = uv_grid(5)
    path = tmp_path / f"grid_{image_format}.glb"
    write_glb(path, vertices, faces, uvs=uvs, material=textures(), image_format=image_format, metadata={"seed": 3})
    report = khronos_report(path)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]
    assert report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    gltf = pygltflib.GLTF2.load(path)
    assert gltf.asset.extras == {"seed": 3}
    assert gltf.images[0].mimeType == f"image/{image_format}"
    if image_format == "webp":
        assert gltf.extensionsRequired == ["EXT_texture_webp"] and gltf.extensionsUsed == ["EXT_texture_webp"]
        assert gltf.textures[0].extensions["EXT_texture_webp"]["source"] == 0
    else:
        assert not gltf.extensionsRequired


def test_glb_round_trips_through_trimesh_with_y_up_axes_and_textures(tmp_path):
    vertices, faces, uvs = uv_grid(6)
    material = textures()
    path = tmp_path / "grid.glb"
    write_glb(path, vertices, faces, uvs=uvs, material=material)
    mesh = trimesh.load(path, force="mesh", process=False)
    assert len(mesh.vertices) == len(vertices) and len(mesh.faces) == len(faces)
    np.testing.assert_allclose(mesh.vertices, np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], 1),
                               atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, faces)
    # trimesh reports UVs with v pointing up (OpenGL), i.e. 1 - v of the glTF image-row convention we write.
    np.testing.assert_allclose(mesh.visual.uv, np.stack([uvs[:, 0], 1 - uvs[:, 1]], 1), atol=1e-6)
    # Z-up +z normal becomes glTF +y.
    gltf = pygltflib.GLTF2.load(path)
    blob = gltf.binary_blob()
    normals = accessor_array(gltf, gltf.meshes[0].primitives[0].attributes.NORMAL, np.float32, 3)
    np.testing.assert_allclose(normals, np.tile([0, 1, 0], (len(vertices), 1)), atol=1e-6)
    # Lossless PNG: the base colour image decodes to exactly what was given; roughness in G, metallic in B.
    images = [Image.open(io.BytesIO(blob[gltf.bufferViews[i.bufferView].byteOffset:][
        :gltf.bufferViews[i.bufferView].byteLength])) for i in gltf.images]
    np.testing.assert_array_equal(np.asarray(images[0]), material.base_color_texture)
    assert np.asarray(images[1])[0, 0].tolist() == [0, 178, 51]
    pbr = gltf.materials[0].pbrMetallicRoughness
    assert pbr.baseColorTexture.index == 0 and pbr.metallicRoughnessTexture.index == 1
    assert gltf.materials[0].alphaMode == "OPAQUE"


def test_large_mesh_uses_uint32_indices_and_small_uint16(tmp_path):
    small = write_glb(None, *uv_grid(4)[:2])
    big_vertices, big_faces, _ = uv_grid(260)  # 67,600 vertices > 65,535
    big = write_glb(tmp_path / "big.glb", big_vertices, big_faces)
    component = [pygltflib.GLTF2.load_from_bytes(data).accessors[-1].componentType for data in (small, big)]
    assert component == [pygltflib.UNSIGNED_SHORT, pygltflib.UNSIGNED_INT]
    assert khronos_report(tmp_path / "big.glb")["issues"]["numErrors"] == 0


def test_alpha_modes_auto_and_explicit(tmp_path):
    binary = np.where(np.arange(256).reshape(16, 16) % 2 == 0, 0, 255).astype(np.uint8)
    soft = np.full((16, 16), 128, np.uint8)
    base = np.zeros((16, 16, 4), np.uint8)
    assert resolve_alpha_mode("auto", None) == "OPAQUE"
    assert resolve_alpha_mode("auto", np.dstack([base[..., :3], np.full((16, 16), 255, np.uint8)])) == "OPAQUE"
    assert resolve_alpha_mode("auto", np.dstack([base[..., :3], binary])) == "MASK"
    assert resolve_alpha_mode("auto", np.dstack([base[..., :3], soft])) == "BLEND"
    # Soft alpha outside the baked texels (push-pull filled gutters) does not count when a texel mask is given.
    mixed = np.where(np.arange(16)[:, None] < 8, binary, soft).astype(np.uint8)
    assert resolve_alpha_mode("auto", np.dstack([base[..., :3], mixed])) == "BLEND"
    top_half = np.arange(16)[:, None].repeat(16, 1) < 8
    assert resolve_alpha_mode("auto", np.dstack([base[..., :3], mixed]), top_half) == "MASK"
    with pytest.raises(ValueError, match="texel_mask must have the texture's shape"):
        resolve_alpha_mode("auto", np.dstack([base[..., :3], mixed]), top_half[:4])
    vertices, faces, uvs = uv_grid(3)
    masked = PBRMaterial(base_color_texture=np.dstack([base[..., :3], binary]), alpha_mode="MASK",
                         alpha_cutoff=0.3, double_sided=True)
    gltf = pygltflib.GLTF2.load_from_bytes(write_glb(None, vertices, faces, uvs=uvs, material=masked))
    assert (gltf.materials[0].alphaMode, gltf.materials[0].alphaCutoff, gltf.materials[0].doubleSided) == (
        "MASK", 0.3, True)
    with pytest.raises(ValueError, match="JPEG cannot store the alpha"):
        write_glb(None, vertices, faces, uvs=uvs, material=masked, image_format="jpeg")
    with pytest.raises(ValueError, match="alpha_mode must be one of"):
        write_glb(None, vertices, faces, uvs=uvs, material=PBRMaterial(alpha_mode="opaque"))


def test_faces_split_over_materials_share_vertices_and_textures(tmp_path):
    """A BLEND material and its OPAQUE copy (same texture objects): one primitive each over the shared vertex
    accessors, one copy of each image, valid for Khronos, and trimesh gets every face back."""
    vertices, faces, uvs = uv_grid(6)
    blend = textures(alpha=np.linspace(0, 255, 16).astype(np.uint8)[:, None])
    blend.alpha_mode = "BLEND"
    opaque = dataclasses.replace(blend, alpha_mode="OPAQUE")
    which = (np.arange(len(faces)) % 3 == 0).astype(np.int64)  # every third face opaque
    path = tmp_path / "split.glb"
    write_glb(path, vertices, faces, uvs=uvs, material=[blend, opaque], face_materials=which)
    report = khronos_report(path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]
    gltf = pygltflib.GLTF2.load(path)
    [mesh] = gltf.meshes
    assert [p.material for p in mesh.primitives] == [0, 1]
    assert [m.alphaMode for m in gltf.materials] == ["BLEND", "OPAQUE"]
    shared = [(a.POSITION, a.NORMAL, a.TEXCOORD_0) for a in (p.attributes for p in mesh.primitives)]
    assert shared[0] == shared[1] and len(gltf.images) == 2
    assert {m.pbrMetallicRoughness.baseColorTexture.index for m in gltf.materials} == {0}
    for primitive, group in zip(mesh.primitives, (0, 1), strict=True):
        written = accessor_array(gltf, primitive.indices, np.uint16, 3)
        np.testing.assert_array_equal(written, faces[which == group])
    loaded = trimesh.load(path, force="scene", process=False)
    assert sum(len(g.faces) for g in loaded.geometry.values()) == len(faces)
    # An unused material is left out; every face on one material gives one primitive.
    gltf = pygltflib.GLTF2.load_from_bytes(write_glb(None, vertices, faces, uvs=uvs, material=[blend, opaque],
                                                     face_materials=np.ones(len(faces), int)))
    assert [m.alphaMode for m in gltf.materials] == ["OPAQUE"] and len(gltf.meshes[0].primitives) == 1
    with pytest.raises(ValueError, match="need face_materials"):
        write_glb(None, vertices, faces, uvs=uvs, material=[blend, opaque])
    with pytest.raises(ValueError, match=r"face_materials must hold one integer in \[0, 2\)"):
        write_glb(None, vertices, faces, uvs=uvs, material=[blend, opaque], face_materials=which + 1)
    with pytest.raises(ValueError, match="face_materials must hold"):
        write_glb(None, vertices, faces, uvs=uvs, material=[blend, opaque], face_materials=which[:-1])
    with pytest.raises(TypeError, match="sequence of them"):
        write_glb(None, vertices, faces, material=[])


def test_untextured_glb_with_vertex_colours(tmp_path):
    vertices, faces, _ = uv_grid(4)
    colors = np.linspace(0, 1, len(vertices) * 3).reshape(-1, 3)
    path = tmp_path / "colored.glb"
    write_glb(path, vertices, faces, vertex_colors=colors)
    assert khronos_report(path)["issues"]["numErrors"] == 0
    gltf = pygltflib.GLTF2.load(path)
    written = accessor_array(gltf, gltf.meshes[0].primitives[0].attributes.COLOR_0, np.uint8, 4)
    np.testing.assert_array_equal(written[:, :3], np.round(colors * 255).astype(np.uint8))
    assert (written[:, 3] == 255).all() and gltf.accessors[gltf.meshes[0].primitives[0].attributes.COLOR_0].normalized
    assert not gltf.textures and gltf.materials[0].pbrMetallicRoughness.metallicFactor == 0.0


def test_bad_input_errors():
    vertices, faces, uvs = uv_grid(3)
    with pytest.raises(ValueError, match="needs per-vertex uvs"):
        write_glb(None, vertices, faces, material=textures())
    with pytest.raises(ValueError, match="uvs must have shape"):
        write_glb(None, vertices, faces, uvs=uvs[:-1], material=textures())
    with pytest.raises(ValueError, match="image_format must be one of"):
        write_glb(None, vertices, faces, image_format="gif")
    with pytest.raises(ValueError, match="base_color_texture must have shape"):
        write_glb(None, vertices, faces, uvs=uvs, material=PBRMaterial(base_color_texture=np.zeros((4, 4))))
    with pytest.raises(TypeError, match="metadata must be a JSON-serialisable"):
        write_glb(None, vertices, faces, metadata={"bad": object()})
    with pytest.raises(ValueError, match="faces"):
        write_glb(None, vertices, faces + 100)


def test_obj_and_ply_round_trip_through_trimesh(tmp_path):
    vertices, faces, uvs = uv_grid(4)
    write_obj(tmp_path / "m.obj", vertices, faces, uvs=uvs, normals=np.tile([0.0, 0.0, 1.0], (len(vertices), 1)))
    obj = trimesh.load(tmp_path / "m.obj", force="mesh", process=False)
    np.testing.assert_allclose(obj.vertices, vertices, atol=1e-7)
    np.testing.assert_array_equal(obj.faces, faces)
    np.testing.assert_allclose(obj.visual.uv, uvs, atol=1e-7)
    colors = np.arange(len(vertices) * 4).reshape(-1, 4).astype(np.uint8)
    write_ply(tmp_path / "m.ply", vertices, faces, vertex_colors=colors)
    ply = trimesh.load(tmp_path / "m.ply", process=False)
    np.testing.assert_allclose(ply.vertices, vertices, atol=1e-6)
    np.testing.assert_array_equal(ply.faces, faces)
    np.testing.assert_array_equal(ply.visual.vertex_colors, colors)


def test_export_readme_example_runs():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"<!-- export-example -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README export example not found"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    gltf = pygltflib.GLTF2.load_from_bytes(namespace["glb"])
    assert gltf.extensionsRequired == ["EXT_texture_webp"] and gltf.asset.extras == {"source": "readme"}
