"""PBR attribute voxelization: parity with upstream fixtures, material semantics on small synthetic meshes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from ovoxel import textured_mesh_to_volumetric_attr
from ovoxel.convert.texture_sampling import WRAP_CLAMP, WRAP_MIRROR, MipTexture
from ovoxel.mesh_loading import MeshPart, PbrMaterial, load_parts

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
PARITY = SHARED / "parity" / "ovoxel"
# Upstream samples the emissive texture through the roughness mip chain (a 1-channel buffer read as 3 channels:
# an out-of-bounds read), so its emissive values for textured emissive maps are not reproducible; we sample
# the emissive mips. DamagedHelmet is the only fixture with an emissive texture.
UPSTREAM_EMISSIVE_BUG = {"attr_DamagedHelmet"}


def _cases() -> list[str]:
    if not (PARITY / "index.json").is_file():
        return []
    index = json.loads((PARITY / "index.json").read_text())
    return sorted(name for name, case in index.items() if case["kind"] == "volumetric_attr")


@pytest.mark.parametrize("name", _cases() or ["missing"])
def test_parity_with_upstream(name):
    if name == "missing":
        pytest.skip(f"shared parity data not found at {PARITY}")
    from safetensors.numpy import load_file

    case = json.loads((PARITY / "index.json").read_text())[name]
    parts = load_parts(SHARED / "assets" / case["asset"])
    shift, scale = np.asarray(case["normalization"]["translate"]), case["normalization"]["then_scale"]
    for part in parts:
        part.vertices = (part.vertices + shift) * scale
    coords, attrs = textured_mesh_to_volumetric_attr(parts, grid_size=case["grid_size"], aabb=case["aabb"])
    reference = load_file(str(PARITY / f"{name}.safetensors"))
    order = np.lexsort(reference["coords"].T[::-1])
    np.testing.assert_array_equal(coords, reference["coords"][order])
    for attribute, values in attrs.items():
        if attribute == "emissive" and name in UPSTREAM_EMISSIVE_BUG:
            continue
        error = np.abs(values.astype(np.int32) - reference[f"attr_{attribute}"][order].astype(np.int32))
        assert np.all(error.mean(axis=0) <= 2.0), (attribute, error.mean(axis=0))
        assert np.all(np.percentile(error, 99, axis=0) <= 8.0), (attribute, np.percentile(error, 99, axis=0))


def _quad(material: PbrMaterial, uv_scale: float = 1.0) -> MeshPart:
    vertices = np.array([[0.1, 0.1, 0.5], [0.9, 0.1, 0.5], [0.9, 0.9, 0.5], [0.1, 0.9, 0.5]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64) * uv_scale
    return MeshPart(vertices, np.array([[0, 1, 2], [0, 2, 3]]), np.tile([0.0, 0.0, 1.0], (4, 1)), uv, material)


def _voxelize(part: MeshPart, grid: int = 16):
    return textured_mesh_to_volumetric_attr([part], grid_size=grid, aabb=[[0, 0, 0], [1, 1, 1]])


def test_factors_without_textures():
    material = PbrMaterial(base_color_factor=np.array([0.2, 0.4, 0.6, 0.5]), metallic_factor=0.25,
                           roughness_factor=0.75, emissive_factor=np.array([1.0, 0.0, 0.5]), alpha_mode=2)
    coords, attrs = _voxelize(_quad(material))
    assert len(coords) > 0 and set(np.unique(coords[:, 2])) <= {7, 8}
    np.testing.assert_array_equal(np.unique(attrs["base_color"], axis=0), [[51, 102, 153]])
    assert np.all(attrs["metallic"] == 63) and np.all(attrs["roughness"] == 191)
    np.testing.assert_array_equal(np.unique(attrs["emissive"], axis=0), [[255, 0, 127]])
    assert np.all(attrs["alpha"] == 127)
    assert np.all(attrs["normal"][:, :2] == 127) and np.all(attrs["normal"][:, 2] >= 254)  # +z, truncated


def test_metallic_from_blue_roughness_from_green_and_alpha_mask():
    texture = np.zeros((4, 4, 3), np.uint8)
    texture[..., 1], texture[..., 2] = 200, 40
    base = np.full((4, 4, 4), 255, np.uint8)
    base[..., 3] = 100  # below the 0.5 cutoff
    material = PbrMaterial(metallic_roughness_texture=texture, base_color_texture=base, alpha_mode=1)
    _, attrs = _voxelize(_quad(material))
    # quantization truncates like upstream, so float round-off may land one below the texel value
    assert np.all(np.isin(attrs["metallic"], [39, 40])) and np.all(np.isin(attrs["roughness"], [199, 200]))
    assert np.all(attrs["alpha"] == 0)
    material.alpha_mode = 0  # OPAQUE ignores texture alpha
    assert np.all(_voxelize(_quad(material))[1]["alpha"] == 255)


def test_texture_orientation_left_right_halves():
    base = np.zeros((8, 8, 4), np.uint8)
    base[..., 3] = 255
    base[:, :4, 0] = 255  # left half red, right half blue (u < 0.5 is red)
    base[:, 4:, 2] = 255
    coords, attrs = _voxelize(_quad(PbrMaterial(base_color_texture=base)), grid=32)
    left = (coords[:, 0] >= 6) & (coords[:, 0] <= 10)  # away from the repeat seam at u = 0 / 1
    right = (coords[:, 0] >= 22) & (coords[:, 0] <= 25)
    assert left.any() and right.any()
    assert np.all(attrs["base_color"][left, 0] > 200) and np.all(attrs["base_color"][right, 2] > 200)


def test_coarse_voxels_pick_coarse_mips():
    checker = ((np.indices((64, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
    base = np.stack([checker] * 3 + [np.full_like(checker, 255)], axis=-1)
    _, attrs = _voxelize(_quad(PbrMaterial(base_color_texture=base)), grid=8)
    assert np.all(np.abs(attrs["base_color"].astype(int) - 127) <= 2)  # 1x1 mip of a checkerboard is grey


def test_wrap_modes():
    texels = np.arange(4, dtype=np.uint8).reshape(1, 4, 1).repeat(4, axis=0) * 60
    u = np.array([1.125, -0.125])
    v = np.full(2, 0.5)
    level = np.zeros(2)
    np.testing.assert_allclose(MipTexture(texels).sample(u, v, level).ravel() * 255, [0, 180])
    np.testing.assert_allclose(MipTexture(texels, wrap=WRAP_CLAMP).sample(u, v, level).ravel() * 255, [180, 0])
    np.testing.assert_allclose(MipTexture(texels, wrap=WRAP_MIRROR).sample(u, v, level).ravel() * 255, [180, 0])


def test_non_square_texture_is_resampled():
    texture = MipTexture(np.full((20, 50, 3), 9, np.uint8))
    assert texture.levels[0].shape == (64, 64, 3) and texture.levels[-1].shape == (1, 1, 3)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="exactly one of grid_size and voxel_size"):
        _voxelize_box(grid_size=None)
    with pytest.raises(ValueError, match="aabb"):
        textured_mesh_to_volumetric_attr(trimesh.creation.box(), grid_size=8, aabb=[[0, 0, 0], [0, 1, 1]])
    bad = _quad(PbrMaterial())
    bad.vertices[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _voxelize(bad)
    with pytest.raises(FileNotFoundError, match="no such mesh"):
        textured_mesh_to_volumetric_attr(tmp_path / "none.glb", grid_size=8)


def _voxelize_box(**kwargs):
    return textured_mesh_to_volumetric_attr(trimesh.creation.box(), **kwargs)


def test_voxel_size_and_automatic_box():
    coords, attrs = _voxelize_box(voxel_size=0.125)
    assert coords.min() == 0 and coords.max() == 7 and len(coords) == len(attrs["base_color"])
