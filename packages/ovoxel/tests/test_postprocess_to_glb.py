"""ovoxel.postprocess.to_glb on a voxelised sphere with a known attribute field: GLB validity and round trip,
baked values, decimation, remesh band/projection, material options, stage timings and input errors."""

from __future__ import annotations

import io
import re

import numpy as np
import ovoxel
import pygltflib
import pytest
import trimesh
from postprocess_fixtures import LAYOUT, RADIUS, field, khronos_report, voxel_sphere


@pytest.fixture(scope="module")
def sphere():
    return voxel_sphere(48)


@pytest.fixture(scope="module")
def plain(sphere):
    """Default chain (no remesh) on the sphere."""
    return ovoxel.postprocess.to_glb(**sphere.kwargs())


@pytest.fixture(scope="module")
def remeshed(sphere):
    """The product example's settings (remesh, band 1, no projection) at test scale."""
    return ovoxel.postprocess.to_glb(**sphere.kwargs(remesh=True, remesh_band=1, remesh_project=0))


def texel_values(glb, texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each face's centroid and the texel under its UV centroid (row i covers v in [i/H, (i+1)/H])."""
    centroid = glb.vertices[glb.faces].mean(axis=1)
    uv = glb.uvs[glb.faces].mean(axis=1)
    height, width = texture.shape[:2]
    rows = np.clip((uv[:, 1] * height).astype(int), 0, height - 1)
    cols = np.clip((uv[:, 0] * width).astype(int), 0, width - 1)
    return centroid, texture[rows, cols].astype(np.float64) / 255


def on_sphere(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True) * RADIUS


@pytest.mark.parametrize("name", ["plain", "remeshed"])
def test_baked_textures_match_the_attribute_field(request, name):
    glb = request.getfixturevalue(name)
    centroid, base = texel_values(glb, glb.material.base_color_texture)
    expected = field(on_sphere(centroid))
    error = np.abs(base[:, :3] - expected[:, :3])
    assert error.mean() < 0.003 and np.percentile(error, 99) < 0.01, (error.mean(), np.percentile(error, 99))
    assert np.all(base[:, 3] == 1.0)
    _, packed = texel_values(glb, glb.material.metallic_roughness_texture)
    assert np.all(packed[:, 0] == 0)
    np.testing.assert_allclose(packed[:, 2], expected[:, 3], atol=0.012)  # metallic in B
    np.testing.assert_allclose(packed[:, 1], expected[:, 4], atol=0.012)  # roughness in G


@pytest.mark.parametrize("webp", [False, True])
def test_export_reloads_in_trimesh_with_textures_and_passes_khronos(tmp_path, plain, webp):
    path = tmp_path / "sphere.glb"
    data = plain.export(path, extension_webp=webp)
    assert path.read_bytes() == data
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.vertices) == len(plain.vertices) and len(loaded.faces) == len(plain.faces)
    np.testing.assert_allclose(loaded.vertices, plain.vertices[:, [0, 2, 1]] * [1, 1, -1], atol=1e-6)  # Y-up
    material = loaded.visual.material
    assert material.baseColorTexture.size == (256, 256) and material.metallicRoughnessTexture.size == (256, 256)
    gltf = pygltflib.GLTF2.load(path)
    assert gltf.images[0].mimeType == ("image/webp" if webp else "image/png")
    assert (gltf.extensionsRequired or []) == (["EXT_texture_webp"] if webp else [])
    report = khronos_report(path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]


def test_export_without_path_returns_bytes_and_refuses_other_suffixes(tmp_path, plain):
    assert plain.export()[:4] == b"glTF"
    with pytest.raises(ValueError, match=r"\.glb"):
        plain.export(tmp_path / "sphere.obj")


def test_decimation_target_is_respected(sphere, plain):
    assert len(sphere.faces) > 5 * 1500
    assert 1499 <= len(plain.faces) <= 1500
    small = ovoxel.postprocess.to_glb(**sphere.kwargs(decimation_target=400, texture_size=64))
    assert 399 <= len(small.faces) <= 400
    full = ovoxel.postprocess.to_glb(**sphere.kwargs(decimation_target=None, texture_size=64))
    assert len(full.faces) == len(sphere.faces)


def test_remesh_band_and_projection_place_the_surface(sphere, remeshed):
    voxel = 1 / sphere.resolution
    radius = np.linalg.norm(remeshed.vertices, axis=1)
    assert abs(np.median(radius) - (RADIUS + voxel)) < 0.25 * voxel  # outer shell one band (voxel) out
    assert radius.min() > RADIUS  # the inner offset shell was dropped
    projected = ovoxel.postprocess.to_glb(**sphere.kwargs(remesh=True, remesh_project=1.0, texture_size=64))
    assert np.abs(np.linalg.norm(projected.vertices, axis=1) - RADIUS).max() < 0.25 * voxel
    both = ovoxel.postprocess.to_glb(**sphere.kwargs(remesh=True, remesh_project=0, remesh_outer_only=False,
                                                     decimation_target=3000, texture_size=64))
    inner = np.linalg.norm(both.vertices, axis=1) < RADIUS
    assert 0.3 < inner.mean() < 0.6  # both shells, as upstream


def test_alpha_mode_and_double_sided(sphere, remeshed, plain):
    assert plain.material.alpha_mode == "OPAQUE" and plain.material.double_sided  # upstream: not remesh
    assert not remeshed.material.double_sided and plain.opaque_faces is None
    cut = sphere.attrs.copy()
    centres = (sphere.coords + 0.5) / sphere.resolution - 0.5
    cut[:, 5] = np.where(centres[:, 2] > 0.1, 0.0, 1.0)  # transparent cap: binary voxel alpha
    glb = ovoxel.postprocess.to_glb(**sphere.kwargs(attr_volume=cut, alpha_mode="auto", double_sided=False,
                                                    texture_size=128))
    material = pygltflib.GLTF2.load_from_bytes(glb.export()).materials[0]
    assert (material.alphaMode, material.alphaCutoff, material.doubleSided) == ("MASK", 0.5, False)
    centroid, base = texel_values(glb, glb.material.base_color_texture)
    assert np.all(base[centroid[:, 2] > 0.15, 3] == 0) and np.all(base[centroid[:, 2] < 0.05, 3] == 1)
    masked = ovoxel.postprocess.to_glb(**sphere.kwargs(attr_volume=cut, alpha_mode="MASK", double_sided=True,
                                                       texture_size=64))
    material = pygltflib.GLTF2.load_from_bytes(masked.export()).materials[0]
    assert material.alphaMode == "MASK" and material.alphaCutoff == 0.5 and material.doubleSided is True


def test_blend_export_draws_opaque_faces_with_an_opaque_copy(tmp_path, sphere):
    """Half-transparent cap: 'auto' gives BLEND, and the faces under fully opaque texels go to a second primitive
    with an OPAQUE copy of the material (same textures), so viewers keep depth writes for them."""
    soft = sphere.attrs.copy()
    centres = (sphere.coords + 0.5) / sphere.resolution - 0.5
    soft[:, 5] = np.where(centres[:, 2] > 0.1, 0.5, 1.0)
    glb = ovoxel.postprocess.to_glb(**sphere.kwargs(attr_volume=soft, alpha_mode="auto", texture_size=128))
    assert glb.material.alpha_mode == "BLEND"
    height = glb.vertices[glb.faces][..., 2]
    opaque = glb.opaque_faces
    print(f"opaque faces {opaque.mean():.3f}")
    assert np.all(opaque[height.max(axis=1) < 0.05]) and not np.any(opaque[height.min(axis=1) > 0.15])
    path = tmp_path / "blend.glb"
    glb.export(path)
    report = khronos_report(path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]
    gltf = pygltflib.GLTF2.load(path)
    assert [m.alphaMode for m in gltf.materials] == ["BLEND", "OPAQUE"] and len(gltf.images) == 2
    assert len({m.pbrMetallicRoughness.baseColorTexture.index for m in gltf.materials}) == 1
    counts = [gltf.accessors[p.indices].count // 3 for p in gltf.meshes[0].primitives]
    assert counts == [np.sum(~opaque), np.sum(opaque)]
    loaded = trimesh.load(path, force="scene", process=False)
    assert sorted(len(g.faces) for g in loaded.geometry.values()) == sorted(counts)


def test_verbose_prints_stage_timings_and_progress_draws_a_bar(sphere, capsys):
    glb = ovoxel.postprocess.to_glb(**sphere.kwargs(texture_size=64, verbose=True, progress=True))
    out, err = capsys.readouterr()
    for stage in ("fill holes", "simplify", "cleanup", "uv unwrap", "bake", "material", "total"):
        assert re.search(rf"^\[to_glb\] {stage} +\d+\.\d{{3}} s", out, re.MULTILINE), (stage, out)
    assert re.search(r"^\[to_glb\] simplify .* \(1,500 faces\)$", out, re.MULTILINE), out
    assert "to_glb" in err and "8/8" in err
    assert set(glb.timings) == {"fill holes", "simplify", "cleanup", "uv unwrap", "bake", "material"}
    assert all(seconds >= 0 for seconds in glb.timings.values())


def test_torch_cpu_inputs_give_the_same_asset(sphere):
    torch = pytest.importorskip("torch")
    small = dict(decimation_target=600, texture_size=64)
    reference = ovoxel.postprocess.to_glb(**sphere.kwargs(**small))
    tensors = ovoxel.postprocess.to_glb(**sphere.kwargs(
        vertices=torch.from_numpy(sphere.vertices).float(), faces=torch.from_numpy(sphere.faces).int(),
        attr_volume=torch.from_numpy(sphere.attrs), coords=torch.from_numpy(sphere.coords),
        aabb=torch.tensor([[-0.5] * 3, [0.5] * 3]), voxel_size=None, grid_size=sphere.resolution, **small))
    assert len(tensors.faces) == len(reference.faces)
    difference = np.abs(tensors.material.base_color_texture.astype(int) - reference.material.base_color_texture)
    assert np.median(difference) == 0 and difference.max() <= 3  # float32 vertices vs float64: tiny shifts


def test_uint8_volume_and_batched_coords_are_accepted(sphere):
    batched = np.concatenate([np.zeros((len(sphere.coords), 1), np.int32), sphere.coords], axis=1)
    as_bytes = np.round(sphere.attrs * 255).astype(np.uint8)
    glb = ovoxel.postprocess.to_glb(**sphere.kwargs(coords=batched, attr_volume=as_bytes, decimation_target=600,
                                                    texture_size=64))
    centroid, base = texel_values(glb, glb.material.base_color_texture)
    assert np.abs(base[:, :3] - field(on_sphere(centroid))[:, :3]).mean() < 0.01


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not cuda_available(), reason="needs torch with a CUDA GPU")
def test_cuda_tensors_use_the_gpu_sampler_and_match_cpu(sphere):
    import torch

    small = dict(decimation_target=600, texture_size=64)
    reference = ovoxel.postprocess.to_glb(**sphere.kwargs(**small))
    gpu = ovoxel.postprocess.to_glb(**sphere.kwargs(attr_volume=torch.from_numpy(sphere.attrs).cuda(),
                                                    coords=torch.from_numpy(sphere.coords).cuda(), **small))
    difference = np.abs(gpu.material.base_color_texture.astype(int) - reference.material.base_color_texture)
    assert difference.max() <= 1


@pytest.mark.parametrize("change, message", [
    (lambda s: {"attr_volume": s.attrs[:-1]}, "rows but coords has"),
    (lambda s: {"attr_layout": {k: v for k, v in LAYOUT.items() if k != "roughness"}}, "lacks roughness"),
    (lambda s: {"attr_layout": LAYOUT | {"base_color": slice(0, 2)}}, "selects 2"),
    (lambda s: {"faces": np.zeros((0, 3), np.int64)}, "mesh is empty"),
    (lambda s: {"vertices": np.zeros((0, 3)), "faces": np.zeros((0, 3), np.int64)}, "mesh is empty"),
    (lambda s: {"aabb": [-0.5, 0.5]}, r"aabb must have shape \(2, 3\)"),
    (lambda s: {"aabb": [[0.5] * 3, [-0.5] * 3]}, "max > min"),
    (lambda s: {"voxel_size": None}, "voxel_size or grid_size"),
    (lambda s: {"coords": s.coords[:, :2]}, r"coords must have shape \(N, 3\)"),
    (lambda s: {"faces": s.faces + len(s.vertices)}, "faces reference vertices"),
    (lambda s: {"decimation_target": 0}, "decimation_target"),
    (lambda s: {"texture_size": 4}, "texture_size"),
    (lambda s: {"remesh_project": 1.5}, "remesh_project"),
    (lambda s: {"alpha_mode": "opaque"}, "alpha_mode"),
    (lambda s: {"vertices": [[0, 0, 0], [1e-3, 0, 0], [0, 1e-3, 0]], "faces": [[0, 1, 2]]}, "no faces left"),
])
def test_bad_inputs_raise_clear_value_errors(sphere, change, message):
    with pytest.raises(ValueError, match=message):
        ovoxel.postprocess.to_glb(**sphere.kwargs(**change(sphere)))


def test_cluster_knobs_are_accepted_and_warn_that_meshkit_ignores_them(sphere):
    with pytest.warns(UserWarning, match="mesh_cluster_refine_iterations"):
        glb = ovoxel.postprocess.to_glb(**sphere.kwargs(mesh_cluster_refine_iterations=2, decimation_target=400,
                                                        texture_size=64))
    assert len(glb.faces) <= 400


def test_product_example_signature_runs(sphere, tmp_path, capsys):
    """The README call, verbatim apart from a smaller decimation target and texture."""
    glb = ovoxel.postprocess.to_glb(vertices=sphere.vertices, faces=sphere.faces, attr_volume=sphere.attrs,
                                    coords=sphere.coords, attr_layout=LAYOUT, voxel_size=1 / sphere.resolution,
                                    aabb=[[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]], decimation_target=2000,
                                    texture_size=128, remesh=True, remesh_band=1, remesh_project=0, verbose=True)
    glb.export(tmp_path / "sample.glb", extension_webp=True)
    assert "[to_glb] remesh" in capsys.readouterr().out
    image = pygltflib.GLTF2.load(tmp_path / "sample.glb")
    assert image.textures[0].extensions["EXT_texture_webp"]["source"] == 0
    assert io.BytesIO((tmp_path / "sample.glb").read_bytes()).read(4) == b"glTF"
