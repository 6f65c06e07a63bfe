"""Flows and sparse VAE decoders give the same outputs through the fused Triton kernels (layer norm + adaLN
modulation or SiLU, gated residual, QK RMS-norm + RoPE) as through the unfused torch expressions. Without a GPU the
kernels run in the Triton CPU interpreter."""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are decorated, i.e. at first import
pytest.importorskip("triton")

from sparsetensor import SparseTensor  # noqa: E402
from trellis2_models.loading import build_model  # noqa: E402
from trellis2_models.sc_vaes import FlexiDualGridVaeDecoder  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
ARGS = {"in_channels": 4, "out_channels": 4, "model_channels": 32, "cond_channels": 8, "num_blocks": 2,
        "num_heads": 2, "mlp_ratio": 2, "qk_rms_norm": True, "qk_rms_norm_cross": True}


def velocities(monkeypatch, backend: str, name: str, args: dict, inputs) -> torch.Tensor:
    monkeypatch.setenv("SPARSETENSOR_FUSED_BACKEND", backend)
    torch.manual_seed(0)
    model = build_model({"name": name, "args": args}, DEVICE).eval()
    with torch.no_grad():
        out = model(*inputs())
    return (out if isinstance(out, torch.Tensor) else out.feats).double().cpu()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize(("dtype", "tol"), [("float32", 1e-5), ("float16", 3e-3)])
@pytest.mark.parametrize("share_mod", [True, False])
def test_dense_flow_fused_equals_unfused(monkeypatch, dtype, tol, share_mod):
    args = {**ARGS, "resolution": 3, "dtype": dtype, "share_mod": share_mod}
    g = torch.Generator().manual_seed(1)
    x, cond = torch.randn(2, 4, 3, 3, 3, generator=g), torch.randn(2, 5, 8, generator=g)

    def inputs():
        return x.to(DEVICE), torch.tensor([250.0, 750.0], device=DEVICE), cond.to(DEVICE)

    fused = velocities(monkeypatch, "triton", "SparseStructureFlowModel", args, inputs)
    plain = velocities(monkeypatch, "torch", "SparseStructureFlowModel", args, inputs)
    assert relative_error(fused, plain) < tol


@pytest.mark.parametrize(("dtype", "tol"), [("float32", 1e-5), ("float16", 3e-3)])
def test_sparse_flow_fused_equals_unfused_on_an_unsorted_two_sample_batch(monkeypatch, dtype, tol):
    args = {**ARGS, "resolution": 8, "dtype": dtype, "share_mod": True}
    g = torch.Generator().manual_seed(2)
    cells = torch.randperm(512, generator=g)[:30]
    xyz = torch.stack([cells // 64, cells // 8 % 8, cells % 8], dim=1)
    batch = torch.tensor([0, 1] * 15)[:, None]  # interleaved samples: the packed layout must regroup them
    coords = torch.cat([batch, xyz], dim=1).int()
    feats, cond = torch.randn(30, 4, generator=g), torch.randn(2, 5, 8, generator=g)

    def inputs():
        voxels = SparseTensor(feats.to(DEVICE), coords.to(DEVICE))
        return voxels, torch.tensor([250.0, 750.0], device=DEVICE), cond.to(DEVICE)

    fused = velocities(monkeypatch, "triton", "SLatFlowModel", args, inputs)
    plain = velocities(monkeypatch, "torch", "SLatFlowModel", args, inputs)
    assert relative_error(fused, plain) < tol


@pytest.mark.parametrize("use_fp16", [False, True])
def test_decoder_fused_equals_unfused(monkeypatch, use_fp16):
    g = torch.Generator().manual_seed(3)
    coords = torch.cat([torch.zeros(20, 1), torch.randperm(64, generator=g)[:20, None].repeat(1, 3) % 4], 1).int()
    coords = torch.unique(coords, dim=0)
    feats = torch.randn(len(coords), 8, generator=g)
    levels = {"num_blocks": [1, 1], "block_type": ["SparseConvNeXtBlock3d"] * 2, "block_args": [{}, {}]}

    def decode(backend: str) -> tuple[torch.Tensor, torch.Tensor]:
        monkeypatch.setenv("SPARSETENSOR_FUSED_BACKEND", backend)
        monkeypatch.setenv("SPARSETENSOR_CONV_BACKEND", backend)  # includes conv1 fused with channel-to-spatial
        torch.manual_seed(0)
        decoder = FlexiDualGridVaeDecoder(8, [32, 16], 8, up_block_type=["SparseResBlockC2S3d"], use_fp16=use_fp16,
                                          **levels).to(DEVICE)
        with torch.no_grad():
            raw, logits = decoder.decode_features(SparseTensor(feats.to(DEVICE), coords.to(DEVICE)))
        return raw.feats.double().cpu(), logits[0].double().cpu()

    (fused, fused_logits), (plain, plain_logits) = decode("triton"), decode("torch")
    tol = 2e-3 if use_fp16 else 1e-5
    assert relative_error(fused_logits, plain_logits) < tol and fused.shape == plain.shape
    assert relative_error(fused, plain) < tol
