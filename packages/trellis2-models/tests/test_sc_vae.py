"""Sparse VAE structure: encoder -> decoder shapes on tiny configs, mixed precision, sparse operators, errors."""

import pytest
import torch
from trellis2_models.sc_vaes import (
    FlexiDualGridVaeDecoder,
    FlexiDualGridVaeEncoder,
    SparseUnetVaeDecoder,
    SparseUnetVaeEncoder,
    SparseVoxels,
)
from trellis2_models.sc_vaes.voxels import SubmanifoldConv3d, channel_to_spatial, spatial_to_channel

LEVELS = {"num_blocks": [1, 1], "block_type": ["SparseConvNeXtBlock3d"] * 2, "block_args": [{}, {}]}


def fine_voxels(resolution: int = 8, batch: int = 2, channels: int = 3) -> SparseVoxels:
    """A random sparse shell-like set of voxels for `batch` items on a resolution^3 grid."""
    generator = torch.Generator().manual_seed(0)
    grid = torch.stack(torch.meshgrid(*[torch.arange(resolution)] * 3, indexing="ij"), -1).reshape(-1, 3)
    rows = []
    for b in range(batch):
        keep = grid[torch.rand(len(grid), generator=generator) < 0.3]
        rows.append(torch.cat([torch.full((len(keep), 1), b), keep], 1))
    coords = torch.cat(rows).int()
    return SparseVoxels(torch.randn(len(coords), channels, generator=generator), coords)


def test_spatial_channel_round_trip():
    x = fine_voxels(channels=5)
    merged = spatial_to_channel(x)
    assert merged.feats.shape[1] == 40 and (merged.coords[:, 1:] < 4).all()
    present = merged.feats.reshape(len(merged.coords), 8, 5).abs().sum(-1) > 0
    back = channel_to_spatial(merged, present)
    order = lambda c: torch.argsort(((c[:, 0] * 64 + c[:, 1]) * 64 + c[:, 2]) * 64 + c[:, 3])  # noqa: E731
    assert torch.equal(back.coords[order(back.coords)], x.coords[order(x.coords)])
    torch.testing.assert_close(back.feats[order(back.coords)], x.feats[order(x.coords)])


def test_submanifold_conv_matches_dense_conv():
    x = fine_voxels(resolution=6, batch=1, channels=4)
    conv = SubmanifoldConv3d(4, 3)
    dense = torch.zeros(1, 4, 6, 6, 6)
    dense[0, :, x.coords[:, 1], x.coords[:, 2], x.coords[:, 3]] = x.feats.T
    weight = conv.weight.permute(0, 4, 1, 2, 3)
    reference = torch.nn.functional.conv3d(dense, weight, conv.bias, padding=1)
    expected = reference[0, :, x.coords[:, 1], x.coords[:, 2], x.coords[:, 3]].T
    torch.testing.assert_close(conv(x).feats, expected, rtol=1e-5, atol=1e-5)


def test_unet_encode_decode_shapes_and_guided_texture():
    x = fine_voxels(channels=6)
    encoder = SparseUnetVaeEncoder(6, [16, 32], 8, down_block_type=["SparseResBlockS2C3d"], **LEVELS)
    latent, mean, logvar = encoder(x, return_raw=True)
    assert latent.feats.shape == (len(latent.coords), 8) and mean.shape == logvar.shape
    assert torch.equal(latent.coords, spatial_to_channel(x).coords)
    shape_decoder = SparseUnetVaeDecoder(4, [32, 16], 8, up_block_type=["SparseResBlockC2S3d"], **LEVELS)
    raw, logits = shape_decoder.decode_features(latent)
    assert raw.feats.shape[1] == 4 and len(logits) == 1 and logits[0].shape == (len(latent.coords), 8)
    assert len(raw.coords) == int((logits[0] > 0).sum())
    texture_decoder = SparseUnetVaeDecoder(6, [32, 16], 8, up_block_type=["SparseResBlockC2S3d"],
                                           pred_subdiv=False, **LEVELS)
    textured = texture_decoder(latent, guide_subs=[logits[0]])
    assert torch.equal(textured.coords, raw.coords) and textured.feats.shape[1] == 6


def test_dual_grid_encoder_decoder_and_mixed_precision():
    x = fine_voxels()
    offsets = x.replace(torch.rand(len(x.coords), 3))
    intersected = x.replace(torch.rand(len(x.coords), 3) > 0.5)
    encoder = FlexiDualGridVaeEncoder([16, 32], 8, down_block_type=["SparseResBlockS2C3d"], **LEVELS)
    latent = encoder(offsets, intersected, sample_posterior=True)
    decoder = FlexiDualGridVaeDecoder(8, [32, 16], 8, up_block_type=["SparseResBlockC2S3d"], use_fp16=True,
                                      **LEVELS)
    assert decoder.blocks[0][0].conv.weight.dtype == torch.float16
    assert decoder.blocks[0][0].norm.weight.dtype == torch.float32 and decoder.from_latent.weight.dtype == torch.float32
    with torch.no_grad():
        half = decoder.decode_features(latent)[0]
        grids = decoder(latent)
        decoder.convert_to_fp32()
        full = decoder.decode_features(latent)[0]
    assert half.feats.dtype == full.feats.dtype == torch.float32 and torch.equal(half.coords, full.coords)
    assert float((half.feats - full.feats).norm() / full.feats.norm()) < 2e-2
    assert len(grids) == 2 and grids[0].intersected.dtype == torch.bool and grids[1].voxel_size == 1 / 8


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        SparseVoxels(torch.zeros(3, 2), torch.zeros(3, 3, dtype=torch.int32))
    with pytest.raises(ValueError, match="block type"):
        SparseUnetVaeDecoder(4, [32, 16], 8, up_block_type=["SparseResBlockUpsample9d"], **LEVELS)
    with pytest.raises(ValueError, match="one entry per level"):
        SparseUnetVaeDecoder(4, [32], 8, up_block_type=["SparseResBlockC2S3d"], **LEVELS)
    decoder = SparseUnetVaeDecoder(4, [32, 16], 8, up_block_type=["SparseResBlockC2S3d"], **LEVELS)
    latent = SparseVoxels(torch.zeros(1, 8), torch.zeros(1, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match="pred_subdiv=False"):
        decoder.decode_features(latent, guide_subs=[torch.zeros(1, 8)])
    with pytest.raises(ValueError, match="same coords"):
        FlexiDualGridVaeEncoder([16, 32], 8, down_block_type=["SparseResBlockS2C3d"], **LEVELS)(
            latent.replace(torch.zeros(1, 3)), SparseVoxels(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.int32)))
