import pytest
import torch
from helpers import random_sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from sparsetensor import SparseTensor
from sparsetensor.nn import SparseChannel2Spatial, SparseConv3d, SparseDownsample, SparseSpatial2Channel, SparseUpsample


def test_spatial2channel_packing_order():
    coords = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 3, 2, 2]], dtype=torch.int32)
    x = SparseTensor(torch.tensor([[1.0], [2.0], [3.0], [4.0]]), coords)
    y = SparseSpatial2Channel(2)(x)
    assert y.coords.tolist() == [[0, 0, 0, 0], [0, 1, 1, 1]]
    assert y.feats[0].tolist() == [0, 1, 2, 0, 3, 0, 0, 0]
    assert y.feats[1].tolist() == [0, 4, 0, 0, 0, 0, 0, 0]
    assert tuple(y.spatial_shape) == (2, 2, 2)


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(0, 30), min_size=1, max_size=3), res=st.integers(1, 7), seed=st.integers(0, 99))
def test_channel2spatial_inverts_spatial2channel(counts, res, seed):
    counts = [min(n, res**3) for n in counts]
    x = random_sparse(counts, res, channels=2, seed=seed)
    y = SparseSpatial2Channel(2)(x)
    z = SparseChannel2Spatial(2)(SparseConv3d(16, 16, 1).double()(y).replace(y.feats))
    torch.testing.assert_close(z.coords, x.coords)
    torch.testing.assert_close(z.feats, x.feats)


def test_subdivision_mask_matches_cache_path():
    x = random_sparse([20, 5], 6, channels=3, seed=7)
    down = SparseDownsample(2).train()
    coarse = down(x)
    mask = coarse.get_spatial_cache("subdivision")
    fresh = SparseTensor(coarse.feats, coarse.coords)
    up = SparseUpsample(2)(fresh, subdivision=fresh.replace(mask))
    key = lambda c: (c[:, 0] * 10**6 + c[:, 1] * 10**4 + c[:, 2] * 100 + c[:, 3]).long()  # noqa: E731
    assert sorted(key(up.coords).tolist()) == sorted(key(x.coords).tolist())
    cached = SparseUpsample(2)(coarse)
    torch.testing.assert_close(cached.coords, x.coords)


def test_downsample_mean_and_max():
    coords = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 1], [0, 2, 0, 0]], dtype=torch.int32)
    x = SparseTensor(torch.tensor([[1.0], [3.0], [5.0]]), coords)
    assert SparseDownsample(2)(x).feats.squeeze(1).tolist() == [2.0, 5.0]
    assert SparseDownsample(2, "max")(x).feats.squeeze(1).tolist() == [3.0, 5.0]
    up = SparseUpsample(2)(SparseDownsample(2)(x))
    assert up.feats.squeeze(1).tolist() == [2.0, 2.0, 5.0]


def test_missing_cache_is_a_clear_error():
    x = random_sparse([4], 3, channels=8)
    with pytest.raises(ValueError, match="subdivision"):
        SparseChannel2Spatial(2)(x)
    with pytest.raises(ValueError, match="subdivision"):
        SparseUpsample(2)(x)
