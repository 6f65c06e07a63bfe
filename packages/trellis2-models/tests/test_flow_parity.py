"""Flow transformers reproduce upstream golden outputs (../shared/parity) when loaded through from_pretrained."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import trellis2_models
from safetensors.torch import load_file

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
PARITY = SHARED / "parity"
TOLERANCE = 1e-4  # relative L2, float32 on CPU (parity/README.md)
LOW_PRECISION_TOLERANCE = 2e-2  # bf16/fp16 torso: parity/README.md expects ~1e-2
_NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
# (device, torso dtype, tolerance): CPU always; CUDA rows run on a machine with a GPU.
PRECISIONS = [
    pytest.param("cpu", torch.float32, TOLERANCE, id="cpu-fp32"),
    pytest.param("cpu", torch.bfloat16, LOW_PRECISION_TOLERANCE, id="cpu-bf16"),
    pytest.param("cuda", torch.float32, TOLERANCE, id="cuda-fp32", marks=_NO_CUDA),
    pytest.param("cuda", torch.bfloat16, LOW_PRECISION_TOLERANCE, id="cuda-bf16", marks=_NO_CUDA),
    pytest.param("cuda", torch.float16, LOW_PRECISION_TOLERANCE, id="cuda-fp16", marks=_NO_CUDA),
]

try:
    from sparsetensor import SparseTensor
except ImportError:  # the sparse core may not provide it yet; the flows only need feats/coords/replace
    SparseTensor = None


@dataclass
class _Voxels:
    """Minimal stand-in with the sparse-tensor interface the flows use (feats, coords, replace)."""

    feats: torch.Tensor
    coords: torch.Tensor

    def replace(self, feats: torch.Tensor) -> _Voxels:
        return _Voxels(feats, self.coords)


def _sparse(feats: torch.Tensor, coords: torch.Tensor):
    return SparseTensor(feats, coords) if SparseTensor is not None else _Voxels(feats, coords)


def _rel_l2(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double() - ref.double()).norm() / ref.double().norm())


@pytest.fixture(autouse=True)
def _require_parity():
    if not PARITY.is_dir():
        pytest.skip(f"parity vectors not found at {PARITY} (../shared beside the repository)")


def _load(case: str, device: str = "cpu", dtype: torch.dtype | None = None):
    model = trellis2_models.from_pretrained(str(PARITY / case), device=device, dtype=dtype)
    return model, load_file(PARITY / f"{case}.io.safetensors", device=device)


@pytest.mark.parametrize(("device", "dtype", "tolerance"), PRECISIONS)
def test_ss_flow_matches_upstream(device, dtype, tolerance):
    model, io = _load("ss_flow", device, dtype)
    with torch.no_grad():
        out = model(io["x"], io["t"], io["cond"])
    assert out.shape == io["out"].shape and out.dtype == torch.float32
    assert _rel_l2(out, io["out"]) <= tolerance


@pytest.mark.parametrize(("device", "dtype", "tolerance"), PRECISIONS)
@pytest.mark.parametrize("case", ["shape_flow", "tex_flow"])
def test_slat_flow_matches_upstream(case, device, dtype, tolerance):
    model, io = _load(case, device, dtype)
    concat = _sparse(io["concat_feats"], io["coords"]) if "concat_feats" in io else None
    with torch.no_grad():
        out = model(_sparse(io["feats"], io["coords"]), io["t"], io["cond"], concat_cond=concat)
    assert torch.equal(out.coords, io["out_coords"])
    assert _rel_l2(out.feats, io["out_feats"]) <= tolerance


def test_slat_flow_is_independent_of_voxel_order():
    model, io = _load("shape_flow")
    order = torch.randperm(io["coords"].shape[0], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(_sparse(io["feats"][order], io["coords"][order]), io["t"], io["cond"])
    assert _rel_l2(out.feats, io["out_feats"][order]) <= TOLERANCE


def test_slat_flow_accepts_variable_length_condition_list():
    model, io = _load("shape_flow")
    cond_list = [c for c in io["cond"]]
    with torch.no_grad():
        out = model(_sparse(io["feats"], io["coords"]), io["t"], cond_list)
    assert _rel_l2(out.feats, io["out_feats"]) <= TOLERANCE


def test_bf16_override_changes_only_the_torso_and_to_fp32_undoes_it():
    model, _ = _load("ss_flow", dtype=torch.bfloat16)
    assert model.blocks[0].mlp.mlp[0].weight.dtype == torch.bfloat16
    assert model.blocks[0].self_attn.q_rms_norm.gamma.dtype == torch.float32
    assert model.t_embedder.mlp[0].weight.dtype == model.out_layer.weight.dtype == torch.float32
    model.to_fp32()
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_ss_flow_rejects_wrong_grid_shape():
    model, io = _load("ss_flow")
    with pytest.raises(ValueError, match="x must have shape"):
        model(io["x"][:, :, :2], io["t"], io["cond"])


def test_slat_flow_rejects_wrong_channel_count_and_mismatched_concat():
    model, io = _load("tex_flow")
    x = _sparse(io["feats"], io["coords"])
    with pytest.raises(ValueError, match=r"\[N, 64\]"):
        model(x, io["t"], io["cond"])
    short = _sparse(io["concat_feats"][:-1], io["coords"][:-1])
    with pytest.raises(ValueError, match="share coordinates"):
        model(x, io["t"], io["cond"], concat_cond=short)


def test_batch_size_mismatches_are_clear_errors():
    model, io = _load("ss_flow")
    with pytest.raises(ValueError, match="one time per sample"):
        model(io["x"], io["t"][:1], io["cond"])
    with pytest.raises(ValueError, match="cond holds 1 samples but t holds 2"):
        model(io["x"], io["t"], io["cond"][:1])
    slat, sio = _load("shape_flow")
    with pytest.raises(ValueError, match=r"each cond in a list must be \[L_b, 40\]"):
        slat(_sparse(sio["feats"], sio["coords"]), sio["t"], [c[:, :3] for c in sio["cond"]])
    coords = sio["coords"].clone()
    coords[0, 0] = 2
    with pytest.raises(ValueError, match="refer to sample 2 but only 2 samples"):
        slat(_sparse(sio["feats"], coords), sio["t"], sio["cond"])


def test_attention_kernels_always_get_4d_inputs(monkeypatch):
    """torch's fused attention kernels need [B, H, L, D]; 3-D inputs would fall back to the O(L^2)-memory path."""
    from trellis2_models.flows import tokens

    seen = []
    original = tokens.F.scaled_dot_product_attention

    def recording(q, k, v, *args, **kwargs):
        seen.append((q.ndim, k.ndim, v.ndim))
        return original(q, k, v, *args, **kwargs)

    monkeypatch.setattr(tokens.F, "scaled_dot_product_attention", recording)
    model, io = _load("shape_flow")
    with torch.no_grad():
        out = model(_sparse(io["feats"], io["coords"]), io["t"], [c for c in io["cond"]])
    assert _rel_l2(out.feats, io["out_feats"]) <= TOLERANCE
    assert seen and set(seen) == {(4, 4, 4)}


def test_single_sample_batch_matches_its_slice_of_the_pair():
    model, io = _load("shape_flow")
    first = io["coords"][:, 0] == 0
    with torch.no_grad():
        out = model(_sparse(io["feats"][first], io["coords"][first]), io["t"][:1], io["cond"][:1])
    assert _rel_l2(out.feats, io["out_feats"][first]) <= TOLERANCE
