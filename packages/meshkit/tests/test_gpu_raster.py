"""The Triton UV rasterizer (compiled on a GPU, else in Triton's interpreter) against the native one."""

import meshkit
import numpy as np
import pytest
from triton_device import DEVICE, needs_cuda, torch

raster_triton = pytest.importorskip("meshkit.gpu.raster_triton")  # after triton_device has chosen the interpreter


def rasterize_both(uvs, faces, height, width):
    """(native face_id, bary), (Triton face_id, bary) as numpy arrays."""
    native = meshkit.rasterize_uv(uvs, faces, (height, width))
    uv_t = torch.as_tensor(np.asarray(uvs, np.float64), device=DEVICE)
    triton_out = raster_triton.rasterize_uv_triton(uv_t, torch.as_tensor(faces, device=DEVICE), height, width)
    return native, tuple(x.cpu().numpy() for x in triton_out)


def assert_same(native, got):
    (face_ref, bary_ref), (face_got, bary_got) = native, got
    assert face_got.dtype == np.int32 and bary_got.dtype == np.float32
    np.testing.assert_array_equal(face_got, face_ref)
    np.testing.assert_allclose(bary_got, bary_ref, rtol=0, atol=1e-5)


def test_overlapping_random_triangles_resolve_to_the_highest_face_id():
    rng = np.random.default_rng(0)
    uvs = rng.uniform(-0.1, 1.1, size=(40, 2))  # some corners outside [0, 1]: boxes are clipped
    faces = rng.integers(0, 40, size=(30, 3))
    native, got = rasterize_both(uvs, faces, 24, 32)
    assert_same(native, got)
    face_id = got[0]
    assert 0.3 < (face_id >= 0).mean() < 1
    # Overlaps exist, and each went to the highest of the faces covering that texel alone.
    alone = np.stack([meshkit.rasterize_uv(uvs, faces[f:f + 1], (24, 32))[0] >= 0 for f in range(len(faces))])
    assert (alone.sum(0) >= 2).sum() > 20
    highest = np.where(alone.any(0), len(faces) - 1 - np.argmax(alone[::-1], axis=0), -1)
    np.testing.assert_array_equal(face_id, highest)


def test_texel_centres_on_shared_edges_and_degenerate_faces():
    # A 4x4 grid of vertices on texel centres of an 8x8 texture, each cell split on a diagonal: many centres lie
    # exactly on edges and corners. Plus a zero-area face and a repeated vertex, which rasterize to nothing.
    ticks = (np.array([0, 2, 5, 7]) + 0.5) / 8
    uvs = np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2)
    cells = [(r * 4 + c, r * 4 + c + 1, r * 4 + c + 5, r * 4 + c + 4) for r in range(3) for c in range(3)]
    faces = np.array([f for a, b, c, d in cells for f in ((a, b, c), (a, c, d))] + [[0, 1, 2], [5, 5, 6]])
    native, got = rasterize_both(uvs, faces, 8, 8)
    assert_same(native, got)
    assert (got[0] >= 0).all()  # the grid spans every texel centre
    assert not np.isin([18, 19], got[0]).any()
    corner_weights = got[1][got[1].max(-1) > 1 - 1e-6]  # centres on a vertex get one weight of 1
    assert len(corner_weights) >= 16


def test_many_launches_give_the_same_result(monkeypatch):
    rng = np.random.default_rng(1)
    uvs, faces = rng.uniform(0, 1, size=(20, 2)), rng.integers(0, 20, size=(12, 3))
    native, got = rasterize_both(uvs, faces, 16, 16)
    monkeypatch.setattr(raster_triton, "_ITEMS_PER_LAUNCH", 97)  # items split over several launches
    _, chunked = rasterize_both(uvs, faces, 16, 16)
    assert_same(native, got)
    np.testing.assert_array_equal(chunked[0], got[0])
    np.testing.assert_array_equal(chunked[1], got[1])


@needs_cuda
def test_cuda_uvs_rasterize_on_the_gpu():
    rng = np.random.default_rng(2)
    uvs, faces = rng.uniform(0, 1, size=(300, 2)), rng.integers(0, 300, size=(500, 3))
    face_id, bary = meshkit.rasterize_uv(torch.as_tensor(uvs, device="cuda"), faces, (96, 128))
    assert face_id.device.type == bary.device.type == "cuda"
    assert_same(meshkit.rasterize_uv(uvs, faces, (96, 128)), (face_id.cpu().numpy(), bary.cpu().numpy()))


@pytest.mark.parametrize("size", [0, (4, -1)])
def test_bad_texture_size_is_refused_before_any_kernel(size):
    with pytest.raises(ValueError, match="texture_size"):
        meshkit.rasterize_uv(torch.zeros(3, 2, device=DEVICE), [[0, 1, 2]], size)
