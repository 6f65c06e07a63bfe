"""Every GPU path against the CPU path on the same inputs (runs only where CUDA is available, e.g. the lent GPU)."""

import pytest
import torch
from helpers import random_sparse
from sparsetensor import VarLenTensor
from sparsetensor.ops import (
    build_neighbor_map,
    encode_seq,
    sample_sparse_volume,
    scaled_dot_product_attention,
    submanifold_conv3d,
)
from sparsetensor.ops.conv import submanifold_conv3d_reference

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("dilation", [1, 2])
def test_neighbor_map_cuda_equals_cpu(kernel_size, dilation):
    x = random_sparse([3000, 0, 1500], 40, 1, seed=kernel_size + dilation, offset=900)
    cpu = build_neighbor_map(x.coords, kernel_size, dilation)
    gpu = build_neighbor_map(x.coords.to(CUDA), kernel_size, dilation)
    assert torch.equal(gpu.cpu(), cpu)


@pytest.mark.parametrize(
    ("dtype", "c_in", "c_out", "tol"),
    [
        (torch.float32, 3, 5, 1e-4),
        (torch.float32, 70, 20, 1e-4),
        (torch.float16, 64, 64, 2e-2),
        (torch.bfloat16, 257, 129, 3e-2),
        (torch.float16, 1024, 1024, 2e-2),
    ],
)
def test_triton_conv_cuda_matches_reference(dtype, c_in, c_out, tol):
    x = random_sparse([2500, 1, 0, 800], 24, c_in, seed=c_in)
    nmap = build_neighbor_map(x.coords, 3)
    g = torch.Generator().manual_seed(c_out)
    w = torch.randn(c_out, 3, 3, 3, c_in, generator=g, dtype=torch.float64) / (27 * c_in) ** 0.5
    b = torch.randn(c_out, generator=g, dtype=torch.float64)
    reference = submanifold_conv3d_reference(x.feats, nmap, w, b)
    got = submanifold_conv3d(x.feats.to(CUDA, dtype), x.coords.to(CUDA), w.to(CUDA, dtype), b.to(CUDA, dtype))
    assert got.dtype == dtype and got.device.type == "cuda"
    error = (got.double().cpu() - reference).norm() / reference.norm()
    assert error < tol, f"relative L2 error {error:.2e}"


def test_conv_cuda_dilated_and_empty():
    x = random_sparse([900], 16, 8, seed=3)
    w = torch.randn(4, 3, 3, 3, 8, dtype=torch.float64)
    reference = submanifold_conv3d(x.feats, x.coords, w, dilation=2)
    got = submanifold_conv3d(x.feats.float().to(CUDA), x.coords.to(CUDA), w.float().to(CUDA), dilation=2)
    torch.testing.assert_close(got.double().cpu(), reference, rtol=1e-4, atol=1e-4)
    empty = submanifold_conv3d(x.feats[:0].float().to(CUDA), x.coords[:0].to(CUDA), w.float().to(CUDA))
    assert empty.shape == (0, 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_varlen_attention_cuda_matches_cpu(dtype):
    g = torch.Generator().manual_seed(0)
    lengths = [1, 300, 77, 1024]
    ends = torch.tensor(lengths).cumsum(0).tolist()
    layout = [slice(end - length, end) for length, end in zip(lengths, ends, strict=True)]
    qkv = torch.randn(sum(lengths), 3, 4, 64, generator=g)
    cpu = scaled_dot_product_attention(VarLenTensor(qkv, layout))
    gpu = scaled_dot_product_attention(VarLenTensor(qkv.to(CUDA, dtype), layout))
    torch.testing.assert_close(gpu.feats.float().cpu(), cpu.feats, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("mode", ["trilinear", "nearest"])
def test_sample_sparse_volume_cuda_matches_cpu(mode):
    x = random_sparse([4000], 20, 6, seed=5)
    points = torch.rand(1, 5000, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 20
    cpu = sample_sparse_volume(x.coords, x.feats, points, mode=mode)
    gpu = sample_sparse_volume(x.coords.to(CUDA), x.feats.to(CUDA), points.to(CUDA), mode=mode)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", ["z_order", "hilbert"])
def test_serialization_cuda_equals_cpu(mode):
    coords = torch.randint(0, 1024, (20000, 3), generator=torch.Generator().manual_seed(4)).int()
    assert torch.equal(encode_seq(coords.to(CUDA), (1, 0, 2), mode).cpu(), encode_seq(coords, (1, 0, 2), mode))
