"""The numpy sparse-volume sampler behind to_glb's bake: exact values at voxel centres, linear fields reproduced
inside dense regions, renormalised weights at the sparse border, zeros far away, and agreement with sparsetensor."""

from __future__ import annotations

import numpy as np
import pytest
from ovoxel.postprocess import SparseVolumeSampler, make_sampler


def dense_block(size: int) -> np.ndarray:
    axes = np.arange(size)
    return np.stack(np.meshgrid(axes, axes, axes, indexing="ij"), -1).reshape(-1, 3)


def test_voxel_centres_return_their_own_values():
    rng = np.random.default_rng(1)
    coords = np.unique(rng.integers(0, 20, (300, 3)), axis=0)
    values = rng.random((len(coords), 4)).astype(np.float32)
    origin, size = np.array([-1.0, 0.0, 2.0]), np.array([0.1, 0.2, 0.05])
    sampler = SparseVolumeSampler(coords, values, origin, size)
    np.testing.assert_allclose(sampler(origin + (coords + 0.5) * size), values, atol=1e-6)


def test_linear_field_is_reproduced_inside_a_dense_block():
    coords = dense_block(6)
    values = (coords + 0.5) @ np.array([[1.0, 0.0], [0.5, -1.0], [0.25, 2.0]])
    sampler = SparseVolumeSampler(coords, values, np.zeros(3), np.ones(3))
    points = np.random.default_rng(2).uniform(0.5, 5.5, (500, 3))  # every point has all 8 neighbours
    np.testing.assert_allclose(sampler(points), points @ np.array([[1.0, 0.0], [0.5, -1.0], [0.25, 2.0]]),
                               rtol=1e-5, atol=1e-5)


def test_missing_neighbours_are_renormalised_and_empty_regions_give_zero():
    coords = np.array([[0, 0, 0], [1, 0, 0]])
    values = np.array([[2.0], [6.0]])
    sampler = SparseVolumeSampler(coords, values, np.zeros(3), np.ones(3))
    # x = 1.25: weights 0.25 / 0.75 along x; the y/z factors are the same for both present voxels and cancel.
    np.testing.assert_allclose(sampler(np.array([[1.25, 0.9, 0.3], [0.5, 0.5, 0.5], [9.0, 9.0, 9.0]]))[:, 0],
                               [0.25 * 2 + 0.75 * 6, 2.0, 0.0], atol=1e-6)


def test_coordinates_outside_the_key_range_are_refused():
    with pytest.raises(ValueError, match="voxel coordinates"):
        SparseVolumeSampler(np.array([[-1, 0, 0]]), np.zeros((1, 1)), np.zeros(3), np.ones(3))


def test_matches_sparsetensor_sample_sparse_volume_on_cpu_torch():
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("sparsetensor.ops", reason="sparsetensor not installed")
    rng = np.random.default_rng(3)
    coords = np.unique(rng.integers(0, 12, (900, 3)), axis=0)  # about half of a 12^3 block: many missing corners
    values = rng.random((len(coords), 5)).astype(np.float32)
    points = rng.uniform(-1.0, 13.0, (4000, 3))  # includes points outside the block
    ours = SparseVolumeSampler(coords, values, np.zeros(3), np.ones(3))(points)
    coords4 = torch.from_numpy(np.concatenate([np.zeros((len(coords), 1), np.int64), coords], 1))
    theirs = ops.sample_sparse_volume(coords4, torch.from_numpy(values), torch.from_numpy(points)[None])[0]
    np.testing.assert_allclose(ours, theirs.numpy(), atol=2e-6)
    assert (np.abs(ours).sum(1) == 0).any() and (np.abs(ours).sum(1) > 0).mean() > 0.5  # both regimes covered


def test_make_sampler_uses_numpy_for_cpu_tensors_and_maps_world_points():
    torch = pytest.importorskip("torch")
    coords = dense_block(4)
    values = torch.from_numpy((coords[:, :1] + 0.5).astype(np.float32))
    sampler = make_sampler(torch.from_numpy(coords), values, np.array([-1.0, -1.0, -1.0]), np.full(3, 0.5))
    assert isinstance(sampler, SparseVolumeSampler)
    np.testing.assert_allclose(sampler(np.array([[0.0, 0.0, 0.0]])), [[2.0]], atol=1e-6)  # x = 0 is grid 2.0


def test_chunked_sampling_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(4)
    coords = np.unique(rng.integers(0, 10, (400, 3)), axis=0)
    sampler = SparseVolumeSampler(coords, rng.random((len(coords), 3)), np.zeros(3), np.ones(3))
    points = rng.uniform(0, 10, (1000, 3))
    whole = sampler(points)
    monkeypatch.setattr("ovoxel.postprocess.sampling._CHUNK", 7)
    np.testing.assert_array_equal(sampler(points), whole)
    assert sampler(np.zeros((0, 3))).shape == (0, 3)


def test_sparsetensor_wrapper_maps_world_points_like_the_numpy_sampler(monkeypatch):
    """The GPU path's wrapper (batch column, world -> grid units, anisotropic voxels, chunks), on CPU tensors."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sparsetensor.ops", reason="sparsetensor not installed")
    from ovoxel.postprocess.sampling import _torch_sampler

    rng = np.random.default_rng(5)
    coords = np.unique(rng.integers(0, 8, (200, 3)), axis=0)
    values = rng.random((len(coords), 6)).astype(np.float32)
    origin, size = np.array([-0.5, -0.25, 0.0]), np.array([0.125, 0.0625, 0.1])
    points = origin + rng.uniform(-0.5, 8.5, (2000, 3)) * size
    monkeypatch.setattr("ovoxel.postprocess.sampling._CHUNK", 128)  # 2000 points in 4 chunks of 512
    gpu_style = _torch_sampler(torch.from_numpy(coords.astype(np.int32)), torch.from_numpy(values), origin, size)
    np.testing.assert_allclose(gpu_style(points), SparseVolumeSampler(coords, values, origin, size)(points),
                               atol=2e-6)
