"""Baking: an analytic function baked on a sphere's UV layout reads back (PSNR), push-pull fill, errors."""

import re
from pathlib import Path

import numpy as np
import pygltflib
import pytest
from meshkit.bake import bake_attributes, push_pull_fill
from meshkit.uv import unwrap_uv


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions)
    return np.asarray(sphere.vertices), np.asarray(sphere.faces)


def colour_field(points: np.ndarray) -> np.ndarray:
    """A smooth RGB function of position on the unit sphere, in [0, 1]."""
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    return 0.5 + 0.5 * np.stack([unit[:, 0], np.sin(2 * unit[:, 1]), unit[:, 0] * unit[:, 2]], axis=1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def bilinear(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    height, width = texture.shape[:2]
    x, y = uv[:, 0] * width - 0.5, uv[:, 1] * height - 0.5
    x0, y0 = np.clip(np.floor(x).astype(int), 0, width - 2), np.clip(np.floor(y).astype(int), 0, height - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    return ((1 - fx) * (1 - fy) * texture[y0, x0] + fx * (1 - fy) * texture[y0, x0 + 1]
            + (1 - fx) * fy * texture[y0 + 1, x0] + fx * fy * texture[y0 + 1, x0 + 1])


def test_baked_sphere_function_reads_back_at_surface_points():
    hires_v, hires_f = icosphere(5)
    low_v, low_f = icosphere(3)
    layout = unwrap_uv(low_v, low_f, texture_size=256)
    mesh_uv = (low_v[layout.vertex_map], layout.faces, layout.uvs)
    result = bake_attributes(mesh_uv, hires_v, hires_f, colour_field, 256)
    assert result.texture.shape == (256, 256, 3) and result.mask.mean() > 0.3
    # Sample the texture at random points inside the low-res triangles and compare with the field at the snapped
    # surface point (the hi-res sphere is within ~0.2% of the unit sphere, so compare against the unit-sphere value).
    rng = np.random.default_rng(0)
    face = rng.integers(0, len(layout.faces), 4000)
    weights = rng.dirichlet(np.ones(3), 4000)
    uv = np.einsum("nk,nkc->nc", weights, layout.uvs[layout.faces[face]])
    points = np.einsum("nk,nkc->nc", weights, mesh_uv[0][layout.faces[face]])
    quality = psnr(bilinear(result.texture, uv), colour_field(points))
    assert quality > 35, quality  # measured 36.1 dB (bilinear lookups at chart borders dominate)
    # Coverage depends on the UV layout only, not on snapping.
    unsnapped = bake_attributes(mesh_uv, None, None, colour_field, 256)
    np.testing.assert_array_equal(unsnapped.mask, result.mask)


def test_snapping_uses_the_hires_surface():
    low_v, low_f = icosphere(1)
    layout = unwrap_uv(low_v, low_f, texture_size=64)
    mesh_uv = (low_v[layout.vertex_map], layout.faces, layout.uvs)
    hires_v, hires_f = icosphere(4)
    radius = bake_attributes(mesh_uv, hires_v * 2.0, hires_f, lambda p: np.linalg.norm(p, axis=1), 64, fill=False)
    covered = radius.texture[radius.mask, 0]
    assert np.abs(covered - 2.0).max() < 0.01  # points sit on the radius-2 sphere, not the radius-1 input


def test_push_pull_fills_everything_and_keeps_covered_texels():
    rng = np.random.default_rng(2)
    texture = rng.random((37, 50, 2)).astype(np.float32)
    mask = np.zeros((37, 50), bool)
    mask[5:12, 7:20] = True
    mask[30, 45] = True
    filled = push_pull_fill(np.where(mask[..., None], texture, 0), mask)
    np.testing.assert_array_equal(filled[mask], texture[mask])
    assert np.isfinite(filled).all()
    # Empty texels take values from the covered ones: within the range of the covered values.
    assert filled.min() >= texture[mask].min() - 1e-6 and filled.max() <= texture[mask].max() + 1e-6
    # A texel right next to the single covered texel gets (nearly) its value.
    np.testing.assert_allclose(filled[30, 44], texture[30, 45], atol=0.3)


def test_bake_errors():
    low_v, low_f = icosphere(1)
    layout = unwrap_uv(low_v, low_f, texture_size=32)
    mesh_uv = (low_v[layout.vertex_map], layout.faces, layout.uvs)
    with pytest.raises(ValueError, match=r"sampler must return \(\d+, C\) values"):
        bake_attributes(mesh_uv, None, None, lambda p: np.zeros((3, 3)), 32)
    with pytest.raises(ValueError, match="NaN"):
        bake_attributes(mesh_uv, None, None, lambda p: np.full(len(p), np.nan), 32)
    with pytest.raises(TypeError, match="mesh_uv must be"):
        bake_attributes(mesh_uv[:2], None, None, colour_field, 32)


def test_texturing_readme_example_runs():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"<!-- texturing-example -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README texturing example not found"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    gltf = pygltflib.GLTF2.load_from_bytes(namespace["glb"])
    assert gltf.materials[0].pbrMetallicRoughness.baseColorTexture.index == 0


def box_mip(image: np.ndarray, level: int) -> np.ndarray:
    factor = 2**level
    height, width = image.shape[0] // factor, image.shape[1] // factor
    return image[: height * factor, : width * factor].reshape(height, factor, width, factor, -1).mean(axis=(1, 3))


def test_filled_texture_has_no_seams_at_coarse_mip_levels():
    low_v, low_f = icosphere(3)
    layout = unwrap_uv(low_v, low_f, texture_size=256)
    mesh_uv = (low_v[layout.vertex_map], layout.faces, layout.uvs)
    result = bake_attributes(mesh_uv, None, None, colour_field, 256)
    unfilled = bake_attributes(mesh_uv, None, None, colour_field, 256, fill=False)
    # Per touched mip texel, the worst channel's error against the mean of the covered texels under it. Measured
    # (max / 99th percentile / mean), levels 1-3: 1e-7 / 4e-8 / 1e-9, 0.35 / 0.009 / 0.001, 0.42 / 0.15 / 0.005.
    # Level 1 is exact: push-pull gives an empty texel its 2 x 2 block's covered mean. Coarser blocks can straddle
    # two charts a 2-texel gutter apart, and the empty texels next to a chart whose 2 x 2 block has no coverage carry
    # that chart's edge colour (so a surface point sampled there reads its own chart), so a few blocks mix; black
    # fill errs by 0.75 / 0.93 / 0.95 at the maximum.
    bounds = {1: (1e-3, 1e-3, 1e-3), 2: (0.5, 0.02, 0.003), 3: (0.6, 0.25, 0.01)}  # max, 99th percentile, mean
    for level, (most, p99, mean) in bounds.items():
        coverage = box_mip(result.mask[..., None].astype(np.float64), level)[..., 0]
        covered_mean = box_mip(unfilled.texture * result.mask[..., None], level) / np.maximum(coverage, 1e-9)[..., None]
        touched = coverage > 0
        # Mip texels straddling a chart border keep the chart's colour: the empty part was filled from it.
        error = np.abs(box_mip(result.texture, level) - covered_mean)[touched].max(-1)
        black_error = np.abs(box_mip(unfilled.texture, level) - covered_mean)[touched].max()
        assert error.max() < most and np.percentile(error, 99) < p99 and error.mean() < mean, (level, error.max())
        assert black_error > 0.5, (level, black_error)


def push_pull_reference(texture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The original numpy push-pull: float64 2x2 sums per level, own mean where covered, else the coarser value."""
    weight = mask.astype(np.float64)
    levels = [(texture * weight[..., None], weight)]
    while max(levels[-1][1].shape) > 1:
        values, weights = levels[-1]
        pad = ((0, weights.shape[0] % 2), (0, weights.shape[1] % 2))
        values, weights = np.pad(values, pad + ((0, 0),)), np.pad(weights, pad)
        values = values[0::2, 0::2] + values[1::2, 0::2] + values[0::2, 1::2] + values[1::2, 1::2]
        weights = weights[0::2, 0::2] + weights[1::2, 0::2] + weights[0::2, 1::2] + weights[1::2, 1::2]
        levels.append((values, weights))
    filled = levels[-1][0] / np.maximum(levels[-1][1], 1e-300)[..., None]
    for values, weights in reversed(levels[:-1]):
        coarse = np.repeat(np.repeat(filled, 2, axis=0), 2, axis=1)[: weights.shape[0], : weights.shape[1]]
        filled = np.where((weights > 0)[..., None], values / np.maximum(weights, 1e-300)[..., None], coarse)
    return np.where(mask[..., None], texture, filled).astype(texture.dtype)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 9, 2), (13, 1, 3), (37, 50, 2), (64, 64, 4), (65, 31, 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_push_pull_matches_the_numpy_reference_exactly(shape, dtype):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    texture = (rng.random(shape) - 0.3).astype(dtype)
    mask = rng.random(shape[:2]) < 0.15
    mask.flat[0] = True
    filled = push_pull_fill(np.where(mask[..., None], texture, 0), mask)
    assert filled.dtype == dtype
    np.testing.assert_array_equal(filled, push_pull_reference(np.where(mask[..., None], texture, 0), mask))


def test_push_pull_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="texture \\(H, W, C\\) and mask \\(H, W\\)"):
        push_pull_fill(np.zeros((4, 4, 3), np.float32), np.zeros((4, 5), bool))


def test_dilation_gives_lone_edge_texels_their_own_chart_before_push_pull():
    from meshkit.bake import dilate_edges

    texture = np.zeros((8, 12, 2), np.float32)
    mask = np.zeros((8, 12), bool)
    mask[2:6, 2:4], texture[2:6, 2:4] = True, [1.0, 0.5]  # chart A: its right neighbours start a 2 x 2 block
    mask[2:6, 7:9], texture[2:6, 7:9] = True, [0.0, 0.25]  # chart B: its left neighbours end a block with it
    texture[3, 3] = [0.0, 1.0]  # one different texel in A's right column
    dilated, grown = dilate_edges(texture, mask)
    # Column 4 touches A in blocks without coverage: set. Column 6 beside B (rows 2-5) shares its 2 x 2 blocks with
    # B's column 7: left to push-pull (which gives it B's block mean); rows 1 and 6 touch B only diagonally, in
    # blocks without coverage: set. Column 5 touches nothing.
    assert grown[1:7, 4].all() and not grown[:, 5].any() and not grown[2:6, 6].any() and grown[mask].all()
    assert not grown[0, 4] and not grown[7, 4]  # beyond A's diagonal reach
    np.testing.assert_array_equal(dilated[1, 4], [1.0, 0.5])  # touches only A's (2, 3)
    np.testing.assert_allclose(dilated[3, 4], [(1.0 + 0.0 + 1.0) / 3, (0.5 + 1.0 + 0.5) / 3])  # mean of the 3 in A
    assert grown[1, 6] and grown[6, 6]
    np.testing.assert_array_equal(dilated[1, 6], [0.0, 0.25])
    np.testing.assert_array_equal(dilated[mask], texture[mask])
    assert dilated.dtype == np.float32 and not dilated[:, 5].any() and not dilated[2:6, 6].any()
    filled = push_pull_fill(*dilate_edges(texture, mask))
    assert filled[5, 4, 0] == pytest.approx(1.0) and filled[5, 6, 0] == pytest.approx(0.0)  # no mixing at the edges
