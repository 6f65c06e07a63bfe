import pytest
import torch
from helpers import random_sparse
from sparsetensor.nn import SparseGroupNorm, SparseGroupNorm32, SparseLayerNorm32, SparseLinear, SparseSiLU


def test_groupnorm_is_per_batch_item():
    x = random_sparse([12, 0, 7], 4, channels=6)
    norm = SparseGroupNorm(3, 6).double()
    out = norm(x)
    for part in x.layout:
        rows = x.feats[part]
        if rows.shape[0]:
            ref = torch.nn.functional.group_norm(rows.t()[None], 3, norm.weight, norm.bias, norm.eps)[0].t()
            torch.testing.assert_close(out.feats[part], ref)


@pytest.mark.parametrize("layer", [SparseGroupNorm32(2, 4), SparseLayerNorm32(4)])
def test_32_variants_compute_in_float32_and_cast_back(layer):
    x = random_sparse([9, 5], 4, channels=4).to(torch.float16)
    out = layer(x)
    assert out.dtype == torch.float16
    ref = layer(x.float()).feats
    torch.testing.assert_close(out.feats.float(), ref, atol=2e-3, rtol=2e-3)


def test_linear_and_activation_keep_coords_and_keys():
    x = random_sparse([5], 3, channels=4).float()
    lin = SparseLinear(4, 3)
    assert set(lin.state_dict()) == {"weight", "bias"}
    y = SparseSiLU()(lin(x))
    torch.testing.assert_close(y.feats, torch.nn.functional.silu(x.feats @ lin.weight.t() + lin.bias))
    assert y.coords is x.coords
