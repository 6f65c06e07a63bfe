import pytest
import torch
import torch.nn.functional as F
from helpers import random_sparse
from sparsetensor import SparseTensor
from sparsetensor.nn import SparseConv3d
from sparsetensor.ops import build_neighbor_map, submanifold_conv3d


def dense_reference(x: SparseTensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int) -> torch.Tensor:
    """Dense conv3d on the densified grid, read back at the input voxels."""
    dense = x.to_dense()
    pad = [dilation * (k // 2) for k in weight.shape[1:4]]
    out = F.conv3d(dense, weight.permute(0, 4, 1, 2, 3), bias, padding=pad, dilation=dilation)
    b, i, j, k = x.coords.long().unbind(1)
    return out[b, :, i, j, k]


@pytest.mark.parametrize(
    ("counts", "res", "kernel", "dilation", "offset"),
    [
        ([40, 0, 25], 6, 3, 1, 0),
        ([1], 1, 3, 1, 0),
        ([30], 5, 3, 2, 0),
        ([20, 20], 4, (3, 1, 5), 1, 0),
        ([15], 4, 3, 1, 60),
    ],
)
def test_submanifold_conv_matches_dense(counts, res, kernel, dilation, offset):
    x = random_sparse(counts, res, channels=3, seed=sum(counts), offset=offset)
    conv = SparseConv3d(3, 4, kernel, dilation=dilation).double()
    out = conv(x)
    expected = dense_reference(x, conv.weight.detach(), conv.bias.detach(), dilation)
    torch.testing.assert_close(out.feats.detach(), expected, atol=1e-12, rtol=1e-10)
    assert out.coords is x.coords


def test_large_coordinates_neighbour_map():
    coords = torch.tensor([[0, 2**20, 5, 2**20], [0, 2**20 + 1, 5, 2**20], [1, 2**20, 5, 2**20]], dtype=torch.int32)
    nmap = build_neighbor_map(coords, 3)
    centre = 13
    assert nmap[:, centre].tolist() == [0, 1, 2]
    assert nmap[0, centre + 9].item() == 1 and nmap[1, centre - 9].item() == 0
    assert (nmap[2] >= 0).sum().item() == 1


def test_neighbour_map_is_cached_and_reused():
    x = random_sparse([10], 4, 2)
    conv = SparseConv3d(2, 2, 3).double()
    conv(x)
    (key,) = x.get_spatial_cache().keys()
    sentinel = torch.full_like(x.get_spatial_cache(key), -1)
    x.register_spatial_cache(key, sentinel)
    torch.testing.assert_close(conv(x.replace(x.feats)).feats, conv.bias.detach().expand(10, 2))


def test_weight_layout_and_errors():
    conv = SparseConv3d(5, 7, 3, bias=False)
    assert conv.weight.shape == (7, 3, 3, 3, 5) and conv.bias is None
    assert set(conv.state_dict()) == {"weight"}
    x = random_sparse([3], 3, 4)
    with pytest.raises(ValueError, match="feats must be"):
        submanifold_conv3d(x.feats.float(), x.coords, conv.weight)


def test_half_precision_runs_and_is_close():
    x = random_sparse([30], 5, 8).to(torch.float32)
    conv = SparseConv3d(8, 8, 3)
    ref = conv(x).feats
    out = submanifold_conv3d(x.feats.bfloat16(), x.coords, conv.weight.bfloat16(), conv.bias.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, atol=5e-2, rtol=5e-2)
