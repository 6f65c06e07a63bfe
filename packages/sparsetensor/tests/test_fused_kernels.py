"""Fused layer norm / modulation / gated residual / RMS-norm + RoPE: the Triton kernels (run by the Triton CPU
interpreter when there is no GPU) against the unfused torch expressions they replace."""

import os

import pytest
import torch
import torch.nn.functional as F

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are decorated, i.e. at first import
pytest.importorskip("triton")

from sparsetensor.ops.fused_norm import gated_residual, layer_norm, layer_norm_reference  # noqa: E402
from sparsetensor.ops.fused_norm_triton import gated_residual_triton, layer_norm_triton  # noqa: E402
from sparsetensor.ops.fused_rope import rms_norm_rope, rms_norm_rope_reference, rotate_pairs  # noqa: E402
from sparsetensor.ops.fused_rope_triton import rms_norm_rope_triton  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
ULP = {torch.float32: 2.0**-23, torch.bfloat16: 2.0**-7, torch.float16: 2.0**-10}


def assert_rounds_like(got: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> None:
    """Within two units in the last place (half precision), and for half precision bit-identical almost everywhere:
    rounding happens where the reference rounds (a kernel keeping float32 between steps differs in many elements).
    The Triton interpreter truncates instead of rounding when converting to bfloat16: that check needs a GPU there."""
    tol = 1e-5 if dtype == torch.float32 else 2 * ULP[dtype]  # float32: reduction order differs in the last bits
    truncating = dtype == torch.bfloat16 and DEVICE.type != "cuda"
    atol = ULP[dtype] * ref.abs().max().item() if truncating else tol
    torch.testing.assert_close(got.double(), ref.double(), rtol=tol, atol=atol)
    if dtype == torch.float16 or (dtype == torch.bfloat16 and DEVICE.type == "cuda"):
        assert (got == ref).double().mean() > 0.99


def rand(*shape, dtype, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(DEVICE, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mode", ["plain", "affine_silu", "one_sample", "dense_batch", "packed_batch"])
def test_layer_norm_kernel_matches_unfused(dtype, mode):
    rows, cols = 37, 48
    x = rand(rows, cols, dtype=dtype, seed=1, scale=3.0) + 0.5
    weight = bias = shift = scale = index = per_sample = None
    activation = None
    if mode == "affine_silu":
        weight, bias = rand(cols, dtype=torch.float32, seed=2), rand(cols, dtype=torch.float32, seed=3)
        activation = "silu"
    if mode in ("one_sample", "dense_batch", "packed_batch"):
        samples = {"one_sample": 1, "dense_batch": 1, "packed_batch": 3}[mode]
        if mode == "dense_batch":
            x, samples, per_sample = rand(36, cols, dtype=dtype, seed=1), 4, 9
        shift = rand(samples, 6 * cols, dtype=dtype, seed=4)[:, :cols]  # strided chunks, as the adaLN output
        scale = rand(samples, 6 * cols, dtype=dtype, seed=5)[:, cols:2 * cols]
        if mode == "packed_batch":
            index = torch.randint(0, samples, (rows,), generator=torch.Generator().manual_seed(6)).to(DEVICE)
    args = (x, weight, bias, 1e-6, shift, scale, index, per_sample, activation, dtype)
    got = layer_norm_triton(*args)
    ref = layer_norm_reference(*args)
    assert_rounds_like(got, ref, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("samples", [1, 2])
def test_gated_residual_kernel_matches_unfused(dtype, samples):
    rows, cols = 29, 40
    x, y = rand(rows, cols, dtype=dtype, seed=1), rand(rows, cols, dtype=dtype, seed=2)
    gate = rand(samples, 3 * cols, dtype=dtype, seed=3)[:, cols:2 * cols]
    index = torch.arange(rows, device=DEVICE) % samples
    got = gated_residual_triton(x, y, gate, index if samples > 1 else None, None)
    ref = x + y * gate[index]
    assert_rounds_like(got, ref, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("layout", ["packed", "dense"])
@pytest.mark.parametrize("parts", ["norm_rope", "norm", "rope"])
def test_rms_norm_rope_kernel_matches_unfused(dtype, layout, parts):
    heads, head_dim, length = 3, 16, 11
    lead = (length,) if layout == "packed" else (2, length)
    qkv = rand(*lead, 3, heads, head_dim, dtype=dtype, seed=1, scale=2.0)
    q = qkv.unbind(-3)[0]  # strided, as a slice of a fused projection
    gamma = rand(heads, head_dim, dtype=torch.float32, seed=2) if "norm" in parts else None
    angles = rand(length, 1, head_dim // 2, dtype=torch.float32, seed=3)
    rotation = (torch.cos(angles), torch.sin(angles)) if "rope" in parts else None
    got = rms_norm_rope_triton(q, gamma, head_dim**0.5, rotation)
    ref = rms_norm_rope_reference(q, gamma, head_dim**0.5, rotation)
    assert got.is_contiguous() and got.shape == q.shape
    assert_rounds_like(got, ref, dtype)


def test_reference_matches_the_textbook_formulas():
    x = torch.randn(5, 8, dtype=torch.float64)
    shift, scale = torch.randn(1, 8, dtype=torch.float64), torch.randn(1, 8, dtype=torch.float64)
    got = layer_norm(x, eps=1e-6, shift=shift, scale=scale, activation="silu")
    normed = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-6)
    torch.testing.assert_close(got, F.silu(normed * (1 + scale) + shift), rtol=1e-5, atol=1e-5)  # norm in float32
    heads = torch.randn(4, 2, 6, dtype=torch.float64)
    angle = torch.randn(4, 1, 3, dtype=torch.float64)
    rotated = rms_norm_rope(heads, torch.ones(2, 6, dtype=torch.float64), 1.0, (angle.cos(), angle.sin()))
    as_complex = torch.view_as_complex((heads / heads.norm(dim=-1, keepdim=True)).unflatten(-1, (3, 2)).contiguous())
    expected = torch.view_as_real(as_complex * torch.polar(torch.ones_like(angle), angle)).flatten(-2)
    torch.testing.assert_close(rotated, expected)
    torch.testing.assert_close(rotate_pairs(heads, (angle.cos(), angle.sin())).norm(dim=-1), heads.norm(dim=-1))


def test_float32_output_from_half_input_skips_the_rounding():
    x = rand(9, 24, dtype=torch.float16, seed=3, scale=4.0)
    weight = rand(24, dtype=torch.float32, seed=4)
    got = layer_norm_triton(x, weight, None, 1e-6, None, None, None, None, None, torch.float32)
    expected = F.layer_norm(x.float(), (24,), weight, None, 1e-6)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert layer_norm(x.cpu(), weight.cpu(), eps=1e-6, out_dtype=torch.float32).dtype == torch.float32


def test_bad_inputs_are_named():
    x = torch.randn(6, 4)
    with pytest.raises(ValueError, match="rows"):
        layer_norm(x[None])
    with pytest.raises(ValueError, match="activation"):
        layer_norm(x, activation="relu")
    with pytest.raises(ValueError, match="shift must be"):
        layer_norm(x, shift=torch.randn(1, 5))
    with pytest.raises(ValueError, match="need sample_index or rows_per_sample"):
        layer_norm(x, scale=torch.randn(2, 4))
    with pytest.raises(ValueError, match="do not make"):
        gated_residual(x, x, torch.randn(4, 4), rows_per_sample=2)
    with pytest.raises(ValueError, match="gamma must be"):
        rms_norm_rope(torch.randn(3, 2, 4), torch.ones(2, 3), 1.0)


def test_public_functions_dispatch_to_triton_when_asked(monkeypatch):
    monkeypatch.setenv("SPARSETENSOR_FUSED_BACKEND", "triton")
    x = rand(10, 32, dtype=torch.bfloat16, seed=1)
    gate = rand(1, 32, dtype=torch.bfloat16, seed=2)
    torch.testing.assert_close(layer_norm(x, eps=1e-6, shift=gate, scale=gate), layer_norm_triton(
        x, None, None, 1e-6, gate, gate, None, None, None, x.dtype), rtol=0, atol=0)
    torch.testing.assert_close(gated_residual(x, x, gate), gated_residual_triton(x, x, gate, None, None), rtol=0,
                               atol=0)
