import pytest
import torch
import torch.nn.functional as F
from sparsetensor.ops import decode_seq, encode_seq, sample_sparse_volume


def full_volume(res: int, channels: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(*[torch.arange(res)] * 3, indexing="ij"), -1).reshape(-1, 3)
    coords = torch.cat([torch.zeros(grid.shape[0], 1, dtype=torch.long), grid], 1).int()
    attrs = torch.randn(grid.shape[0], channels, generator=g, dtype=torch.float64)
    return coords, attrs


def test_trilinear_on_full_volume_matches_grid_sample():
    res = 5
    coords, attrs = full_volume(res, 3)
    points = torch.rand(1, 50, 3, dtype=torch.float64) * (res - 1) + 0.5
    got = sample_sparse_volume(coords, attrs, points)
    dense = attrs.reshape(res, res, res, 3).permute(3, 2, 1, 0)[None]  # grid_sample wants (z, y, x) spatial dims
    grid = (points / res * 2 - 1)[:, :, None, None, :]
    ref = F.grid_sample(dense, grid, mode="bilinear", align_corners=False)[0, :, :, 0, 0].t()
    torch.testing.assert_close(got[0], ref)


def test_trilinear_renormalises_over_present_voxels_and_world_mapping():
    coords = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [1, 3, 3, 3]], dtype=torch.int32)
    attrs = torch.tensor([[1.0], [3.0], [7.0]], dtype=torch.float64)
    points = torch.tensor([[[0.75, 0.5, 0.5], [9.0, 9.0, 9.0]], [[3.5, 3.5, 3.5], [0.75, 0.5, 0.5]]])
    got = sample_sparse_volume(coords, attrs, points)
    assert got[0, :, 0].tolist() == pytest.approx([1.5, 0.0])
    assert got[1, :, 0].tolist() == pytest.approx([7.0, 0.0])
    world = sample_sparse_volume(coords, attrs, points / 8 - 0.5, aabb=[[-0.5] * 3, [0.5] * 3], resolution=8)
    torch.testing.assert_close(world, got)


def test_nearest_reads_containing_voxel_or_zero():
    coords = torch.tensor([[0, 2, 1, 0]], dtype=torch.int32)
    got = sample_sparse_volume(coords, torch.tensor([[5.0, 6.0]]), torch.tensor([[[2.99, 1.0, 0.2], [3.0, 1, 0]]]),
                               mode="nearest")
    assert got.tolist() == [[[5.0, 6.0], [0.0, 0.0]]]
    with pytest.raises(ValueError, match="mode"):
        sample_sparse_volume(coords, torch.ones(1, 1), torch.zeros(1, 1, 3), mode="cubic")


@pytest.mark.parametrize("mode", ["z_order", "hilbert"])
@pytest.mark.parametrize("permute", [(0, 1, 2), (2, 0, 1)])
def test_serialization_round_trip(mode, permute):
    coords = torch.randint(0, 1024, (2000, 3), generator=torch.Generator().manual_seed(1))
    codes = encode_seq(coords, permute, mode)
    assert codes.dtype == torch.int32 and int(codes.max()) < 2**30
    torch.testing.assert_close(decode_seq(codes, permute, mode), coords.int())


def test_z_order_bit_layout_and_hilbert_continuity():
    assert encode_seq(torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [2, 0, 0]])).tolist() == [4, 2, 1, 32]
    walk = decode_seq(torch.arange(8**3), mode="hilbert")
    assert (walk[1:] - walk[:-1]).abs().sum(1).eq(1).all()
    assert walk.max() == 7
    with pytest.raises(ValueError, match="1024"):
        encode_seq(torch.tensor([[1024, 0, 0]]))
