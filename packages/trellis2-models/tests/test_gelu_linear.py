"""The MLP's linear + tanh GELU: the fused cuBLASLt path only where it computes the same function."""

import pytest
import torch
from torch import nn
from trellis2_models.flows import gelu_linear
from trellis2_models.flows.block import FeedForward

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="the fused epilogue is a CUDA path")


def test_cpu_feed_forward_is_linear_tanh_gelu_linear():
    torch.manual_seed(0)
    mlp = FeedForward(16, 2.0)
    x = torch.randn(3, 5, 16)
    expand, _, project = mlp.mlp
    expected = project(torch.nn.functional.gelu(expand(x), approximate="tanh"))
    torch.testing.assert_close(mlp(x), expected, rtol=0, atol=0)
    assert not gelu_linear.fused_applies(x, expand)  # CPU: the plain path


@pytest.mark.parametrize("form, accepted", [("tanh", True), ("none", False)])
def test_probe_accepts_only_an_epilogue_computing_the_tanh_form(monkeypatch, form, accepted):
    def epilogue(bias, x, weight, use_gelu):
        return torch.nn.functional.gelu(torch.addmm(bias, x, weight), approximate=form)

    monkeypatch.setattr(torch, "_addmm_activation", epilogue)
    assert gelu_linear._probe_epilogue(torch.device("cpu")) is accepted


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_fused_path_matches_the_unfused_mlp(dtype):
    torch.manual_seed(0)
    linear = nn.Linear(1536, 8192).cuda().to(dtype)
    x = torch.randn(4096, 1536, device="cuda", dtype=dtype)
    with torch.inference_mode():
        assert gelu_linear.fused_applies(x, linear), "the H200's cuBLASLt epilogue should be the tanh form"
        fused = gelu_linear.linear_gelu_tanh(x, linear).float()
        plain = torch.nn.functional.gelu(linear(x).float(), approximate="tanh")
    # one bf16/fp16 rounding of the GELU output (fused) against two (GEMM output, then GELU)
    torch.testing.assert_close(fused, plain, rtol=2e-2, atol=2e-2)
    assert (fused - plain).abs().mean() < 2e-3
