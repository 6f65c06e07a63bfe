"""Sparse VAE structure: encoder -> decoder shapes on tiny configs, mixed precision, sparse operators, errors."""

import pytest
import torch
from sparsetensor import SparseTensor
from sparsetensor.nn import SparseSpatial2Channel
from trellis2_models.sc_vaes import (
    FlexiDualGridVaeDecoder,
    FlexiDualGridVaeEncoder,
    SparseUnetVaeDecoder,
    SparseUnetVaeEncoder,
)

LEVELS = {"num_blocks": [1, 1], "block_type": ["SparseConvNeXtBlock3d"] * 2, "block_args": [{}, {}]}


def fine_voxels(resolution: int = 8, batch: int = 2, channels: int = 3) -> SparseTensor:
    """A random sparse shell-like set of voxels for `batch` items on a resolution^3 grid."""
    generator = torch.Generator().manual_seed(0)
    grid = torch.stack(torch.meshgrid(*[torch.arange(resolution)] * 3, indexing="ij"), -1).reshape(-1, 3)
    rows = []
    for b in range(batch):
        keep = grid[torch.rand(len(grid), generator=generator) < 0.3]
        rows.append(torch.cat([torch.full((len(keep), 1), b), keep], 1))
    coords = torch.cat(rows).int()
    return SparseTensor(torch.randn(len(coords), channels, generator=generator), coords)


@pytest.mark.parametrize(("down", "up"), [("SparseResBlockS2C3d", "SparseResBlockC2S3d"),
                                          ("SparseResBlockDownsample3d", "SparseResBlockUpsample3d")])
def test_unet_encode_decode_shapes_and_guided_texture(down: str, up: str):
    x = fine_voxels(channels=6)
    encoder = SparseUnetVaeEncoder(6, [16, 32], 8, down_block_type=[down], **LEVELS)
    latent, mean, logvar = encoder(x, return_raw=True)
    assert latent.feats.shape == (len(latent.coords), 8) and mean.shape == logvar.shape
    assert torch.equal(latent.coords, SparseSpatial2Channel(2)(x).coords)
    shape_decoder = SparseUnetVaeDecoder(4, [32, 16], 8, up_block_type=[up], **LEVELS)
    raw, logits = shape_decoder.decode_features(latent)
    assert raw.feats.shape[1] == 4 and len(logits) == 1 and logits[0].shape == (len(latent.coords), 8)
    assert len(raw.coords) == int((logits[0] > 0).sum())
    texture_decoder = SparseUnetVaeDecoder(6, [32, 16], 8, up_block_type=[up], pred_subdiv=False, **LEVELS)
    textured = texture_decoder(latent, guide_subs=[logits[0]])
    assert torch.equal(textured.coords, raw.coords) and textured.feats.shape[1] == 6


def test_dual_grid_encoder_decoder_and_mixed_precision():
    torch.manual_seed(0)
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
    assert half.feats.dtype == full.feats.dtype == torch.float32
    # a subdivision logit within fp16 rounding of 0 may flip a voxel: compare on the voxels both precisions keep
    extent = int(torch.cat([half.coords, full.coords]).max()) + 1
    keys = [((c[:, 0].long() * extent + c[:, 1]) * extent + c[:, 2]) * extent + c[:, 3] for c in (half.coords,
                                                                                                      full.coords)]
    common_half, common_full = torch.isin(keys[0], keys[1]), torch.isin(keys[1], keys[0])
    assert common_full.float().mean() > 0.98 and common_half.float().mean() > 0.98
    a, b = half.feats[common_half], full.feats[common_full]
    assert torch.equal(half.coords[common_half], full.coords[common_full])
    assert float((a - b).norm() / b.norm()) < 2e-2
    assert len(grids) == 2 and grids[0].intersected.dtype == torch.bool and grids[1].voxel_size == 1 / 8


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="block type"):
        SparseUnetVaeDecoder(4, [32, 16], 8, up_block_type=["SparseResBlockUpsample9d"], **LEVELS)
    with pytest.raises(ValueError, match="one entry per level"):
        SparseUnetVaeDecoder(4, [32], 8, up_block_type=["SparseResBlockC2S3d"], **LEVELS)
    decoder = SparseUnetVaeDecoder(4, [32, 16], 8, up_block_type=["SparseResBlockC2S3d"], **LEVELS)
    latent = SparseTensor(torch.zeros(1, 8), torch.zeros(1, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match="pred_subdiv=False"):
        decoder.decode_features(latent, guide_subs=[torch.zeros(1, 8)])
    with pytest.raises(TypeError, match="SparseTensor"):
        decoder(latent.feats)
    with pytest.raises(ValueError, match="same coords"):
        FlexiDualGridVaeEncoder([16, 32], 8, down_block_type=["SparseResBlockS2C3d"], **LEVELS)(
            latent.replace(torch.zeros(1, 3)), SparseTensor(torch.zeros(1, 3), torch.ones(1, 4, dtype=torch.int32)))


def test_gradient_checkpointing_gives_identical_gradients():
    latent = fine_voxels(resolution=4, batch=1, channels=8)

    def gradients(use_checkpoint: bool) -> list[torch.Tensor]:
        torch.manual_seed(3)
        args = {**LEVELS, "block_args": [{"use_checkpoint": use_checkpoint}] * 2}
        decoder = SparseUnetVaeDecoder(4, [32, 16], 8, up_block_type=["SparseResBlockC2S3d"], **args)
        raw, logits = decoder.decode_features(latent)
        (raw.feats.square().mean() + logits[0].mean()).backward()
        return [p.grad for p in decoder.parameters()]

    for plain, recomputed in zip(gradients(False), gradients(True), strict=True):
        torch.testing.assert_close(plain, recomputed)
