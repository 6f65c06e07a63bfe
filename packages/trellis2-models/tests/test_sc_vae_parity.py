"""Sparse VAE decoders reproduce upstream's golden outputs (tiny random configs, CPU float32)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sparsetensor import SparseTensor
from trellis2_models import from_pretrained
from trellis2_models.sc_vaes import DualGrid, FlexiDualGridVaeDecoder, SparseUnetVaeDecoder

PARITY = Path(__file__).resolve().parents[3] / ".." / "shared" / "parity"
TOLERANCE = 1e-4


# A mark (not a fixture) so the module-scoped fixtures below are never set up without the data.
pytestmark = pytest.mark.skipif(
    not (PARITY / "shape_dec.json").is_file(),
    reason=f"parity data not found at {PARITY} (../shared beside the repository)",
)


def sorted_rows(coords: torch.Tensor, feats: torch.Tensor | None = None):
    """Rows ordered by (batch, x, y, z) so sparse outputs in any voxel order compare."""
    order = torch.from_numpy(np.lexsort(coords.long().numpy().T[::-1]))
    return coords[order].int(), (None if feats is None else feats[order])


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours.float() - reference).norm() / reference.norm())


def assert_sparse_close(coords, feats, ref_coords, ref_feats):
    coords, feats = sorted_rows(coords, feats)
    ref_coords, ref_feats = sorted_rows(ref_coords, ref_feats)
    assert torch.equal(coords, ref_coords), "coordinate sets differ"
    error = relative_error(feats, ref_feats)
    assert error <= TOLERANCE, f"relative L2 error {error:.2e} > {TOLERANCE}"


@pytest.fixture(scope="module")
def shape_case():
    model = from_pretrained(str(PARITY / "shape_dec"), dtype=torch.float32)
    io = load_file(PARITY / "shape_dec.io.safetensors")
    return model, io, SparseTensor(io["feats"], io["coords"])


def test_shape_decoder_raw_output_and_subdivisions(shape_case):
    model, io, latent = shape_case
    assert isinstance(model, FlexiDualGridVaeDecoder)
    with torch.no_grad():
        raw, logits = model.decode_features(latent)
    assert_sparse_close(raw.coords, raw.feats, io["out_coords"], io["out_feats"])
    assert len(logits) == 2
    level_coords = [latent.coords, model.upsample(latent, 1)]
    for k, (coords, level_logits) in enumerate(zip(level_coords, logits, strict=True)):
        assert_sparse_close(coords, level_logits, io[f"sub{k}_coords"], io[f"sub{k}_logits"])


def test_shape_decoder_upsample_coords(shape_case):
    model, io, latent = shape_case
    with torch.no_grad():
        coords = model.upsample(latent, 1)
    assert torch.equal(sorted_rows(coords)[0], sorted_rows(io["upsample1_coords"])[0])
    assert torch.equal(model.upsample(latent, 0), latent.coords)
    with pytest.raises(ValueError, match="upsample_times"):
        model.upsample(latent, 3)


def test_shape_decoder_forward_gives_dual_grids(shape_case):
    model, io, latent = shape_case
    with torch.no_grad():
        grids = model(latent)
    assert len(grids) == int(io["coords"][:, 0].max()) + 1 and all(isinstance(g, DualGrid) for g in grids)
    coords, raw = sorted_rows(io["out_coords"], io["out_feats"])
    first = grids[0]
    mine, offsets = sorted_rows(torch.cat([torch.zeros_like(first.coords[:, :1]), first.coords], 1), first.offsets)
    in_first = coords[:, 0] == 0
    assert torch.equal(mine[:, 1:], coords[in_first, 1:]) and first.resolution == 32
    expected = 2 * torch.sigmoid(raw[in_first, :3]) - 0.5
    torch.testing.assert_close(offsets, expected, rtol=1e-4, atol=1e-5)
    assert offsets.min() >= -0.5 and offsets.max() <= 1.5 and (first.split_weights > 0).all()


def test_texture_decoder_guided_by_shape_subdivisions():
    model = from_pretrained(str(PARITY / "tex_dec"), dtype=torch.float32)
    assert isinstance(model, SparseUnetVaeDecoder) and not model.pred_subdiv
    io = load_file(PARITY / "tex_dec.io.safetensors")
    latent = SparseTensor(io["feats"], io["coords"])
    with torch.no_grad():
        out = model(latent, guide_subs=[io["sub0_logits"], io["sub1_logits"]])
    assert_sparse_close(out.coords, out.feats, io["out_coords"], io["out_feats"])
    with pytest.raises(ValueError, match="guide"):
        model(latent)
    with pytest.raises(ValueError, match="upsample"):
        model.upsample(latent, 1)
