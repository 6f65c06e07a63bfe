"""Sparse-structure VAE: decoder parity with upstream and encoder/decoder shape and precision behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import trellis2_models
from safetensors.torch import load_file
from trellis2_models.ss_vae import SparseStructureDecoder, SparseStructureEncoder, pixel_shuffle_3d

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
PARITY = SHARED / "parity"


def _rel_l2(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double() - ref.double()).norm() / ref.double().norm())


_NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize(
    ("device", "dtype", "tolerance"),
    [
        pytest.param("cpu", torch.float32, 1e-4, id="cpu-fp32"),
        pytest.param("cpu", torch.float16, 2e-2, id="cpu-fp16"),
        pytest.param("cuda", torch.float32, 1e-4, id="cuda-fp32", marks=_NO_CUDA),
        pytest.param("cuda", torch.float16, 2e-2, id="cuda-fp16", marks=_NO_CUDA),
    ],
)
def test_ss_decoder_matches_upstream(device, dtype, tolerance, monkeypatch):
    if not PARITY.is_dir():
        pytest.skip(f"parity vectors not found at {PARITY} (../shared beside the repository)")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # true float32 convolutions on GPU
    model = trellis2_models.from_pretrained(str(PARITY / "ss_dec"), device=device, dtype=dtype)
    io = load_file(PARITY / "ss_dec.io.safetensors", device=device)
    with torch.no_grad():
        out = model(io["z"])
    assert out.shape == io["out"].shape == (2, 1, 16, 16, 16)
    assert _rel_l2(out, io["out"]) <= tolerance


def test_pixel_shuffle_places_channel_block_into_space():
    x = torch.arange(2 * 8 * 2 * 3 * 4, dtype=torch.float32).reshape(2, 8, 2, 3, 4)
    out = pixel_shuffle_3d(x, 2)
    assert out.shape == (2, 1, 4, 6, 8)
    # sub-voxel (i, j, k) of cell (d, h, w) comes from channel i*4 + j*2 + k
    assert out[1, 0, 2 * 1 + 1, 2 * 2 + 0, 2 * 3 + 1] == x[1, 4 + 0 + 1, 1, 2, 3]


def test_encoder_downsamples_to_latent_and_decoder_upsamples_back():
    torch.manual_seed(0)
    encoder = SparseStructureEncoder(1, 4, num_res_blocks=1, channels=[8, 16, 32], num_res_blocks_middle=1)
    decoder = SparseStructureDecoder(1, 4, num_res_blocks=1, channels=[32, 16, 8], num_res_blocks_middle=1)
    grid = (torch.rand(2, 1, 16, 16, 16) > 0.5).float()
    with torch.no_grad():
        z, mean, logvar = encoder(grid, return_raw=True)
        assert z.shape == mean.shape == logvar.shape == (2, 4, 4, 4, 4)
        assert torch.equal(z, mean)
        assert not torch.equal(encoder(grid, sample_posterior=True), mean)
        assert decoder(z).shape == (2, 1, 16, 16, 16)


def test_fp16_torso_and_float32_override():
    decoder = SparseStructureDecoder(1, 4, num_res_blocks=1, channels=[32, 16], use_fp16=True)
    assert decoder.blocks[0].conv1.weight.dtype == torch.float16
    assert decoder.middle_block[0].conv2.weight.dtype == torch.float16
    assert decoder.input_layer.weight.dtype == decoder.out_layer[2].weight.dtype == torch.float32
    assert decoder.blocks[0].norm1.weight.dtype == torch.float32
    decoder.to_fp32()
    assert {p.dtype for p in decoder.parameters()} == {torch.float32}


def test_decoder_rejects_wrong_latent_channels():
    decoder = SparseStructureDecoder(1, 4, num_res_blocks=1, channels=[32, 16])
    with pytest.raises(ValueError, match=r"latent must be \[B, 4"):
        decoder(torch.zeros(1, 3, 4, 4, 4))


def test_unknown_norm_type_is_a_clear_error():
    with pytest.raises(ValueError, match="norm_type"):
        SparseStructureDecoder(1, 4, num_res_blocks=1, channels=[32, 16], norm_type="batch")
