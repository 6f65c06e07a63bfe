import pytest
import torch
from helpers import random_sparse
from sparsetensor import SparseTensor, VarLenTensor, sparse_cat, sparse_unbind, varlen_cat, varlen_unbind


def test_layout_shape_and_empty_batch_item():
    x = random_sparse([3, 0, 2], res=4, channels=5)
    assert len(x) == 3 and x.shape == (3, 5)
    assert [(s.start, s.stop) for s in x.layout] == [(0, 3), (3, 3), (3, 5)]
    assert x.seqlen.tolist() == [3, 0, 2]
    assert x.cum_seqlen.tolist() == [0, 3, 3, 5]


def test_duplicate_coords_rejected_unless_opted_out():
    coords = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]], dtype=torch.int32)
    with pytest.raises(ValueError, match="duplicate"):
        SparseTensor(torch.zeros(2, 1), coords)
    assert len(SparseTensor(torch.zeros(2, 1), coords, check_duplicates=False)) == 1


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        (torch.tensor([[0, -1, 0, 0], [0, 0, 0, 0]], dtype=torch.int32), "non-negative"),
        (torch.zeros(2, 3, dtype=torch.int32), r"\[N, 4\]"),
    ],
)
def test_bad_coords_have_clear_errors(coords, message):
    with pytest.raises(ValueError, match=message):
        SparseTensor(torch.zeros(2, 1), coords)


def test_int64_coords_rejected():
    with pytest.raises(TypeError, match="int32"):
        SparseTensor(torch.zeros(1, 1), torch.zeros(1, 4, dtype=torch.int64))


def test_arithmetic_and_cache_survives_replace():
    x = random_sparse([4, 3], res=5, channels=2)
    x.register_spatial_cache("k", 42)
    y = x * 2 + x - 1 / x.replace(x.feats.abs() + 1)
    expected = x.feats * 3 - 1 / (x.feats.abs() + 1)
    torch.testing.assert_close(y.feats, expected)
    assert y.get_spatial_cache("k") == 42
    per_batch = x * torch.tensor([[1.0], [10.0]], dtype=torch.float64)
    torch.testing.assert_close(per_batch.feats[4:], x.feats[4:] * 10)
    moved = x.replace(x.feats, x.coords.clone())
    assert moved.get_spatial_cache("k") is None


def test_elementwise_rejects_different_coords():
    a = random_sparse([3], res=4, channels=1, seed=1)
    b = random_sparse([3], res=4, channels=1, seed=2)
    with pytest.raises(ValueError, match="different coords"):
        _ = a + b


def test_to_dense_places_features():
    x = random_sparse([2, 1], res=3, channels=2, offset=100)
    dense = x.to_dense()
    assert dense.shape == (2, 2, *x.spatial_shape)
    for f, (b, i, j, k) in zip(x.feats, x.coords.tolist(), strict=True):
        torch.testing.assert_close(dense[b, :, i, j, k], f)
    assert dense.abs().sum() == pytest.approx(x.feats.abs().sum().item())


def test_sparse_cat_unbind_round_trip():
    a, b = random_sparse([2, 0], 3, 2, seed=3), random_sparse([1], 3, 2, seed=4)
    cat = sparse_cat([a, b])
    assert len(cat) == 3 and cat.coords[-1, 0] == 2
    items = sparse_unbind(cat)
    assert [len(i.feats) for i in items] == [2, 0, 1]
    torch.testing.assert_close(items[2].coords, b.coords)
    wide = sparse_cat([a, a], dim=-1)
    assert wide.feats.shape == (2, 4)


def test_varlen_round_trips():
    seqs = [torch.randn(3, 2), torch.randn(0, 2), torch.randn(1, 2)]
    v = VarLenTensor.from_tensor_list(seqs)
    assert v.seqlen.tolist() == [3, 0, 1]
    dense = v.to_dense()
    assert dense.shape == (3, 3, 2) and dense[1].abs().sum() == 0
    torch.testing.assert_close(dense[0], seqs[0])
    joined = varlen_cat([v, v])
    assert len(joined) == 6
    assert [t.feats.shape[0] for t in varlen_unbind(joined)] == [3, 0, 1, 3, 0, 1]
    with pytest.raises(ValueError, match="shorter"):
        v.to_dense(max_length=2)


def test_unsorted_batches_allowed_for_per_voxel_ops_only():
    coords = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=torch.int32)
    x = SparseTensor(torch.arange(3.0)[:, None], coords)
    assert len(x) == 2
    torch.testing.assert_close((x * torch.tensor([[10.0], [100.0]])).feats[:, 0], torch.tensor([0.0, 10.0, 200.0]))
    with pytest.raises(ValueError, match="batch-contiguous"):
        _ = x.layout
    assert x.replace(x.feats * 2).coords is coords
