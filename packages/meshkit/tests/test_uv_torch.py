"""The torch unwrap (uv_torch) against the numpy path: same charts, faces and UVs bit for bit on CPU tensors, its
fixed-order sums, the half-angle rotation, the skyline packing, errors; CUDA when available."""

import numpy as np
import pytest
from meshkit import uv
from meshkit.uv import unwrap_uv

torch = pytest.importorskip("torch")
uv_torch = pytest.importorskip("meshkit.uv_torch")


def noisy_icosphere(subdivisions: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions)
    noise = 1 + 0.01 * np.random.default_rng(seed).standard_normal((len(sphere.vertices), 1))
    return np.asarray(sphere.vertices) * noise, np.asarray(sphere.faces)


def awkward_grid() -> tuple[np.ndarray, np.ndarray]:
    """A folded 6 x 6 vertex grid (boundary, two axis directions) plus a non-manifold fin, a face repeating a
    vertex and a separate, exactly symmetric square (isotropic chart moments)."""
    i, j = np.meshgrid(np.arange(6.0), np.arange(6.0), indexing="ij")
    vertices = np.stack([i, j, np.maximum(i - 2.5, 0.0) * 1.3], -1).reshape(-1, 3)
    a = (np.arange(5)[:, None] * 6 + np.arange(5)).reshape(-1)
    faces = np.concatenate([np.stack([a, a + 6, a + 7], 1), np.stack([a, a + 7, a + 1], 1)])
    fin = len(vertices)
    square = fin + 1
    vertices = np.concatenate([vertices, [[0.5, 0.5, 2.0]], [[10, 10, 0], [11, 10, 0], [11, 11, 0], [10, 11, 0]]])
    extra = [[0, 7, fin], [8, 8, 9], [square, square + 1, square + 2], [square, square + 2, square + 3]]
    return vertices, np.concatenate([faces, extra])


def assert_same_unwrap(vertices: np.ndarray, faces: np.ndarray, texture_size: int, device: str = "cpu") -> None:
    expected = unwrap_uv(vertices, faces, texture_size=texture_size)
    result = uv_torch.unwrap_uv_torch(torch.from_numpy(vertices).to(device), torch.from_numpy(faces).to(device),
                                      texture_size=texture_size)
    assert all(x.device.type == device for x in result)
    got = [x.cpu().numpy() for x in result]
    for name, want, have in zip(uv.UVUnwrap._fields, expected, got, strict=True):
        np.testing.assert_array_equal(have, want, err_msg=name)


@pytest.mark.parametrize("subdivisions", [1, 3, 4])
def test_torch_unwrap_equals_numpy_on_noisy_spheres(subdivisions):
    assert_same_unwrap(*noisy_icosphere(subdivisions), texture_size=256)


def test_torch_unwrap_equals_numpy_on_boundary_non_manifold_and_degenerate_faces():
    vertices, faces = awkward_grid()
    assert_same_unwrap(vertices, faces, texture_size=64)
    assert_same_unwrap(vertices.astype(np.float32).astype(np.float64), faces.astype(np.int32), texture_size=512)


def test_segment_sums_follow_the_pairwise_tree_and_leave_empty_rows_zero():
    rng = np.random.default_rng(3)
    index = rng.integers(0, 40, 3000)
    index[index == 7] = 8  # row 7 stays empty
    values = rng.normal(size=(3000, 2)) * 10.0 ** rng.integers(-8, 8, size=(3000, 1))  # order-sensitive
    expected = uv.pairwise_sums(index, values, 41)
    sums = uv_torch.SegmentSums(torch.from_numpy(index), 41)(torch.from_numpy(values)).numpy()
    np.testing.assert_array_equal(sums, expected)
    assert (sums[[7, 40]] == 0).all()
    np.testing.assert_allclose(expected, uv.sum_by(index, values, 41), rtol=1e-12, atol=1e-12 * np.abs(values).max())
    # The tree by hand for one index with five rows: ((v0 + v1) + (v2 + v3)) + v4.
    five = np.array([1.0, 1e-16, 1e-16, 1e-16, -1.0])
    assert uv.pairwise_sums(np.zeros(5, int), five, 1)[0] == ((five[0] + five[1]) + (five[2] + five[3])) + five[4]


def test_half_angle_matches_trigonometry():
    rng = np.random.default_rng(4)
    y, x = rng.normal(size=(2, 5000)) * 10.0 ** rng.integers(-30, 30, size=(2, 5000))
    y[:3], x[:3] = 0.0, [0.0, 1.0, -1.0]
    cos, sin = uv.half_angle(np, y, x)
    angle = 0.5 * np.arctan2(y, x)
    np.testing.assert_allclose(cos, np.cos(angle), atol=4e-16)
    np.testing.assert_allclose(sin, np.sin(angle), atol=4e-16)
    torch_cos, torch_sin = uv.half_angle(uv_torch.TORCH_XP, torch.from_numpy(y), torch.from_numpy(x))
    np.testing.assert_array_equal(torch_cos.numpy(), cos)
    np.testing.assert_array_equal(torch_sin.numpy(), sin)


def assert_boxes_apart(sizes: np.ndarray, offsets: np.ndarray, turned: np.ndarray, gutter: int, size: int) -> None:
    """Every box (turned ones with width and height swapped) inside the border gutter and ``gutter`` texels from
    every other box along x or y."""
    dims = np.where(turned[:, None], sizes[:, ::-1], sizes)
    low, high = offsets, offsets + dims
    assert (low >= gutter).all() and (high + gutter <= size).all()
    apart = ((low[:, None] >= high[None] + gutter) | (low[None] >= high[:, None] + gutter)).any(-1)
    np.fill_diagonal(apart, True)
    assert apart.all()


def test_skyline_pack_keeps_boxes_apart_and_inside():
    rng = np.random.default_rng(5)
    placed = 0
    for _ in range(300):
        count = int(rng.integers(1, 200))
        sizes = rng.integers(1, 40, size=(count, 2)) * rng.integers(1, 3, size=(count, 1))  # a few large boxes
        gutter, size = int(rng.integers(0, 4)), int(rng.integers(16, 400))
        result = uv.skyline_pack(sizes, gutter, size)
        if result is not None:
            assert_boxes_apart(sizes, *result, gutter, size)
            short = sizes.min(1) + gutter < size // 32  # not placed alone: laid flat
            np.testing.assert_array_equal(result[1][short], sizes[short, 1] > sizes[short, 0])
            placed += 1
        else:  # fails only where the boxes with their gutters would take over half the texture, or one cannot fit
            assert ((sizes + gutter).prod(1).sum() > 0.5 * (size - gutter) ** 2 or
                    (sizes.max(1) + 2 * gutter > size).any())
    assert 30 < placed < 270  # both outcomes exercised


def test_skyline_pack_tiles_a_texture_exactly():
    # Rows of 62 + 30, 30 + 62 and 30 + 30 + 30 texels, all 30 tall, fill a 98^2 texture with gutter 2 exactly.
    sizes = np.array([[62, 30]] * 2 + [[30, 30]] * 5)
    offsets, turned = uv.skyline_pack(sizes, 2, 98)
    assert_boxes_apart(sizes, offsets, turned, 2, 98)
    assert uv.skyline_pack(sizes + 1, 2, 98) is None


def test_pack_layout_turns_charts_counter_clockwise_inside_their_boxes():
    flat = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # a chart 2 wide and 1 tall, counter-clockwise
    low, high, chart = flat.min(0, keepdims=True), flat.max(0, keepdims=True), np.zeros(3, np.int64)
    offsets = np.array([[3.0, 5.0]])
    upright = uv.place_corners(np, flat, low, high, offsets, np.array([False]), chart, 10.0, 100)
    turned = uv.place_corners(np, flat, low, high, offsets, np.array([True]), chart, 10.0, 100)
    np.testing.assert_allclose(upright * 100, [[3.5, 5.5], [23.5, 5.5], [3.5, 15.5]])
    np.testing.assert_allclose(turned * 100, [[13.5, 5.5], [13.5, 25.5], [3.5, 5.5]])  # 1 wide, 2 tall, CCW


def test_torch_unwrap_errors():
    vertices, faces = noisy_icosphere(1)
    v, f = torch.from_numpy(vertices), torch.from_numpy(faces)
    with pytest.raises(ValueError, match="texture_size"):
        uv_torch.unwrap_uv_torch(v, f, texture_size=4)
    with pytest.raises(ValueError, match="gutter"):
        uv_torch.unwrap_uv_torch(v, f, gutter=-1)
    with pytest.raises(ValueError, match="index out of range"):
        uv_torch.unwrap_uv_torch(v, f + 1000)
    with pytest.raises(ValueError, match="NaN"):
        uv_torch.unwrap_uv_torch(v * torch.nan, f)
    # CPU tensors keep the numpy path (numpy results).
    assert isinstance(unwrap_uv(v, f, texture_size=64).uvs, np.ndarray)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_unwrap_stays_on_the_device_and_equals_numpy():
    vertices, faces = noisy_icosphere(5)
    assert_same_unwrap(vertices, faces, texture_size=1024, device="cuda")
    result = unwrap_uv(torch.from_numpy(vertices).cuda(), torch.from_numpy(faces).cuda(), texture_size=1024)
    assert result.uvs.device.type == "cuda" and result.faces.dtype == torch.int64
    assert_same_unwrap(*awkward_grid(), texture_size=64, device="cuda")


def test_divide_rounds_once_like_numpy_on_every_device():
    from meshkit.row_math import divide

    values = np.random.default_rng(5).normal(size=1000)
    np.testing.assert_array_equal(divide(values, 3), values / 3)
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        got = divide(torch.from_numpy(values).to(device), 3)
        assert got.device.type == device
        np.testing.assert_array_equal(got.cpu().numpy(), values / 3)
