"""The attention entry point's fast paths on CPU: cached per-layout cu_seqlens handed to the one-launch kernel (a
reference stands in for the CUDA kernel), packed views instead of copies, and the cuDNN-first priority context."""

import pytest
import torch
from sparsetensor import VarLenTensor
from sparsetensor.ops import attention as attention_module
from sparsetensor.ops import scaled_dot_product_attention


def naive(q, k, v):
    s = torch.einsum("ihd,jhd->hij", q, k) / q.shape[-1] ** 0.5
    return torch.einsum("hij,jhd->ihd", torch.softmax(s, -1), v)


def packed_qkv(lengths, seed=0, heads=2, dim=8):
    g = torch.Generator().manual_seed(seed)
    return VarLenTensor.from_tensor_list([torch.randn(n, 3, heads, dim, generator=g, dtype=torch.float64)
                                          for n in lengths])


@pytest.fixture
def fake_varlen(monkeypatch):
    """Route the 'varlen' backend to a CPU reference that reads cu_seqlens like the kernel; records every call."""
    calls = []

    def kernel(q, k, v, cu_q, cu_k, max_q, max_k):
        calls.append({"q": q, "cu_q": cu_q, "cu_k": cu_k, "max_q": max_q, "max_k": max_k})
        out = torch.full((q.shape[0], q.shape[1], v.shape[-1]), float("nan"), dtype=q.dtype)  # keyless rows stay NaN
        qs, ks = cu_q.tolist(), cu_k.tolist()
        for q0, q1, k0, k1 in zip(qs[:-1], qs[1:], ks[:-1], ks[1:], strict=True):
            if q1 > q0 and k1 > k0:
                out[q0:q1] = naive(q[q0:q1], k[k0:k1], v[k0:k1])
        return out

    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", "varlen")
    monkeypatch.setattr(attention_module, "_varlen_kernel", lambda backend: kernel)
    return calls


def check_self_attention(x, out):
    for got, item in zip(out.to_tensor_list(), x.to_tensor_list(), strict=True):
        if item.shape[0]:
            torch.testing.assert_close(got, naive(item[:, 0], item[:, 1], item[:, 2]))


def test_one_launch_reuses_offsets_per_layout_and_rebuilds_them_when_lengths_change(fake_varlen):
    first, same_layout, other_layout = packed_qkv([5, 0, 7], 1), packed_qkv([5, 0, 7], 2), packed_qkv([9, 3], 3)
    with torch.inference_mode():
        outs = [scaled_dot_product_attention(x) for x in (first, same_layout, other_layout)]
    for x, out in zip((first, same_layout, other_layout), outs, strict=True):
        check_self_attention(x, out)
    a, b, c = fake_varlen
    assert a["cu_q"].tolist() == [0, 5, 5, 12] and a["cu_q"].dtype == torch.int32 and a["max_q"] == 7
    assert b["cu_q"] is a["cu_q"] and b["cu_k"] is a["cu_q"]  # same lengths: the cached tensor, no new copy
    assert c["cu_q"].tolist() == [0, 9, 12] and c["max_q"] == c["max_k"] == 9  # new lengths: new offsets
    assert not a["cu_q"].is_inference()  # usable by autograd after an inference-mode first call
    # q reaches the kernel as a strided view of the packed features, not a copy
    assert a["q"].data_ptr() == first.feats.data_ptr() and a["q"].stride() == first.feats[:, 0].stride()


def test_one_launch_gives_zeros_to_queries_without_keys(fake_varlen):
    g = torch.Generator().manual_seed(4)
    q = VarLenTensor.from_tensor_list([torch.randn(n, 2, 8, generator=g, dtype=torch.float64) for n in (3, 4, 2)])
    kv = VarLenTensor.from_tensor_list([torch.randn(n, 2, 2, 8, generator=g, dtype=torch.float64) for n in (6, 0, 5)])
    out = scaled_dot_product_attention(q, kv).to_tensor_list()
    assert fake_varlen[0]["cu_k"].tolist() == [0, 6, 6, 11]
    torch.testing.assert_close(out[1], torch.zeros(4, 2, 8, dtype=torch.float64))
    for i in (0, 2):
        k_i = kv.to_tensor_list()[i]
        torch.testing.assert_close(out[i], naive(q.to_tensor_list()[i], k_i[:, 0], k_i[:, 1]))


def test_cudnn_backend_puts_cudnn_first_only_during_the_call(monkeypatch):
    real_sdpa, seen = attention_module.F.scaled_dot_product_attention, []

    def recording(q, k, v):
        seen.append(torch._C._get_sdp_priority_order()[0])
        return real_sdpa(q, k, v)

    before = torch._C._get_sdp_priority_order()
    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", "cudnn")
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", recording)
    x = packed_qkv([4, 6], 5)
    check_self_attention(x, scaled_dot_product_attention(x))
    assert seen == [int(attention_module.SDPBackend.CUDNN_ATTENTION)] * 2
    assert torch._C._get_sdp_priority_order() == before

    def failing(q, k, v):
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", failing)
    with pytest.raises(RuntimeError, match="kernel failed"):
        scaled_dot_product_attention(x)
    assert torch._C._get_sdp_priority_order() == before  # restored on errors too


@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_per_sequence_output_is_packed_and_differentiable(monkeypatch, backend):
    monkeypatch.setenv("SPARSETENSOR_ATTN_BACKEND", backend)
    for lengths in ([6], [4, 0, 5]):
        x = packed_qkv(lengths, 6)
        feats = x.feats.clone().requires_grad_(True)
        out = scaled_dot_product_attention(x.replace(feats))
        assert out.feats.shape == (sum(lengths), 2, 8) and out.feats.is_contiguous()
        check_self_attention(x, out)
        out.feats.square().sum().backward()
        expected = torch.zeros_like(feats)
        for s in x.layout:
            part = feats.detach()[s].clone().requires_grad_(True)
            naive(part[:, 0], part[:, 1], part[:, 2]).square().sum().backward()
            expected[s] = part.grad
        torch.testing.assert_close(feats.grad, expected)


def test_k_and_v_lengths_must_match():
    q, k = packed_qkv([2, 3], 7), packed_qkv([2, 3], 8)
    v = packed_qkv([3, 2], 9)
    with pytest.raises(ValueError, match="k and v sequence lengths differ"):
        scaled_dot_product_attention(q.replace(q.feats[:, 0]), k.replace(k.feats[:, 0]), v.replace(v.feats[:, 0]))
