"""The torch unwrap (uv_torch) against the numpy path: same charts, faces and UVs bit for bit on CPU tensors, its
fixed-order sums, the half-angle rotation, the shape packing, errors; CUDA when available."""

import numpy as np
import pytest
from meshkit import uv
from meshkit.raster import rasterize_uv
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


def fan_charts(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-face corners (F, 3, 2) and chart ids of ``count`` random counter-clockwise fans (stars, Ls, slivers)."""
    coords, chart = [], []
    for c in range(count):
        spokes = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, spokes))
        radii = rng.uniform(0.2, 1.0, spokes) * rng.uniform(0.5, 3.0)
        rim = np.stack([np.cos(angles) * radii * rng.uniform(0.3, 1.5), np.sin(angles) * radii], 1)
        centre = np.zeros((spokes, 2))
        coords.append(np.stack([centre, rim, np.roll(rim, -1, 0)], 1))
        chart.append(np.full(spokes, c))
    coords, chart = np.concatenate(coords), np.concatenate(chart)
    keep = signed_areas(coords) > 0  # drops the closing wedge where the rim turns by more than half a turn
    return coords[keep], chart[keep]


def signed_areas(corners: np.ndarray) -> np.ndarray:
    (ax, ay), (bx, by), (cx, cy) = (corners[:, k].T for k in range(3))
    return 0.5 * ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))


@pytest.mark.parametrize("seed, count, size, gutter", [(0, 1, 32, 0), (1, 12, 64, 1), (2, 40, 128, 2), (3, 25, 96, 3)])
def test_packed_charts_stay_inside_and_a_gutter_apart(seed, count, size, gutter):
    coords, chart = fan_charts(np.random.default_rng(seed), count)
    result_uv = uv.pack_charts(coords, chart, size, gutter)
    assert (result_uv >= 0).all() and (result_uv <= 1).all()
    ratio = signed_areas(result_uv) / signed_areas(coords)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)  # one uniform scale, turns keep the orientation
    uvs, faces = result_uv.reshape(-1, 2), np.arange(3 * len(chart)).reshape(-1, 3)
    owner = np.full((size, size), -1)
    for c in range(count):
        face_id, _ = rasterize_uv(uvs, faces[chart == c], size)
        grown = face_id >= 0
        for _ in range(gutter - 1):
            grown |= np.roll(grown, 1, 0) | np.roll(grown, -1, 0) | np.roll(grown, 1, 1) | np.roll(grown, -1, 1)
        assert (owner[grown] == -1).all(), f"chart {c} overlaps or is within {gutter} texels of another"
        owner[face_id >= 0] = c
    # Shapes packed, not boxes: the charts cover a fair share of the texture (measured 0.33 to 0.62).
    assert (owner >= 0).mean() > 0.25


def test_pack_layout_turns_charts_counter_clockwise_inside_their_boxes():
    flat = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # a chart 2 wide and 1 tall, counter-clockwise
    low, chart = flat.min(0, keepdims=True), np.zeros(3, np.int64)
    offsets, sizes = np.array([[3.0, 5.0]]), np.array([[21.0, 11.0]])  # ceil(extent * 10) + 1 texels
    placed = [uv.place_corners(np, flat, low, offsets, np.array([turn]), sizes, chart, 10.0, 100) * 100
              for turn in range(4)]
    np.testing.assert_allclose(placed[0], [[3.5, 5.5], [23.5, 5.5], [3.5, 15.5]])
    np.testing.assert_allclose(placed[1], [[13.5, 5.5], [13.5, 25.5], [3.5, 5.5]])  # 1 wide, 2 tall
    np.testing.assert_allclose(placed[2], [[23.5, 15.5], [3.5, 15.5], [23.5, 5.5]])
    np.testing.assert_allclose(placed[3], [[3.5, 25.5], [3.5, 5.5], [13.5, 25.5]])
    assert (signed_areas(np.stack(placed)) > 0).all()  # counter-clockwise in every turn


def test_pack_layout_error_when_charts_cannot_fit():
    coords, chart = fan_charts(np.random.default_rng(0), 200)
    with pytest.raises(ValueError, match="cannot be packed"):
        uv.pack_charts(coords, chart, 8, 3)


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
