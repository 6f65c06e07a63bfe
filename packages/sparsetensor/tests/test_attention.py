import pytest
import torch
from sparsetensor import SparseTensor, VarLenTensor
from sparsetensor.ops import attention as attention_module
from sparsetensor.ops import attention_backend, scaled_dot_product_attention


def naive(q, k, v):
    """softmax(q k^T / sqrt(d)) v for one sequence [L, H, D]."""
    s = torch.einsum("ihd,jhd->hij", q, k) / q.shape[-1] ** 0.5
    return torch.einsum("hij,jhd->ihd", torch.softmax(s, -1), v)


def seqs(lengths, heads=2, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, heads, dim, generator=g, dtype=torch.float64) for n in lengths]


def test_self_attention_packed_qkv_with_empty_item():
    q, k, v = seqs([3, 0, 5], seed=1), seqs([3, 0, 5], seed=2), seqs([3, 0, 5], seed=3)
    qkv = VarLenTensor.from_tensor_list([torch.stack(t, 1) for t in zip(q, k, v, strict=True)])
    out = scaled_dot_product_attention(qkv)
    assert isinstance(out, VarLenTensor) and out.seqlen.tolist() == [3, 0, 5]
    for got, a, b, c in zip(out.to_tensor_list(), q, k, v, strict=True):
        if a.shape[0]:
            torch.testing.assert_close(got, naive(a, b, c))


def test_cross_attention_varlen_query_dense_kv():
    q = seqs([2, 6], seed=4)
    kv = torch.randn(2, 7, 2, 2, 4, dtype=torch.float64)
    out = scaled_dot_product_attention(VarLenTensor.from_tensor_list(q), kv)
    for b, got in enumerate(out.to_tensor_list()):
        torch.testing.assert_close(got, naive(q[b], kv[b, :, 0], kv[b, :, 1]))


def test_dense_q_k_v_and_backend_env(monkeypatch):
    q, k, v = (torch.randn(2, 5, 3, 8) for _ in range(3))
    ref = torch.stack([naive(q[b], k[b], v[b]) for b in range(2)])
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v), ref, atol=1e-5, rtol=1e-5)
    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", "sdpa")
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v), ref, atol=1e-5, rtol=1e-5)
    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", "bogus")
    with pytest.raises(ValueError, match="SPARSETENSOR_ATTN_BACKEND"):
        scaled_dot_product_attention(q, k, v)


def test_bad_arguments():
    with pytest.raises(TypeError, match="1, 2 or 3"):
        scaled_dot_product_attention()
    with pytest.raises(ValueError, match="batch sizes differ"):
        scaled_dot_product_attention(torch.randn(2, 3, 1, 4), torch.randn(1, 3, 2, 1, 4))


def test_sparse_tensor_qkv_keeps_coords():
    coords = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [1, 5, 5, 5]], dtype=torch.int32)
    qkv = SparseTensor(torch.randn(3, 3, 2, 4, dtype=torch.float64), coords)
    out = scaled_dot_product_attention(qkv)
    assert isinstance(out, SparseTensor) and out.coords is coords
    f = qkv.feats[:2]
    torch.testing.assert_close(out.feats[:2], naive(f[:, 0], f[:, 1], f[:, 2]))
    torch.testing.assert_close(out.feats[2], qkv.feats[2, 2])


@pytest.mark.parametrize("hopper", [True, False])
@pytest.mark.parametrize("flash_attn_installed", [True, False])
def test_auto_backend_choice_on_cuda(monkeypatch, hopper, flash_attn_installed):
    monkeypatch.delenv("SPARSETENSOR_ATTN_BACKEND", raising=False)
    monkeypatch.setattr(attention_module, "_capability", lambda device: (9, 0) if hopper else (8, 0))
    monkeypatch.setattr(attention_module, "_flash_attn_installed", lambda: flash_attn_installed)
    cuda, half = torch.device("cuda"), torch.float16
    one_launch = "flash_attn" if flash_attn_installed else "varlen"
    few_long = "cudnn" if hopper else one_launch
    assert attention_backend(cuda, half, 64, [4096]) == few_long
    assert attention_backend(cuda, half, 64, [300]) == few_long  # one sequence: one launch either way
    assert attention_backend(cuda, half, 64, [2340, 1756]) == few_long
    assert attention_backend(cuda, torch.bfloat16, 128, [2048] * 8) == few_long
    assert attention_backend(cuda, half, 64, [2048] * 9) == one_launch  # many sequences: one launch
    assert attention_backend(cuda, half, 64, [1638, 1228, 819, 411]) == one_launch  # 4 x 1k: varlen won on H200
    assert attention_backend(cuda, half, 64, [4000, 100]) == few_long  # the mean length decides
    assert attention_backend(cuda, half, 64, [1200, 800]) == one_launch  # short sequences: one launch
    assert attention_backend(cuda, torch.float32, 64, [4096]) == "sdpa"  # no fp32 flash/varlen kernels
    assert attention_backend(cuda, half, 74, [4096]) == "sdpa"  # head dim not a multiple of 8
    monkeypatch.setattr(attention_module, "_capability", lambda device: (7, 5))
    assert attention_backend(cuda, half, 64, [1000] * 4) == ("flash_attn" if flash_attn_installed else "sdpa")
    assert attention_backend(torch.device("cpu"), half, 64, [4096]) == "math"
    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", "varlen")
    assert attention_backend(torch.device("cpu"), half, 64, [4096]) == "varlen"


def test_cudnn_backend_name_runs_sdpa_per_sequence_on_cpu(monkeypatch):
    q, k, v = seqs([5, 0, 7], seed=5), seqs([5, 0, 7], seed=6), seqs([5, 0, 7], seed=7)
    qkv = VarLenTensor.from_tensor_list([torch.stack(t, 1) for t in zip(q, k, v, strict=True)])
    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", "cudnn")
    out = scaled_dot_product_attention(qkv).to_tensor_list()
    assert out[1].shape == (0, 2, 4)
    for i in (0, 2):
        torch.testing.assert_close(out[i], naive(q[i], k[i], v[i]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", ["", "varlen", "cudnn", "sdpa", "flash_attn"])
@pytest.mark.parametrize("lengths", [[1500, 0, 700], [40] * 20])
def test_cuda_backends_match_math_in_half_precision(monkeypatch, backend, lengths):
    if backend == "flash_attn":
        pytest.importorskip("flash_attn")
    g = torch.Generator().manual_seed(len(lengths))
    parts = [torch.randn(n, 3, 4, 64, generator=g) for n in lengths]
    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", backend)
    got = scaled_dot_product_attention(VarLenTensor.from_tensor_list([p.cuda().half() for p in parts]))
    for out, part in zip(got.to_tensor_list(), parts, strict=True):
        if part.shape[0]:
            torch.testing.assert_close(out.float().cpu(), naive(part[:, 0], part[:, 1], part[:, 2]),
                                       atol=1e-2, rtol=1e-2)
        else:
            assert out.shape == (0, 4, 64)
