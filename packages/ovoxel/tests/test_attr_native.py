"""Native attribute voxelizer: same bytes as the numpy reference (attr_reference.py) on synthetic multi-material
meshes, for any thread count; the texture sampler matches the reference sampler bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from attr_reference import ReferenceTexture, reference_volumetric_attr
from ovoxel import textured_mesh_to_volumetric_attr
from ovoxel._attr import triangle_voxel_pairs
from ovoxel.convert.texture_sampling import (
    FILTER_LINEAR,
    FILTER_NEAREST,
    WRAP_CLAMP,
    WRAP_MIRROR,
    WRAP_REPEAT,
    MipTexture,
)
from ovoxel.mesh_loading import MeshPart, PbrMaterial

BOX = [[0, 0, 0], [1, 1, 1]]


def _noise(rng, shape) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _wavy_sheet(rng, n: int, z: float, uv_scale: float, uv: bool = True) -> tuple:
    """An n x n grid sheet bent in z, with UVs spanning several texture repeats (and negative ones)."""
    x, y = np.meshgrid(np.linspace(0.05, 0.95, n), np.linspace(0.05, 0.95, n), indexing="ij")
    height = z + 0.15 * np.sin(6 * x) * np.cos(5 * y)
    vertices = np.stack([x, y, height], axis=-1).reshape(-1, 3)
    index = np.arange(n * n).reshape(n, n)
    a, b, c, d = index[:-1, :-1].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel(), index[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    faces = np.concatenate([faces, [[0, 0, 1], [0, 1, 1]]])  # zero-area faces are dropped
    normals = trimesh.Trimesh(vertices, faces[:-2], process=False).vertex_normals
    uvs = vertices[:, :2] * uv_scale - 0.3 if uv else None
    if uv:
        uvs[index[: n // 2, 0]] = uvs[index[0, 0]]  # a strip of faces with a degenerate UV map
    return vertices, faces, normals, uvs, rng


def _parts(seed: int = 0) -> list[MeshPart]:
    rng = np.random.default_rng(seed)
    full = PbrMaterial(base_color_factor=np.array([0.9, 0.7, 0.5, 0.8], np.float32), metallic_factor=0.6,
                       roughness_factor=0.9, emissive_factor=np.array([1.0, 0.5, 0.25], np.float32),
                       base_color_texture=_noise(rng, (32, 32, 4)), metallic_roughness_texture=_noise(rng, (24, 40, 3)),
                       emissive_texture=_noise(rng, (16, 16, 3)), normal_texture=_noise(rng, (64, 64, 3)),
                       alpha_mode=1, alpha_cutoff=0.4)
    blend = PbrMaterial(base_color_texture=_noise(rng, (8, 8, 4)), alpha_mode=2)
    plain = PbrMaterial(base_color_factor=np.array([0.2, 0.4, 0.6, 1.0]), metallic_factor=0.0)
    sheets = [_wavy_sheet(rng, 14, 0.3, 2.5), _wavy_sheet(rng, 9, 0.55, 1.0), _wavy_sheet(rng, 7, 0.75, 1.0, uv=False)]
    return [MeshPart(v, f, n, uv, m) for (v, f, n, uv, _), m in zip(sheets, (full, blend, plain), strict=True)]


def _assert_same(result, expected) -> None:
    np.testing.assert_array_equal(result[0], expected[0])
    assert result[1].keys() == expected[1].keys()
    for name, values in expected[1].items():
        assert result[1][name].dtype == np.uint8 and result[1][name].flags.c_contiguous
        np.testing.assert_array_equal(result[1][name], values, err_msg=name)


@pytest.mark.parametrize("kwargs", [{"grid_size": 48}, {"grid_size": (40, 32, 24), "mip_level_offset": 1.5},
                                    {"voxel_size": 1 / 64, "mip_level_offset": -3.0}])
def test_matches_numpy_reference_on_multi_material_parts(kwargs):
    expected = reference_volumetric_attr(_parts(), aabb=BOX, **kwargs)
    assert len(expected[0]) > 500 and len(np.unique(expected[1]["base_color"], axis=0)) > 100
    _assert_same(textured_mesh_to_volumetric_attr(_parts(), aabb=BOX, **kwargs), expected)


def test_thread_count_does_not_change_bytes():
    runs = [textured_mesh_to_volumetric_attr(_parts(1), grid_size=64, aabb=BOX, num_threads=t) for t in (1, 2, 3)]
    for run in runs[1:]:
        _assert_same(run, runs[0])


def test_empty_grid_overlap_gives_empty_output():
    outside = [[5, 5, 5], [6, 6, 6]]  # the mesh lies outside the box: every crossing is clamped away or skipped
    coords, attrs = textured_mesh_to_volumetric_attr(_parts()[:1], grid_size=8, aabb=outside)
    expected = reference_volumetric_attr(_parts()[:1], grid_size=8, aabb=outside)
    _assert_same((coords, attrs), expected)
    assert coords.shape[1] == 3 and [v.shape[1] for v in attrs.values()] == [3, 1, 1, 3, 1, 3]


@pytest.mark.parametrize("filter_mode", [FILTER_LINEAR, FILTER_NEAREST])
@pytest.mark.parametrize("wrap", [WRAP_REPEAT, WRAP_CLAMP, WRAP_MIRROR])
@pytest.mark.parametrize("shape", [(16, 16, 4), (5, 12, 1), (7, 7, 3)])
def test_sampler_matches_reference_bit_for_bit(filter_mode, wrap, shape):
    rng = np.random.default_rng(sum(shape) + 10 * wrap + 100 * filter_mode)
    image = _noise(rng, shape)
    u, v = rng.uniform(-3, 3, 2000), rng.uniform(-3, 3, 2000)
    level = rng.uniform(-1, 6, 2000)
    level[:6] = [np.nan, np.inf, -np.inf, 1e300, 2.0, 4.0]
    u[6:9] = [1e30, -0.0, 1.0]  # far outside the texture, and texel edges
    native, reference = MipTexture(image, filter_mode, wrap), ReferenceTexture(image, filter_mode, wrap)
    assert len(native.levels) == len(reference.levels)
    for mine, theirs in zip(native.levels, reference.levels, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    with np.errstate(invalid="ignore"):
        expected = reference.sample(u, v, level)
    np.testing.assert_array_equal(native.sample(u, v, level), expected)


@pytest.mark.parametrize("filter_mode", [FILTER_LINEAR, FILTER_NEAREST])
def test_interleaved_channel_views_match_one_contiguous_image(filter_mode):
    """Views of some channels (strided pixels), flipped rows and reversed channels are read as their copies would be;
    4 + 2 + 3 + 3 channels make 12-byte texels, the layout of a full glTF material."""
    rng = np.random.default_rng(5)
    rgba, mr, emissive, normal = (_noise(rng, (32, 32, c)) for c in (4, 3, 3, 3))
    views = [rgba, mr[..., 1:3], emissive[::-1], normal[..., ::-1]]
    whole = np.concatenate([np.ascontiguousarray(view) for view in views], axis=2)
    native, reference = MipTexture(views, filter_mode), ReferenceTexture(whole, filter_mode)
    assert len(native.levels) == (6 if filter_mode == FILTER_LINEAR else 1)
    for mine, theirs in zip(native.levels, reference.levels, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    u, v, level = rng.uniform(-2, 2, 3000), rng.uniform(-2, 2, 3000), rng.uniform(-1, 6, 3000)
    np.testing.assert_array_equal(native.sample(u, v, level), reference.sample(u, v, level))


def test_metallic_roughness_red_channel_is_not_read():
    """Only G (roughness) and B (metallic) of the metallic-roughness texture reach the native pass."""
    parts = _parts(2)
    first = textured_mesh_to_volumetric_attr(parts, grid_size=40, aabb=BOX)
    parts[0].material.metallic_roughness_texture[..., 0] ^= 0xFF
    second = textured_mesh_to_volumetric_attr(parts, grid_size=40, aabb=BOX)
    _assert_same(second, first)
    parts[0].material.metallic_roughness_texture[..., 2] ^= 0xFF
    assert not np.array_equal(textured_mesh_to_volumetric_attr(parts, grid_size=40, aabb=BOX)[1]["metallic"],
                              first[1]["metallic"])


def test_sampler_rejects_bad_textures():
    from ovoxel._attr import MipTexture as NativeTexture

    with pytest.raises(ValueError, match="1 to 16 channels"):
        MipTexture(np.zeros((4, 4, 17), np.uint8))
    with pytest.raises(ValueError, match="square with a power-of-two side"):
        NativeTexture(np.zeros((4, 8, 3), np.uint8), FILTER_LINEAR, WRAP_REPEAT)
    with pytest.raises(ValueError, match="wrap mode"):
        MipTexture(np.zeros((4, 4, 3), np.uint8), wrap=7)
    with pytest.raises(ValueError, match="one length"):
        MipTexture(np.zeros((4, 4, 3), np.uint8)).sample(np.zeros(3), np.zeros(2), np.zeros(3))


def test_pairs_are_distinct_per_triangle_with_either_deduplication():
    rng = np.random.default_rng(3)
    triangles = (rng.uniform(0.1, 0.9, (40, 1, 3)) + rng.uniform(-0.05, 0.05, (40, 3, 3))).astype(np.float32)
    triangles[0] = [[0.01, 0.02, 0.05], [0.97, 0.3, 0.95], [0.2, 0.98, 0.5]]  # a voxel box of over 2^24 cells
    triangles[1] = [[-0.05, 0.5, 0.5], [0.03, 0.52, 0.49], [0.01, 0.47, 0.53]]  # past the grid's low x side
    triangles[2] = [[0.96, 0.5, 0.98], [1.04, 0.52, 1.03], [0.99, 0.47, 0.95]]  # past the high x and z sides
    grid = [300, 280, 310]
    owners, coords = triangle_voxel_pairs(triangles, [1 / g for g in grid], grid)
    assert np.all(np.diff(owners) >= 0) and set(owners) == set(range(40))
    by_sorting = triangle_voxel_pairs(triangles, [1 / g for g in grid], grid, max_marked_box=0)
    np.testing.assert_array_equal(by_sorting[0], owners)
    for triangle in range(40):
        own = coords[owners == triangle]
        assert len(np.unique(own, axis=0)) == len(own)
        np.testing.assert_array_equal(np.unique(own, axis=0), by_sorting[1][owners == triangle])
    threaded = triangle_voxel_pairs(triangles, [1 / g for g in grid], grid, num_threads=3)
    np.testing.assert_array_equal(threaded[1], coords)


def test_material_textures_with_too_few_channels_are_refused():
    part = _parts()[1]
    part.material.base_color_texture = np.zeros((8, 8, 3), np.uint8)  # RGB: no alpha channel
    with pytest.raises(ValueError, match="base_color_texture needs at least 4 channels, got 3"):
        textured_mesh_to_volumetric_attr([part], grid_size=8, aabb=BOX)


def test_grid_too_fine_for_the_triangle_count_is_refused():
    """Voxel key (60 bits at the largest grid) and triangle id share one 64-bit sort word; 32 triangles need 5 bits."""
    corner = np.array([[0.5, 0.5, 0.5], [0.5 + 1e-6, 0.5, 0.5], [0.5, 0.5 + 1e-6, 0.5]])
    vertices = np.concatenate([corner + [0, 0, 1e-6 * k] for k in range(32)])
    mesh = trimesh.Trimesh(vertices, np.arange(96).reshape(32, 3), process=False)
    coords, _ = textured_mesh_to_volumetric_attr(mesh.submesh([np.arange(16)], append=True), grid_size=2**20 - 1,
                                                 aabb=BOX)
    assert len(coords) > 0
    with pytest.raises(ValueError, match="grid too fine for this many triangles"):
        textured_mesh_to_volumetric_attr(mesh, grid_size=2**20 - 1, aabb=BOX)
