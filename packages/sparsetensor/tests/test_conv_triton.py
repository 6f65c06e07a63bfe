"""The Triton kernel run by the Triton CPU interpreter against the torch reference (tiny sizes)."""

import os

import pytest
import torch
from helpers import random_sparse

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernel is decorated, i.e. at first import
pytest.importorskip("triton")

from sparsetensor.ops import build_neighbor_map, submanifold_conv3d  # noqa: E402
from sparsetensor.ops.conv import submanifold_conv3d_reference  # noqa: E402
from sparsetensor.ops.conv_triton import submanifold_conv3d_triton  # noqa: E402


@pytest.mark.parametrize(
    ("dtype", "c_in", "c_out", "tol"),
    [(torch.float32, 3, 5, 1e-5), (torch.float32, 70, 20, 1e-5), (torch.float16, 16, 33, 2e-2)],
)
def test_triton_matches_reference(dtype, c_in, c_out, tol):
    x = random_sparse([40, 0, 30], 5, c_in, seed=c_in)
    nmap = build_neighbor_map(x.coords, 3)
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(c_out, 3, 3, 3, c_in, generator=g) * 0.2, torch.randn(c_out, generator=g)
    ref = submanifold_conv3d_reference(x.feats, nmap, w.double(), b.double())
    got = submanifold_conv3d_triton(x.feats.to(dtype), nmap, w.to(dtype), b.to(dtype))
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), ref, atol=tol * ref.abs().max().item(), rtol=tol)


def test_backend_env_selects_triton_and_handles_empty(monkeypatch):
    monkeypatch.setenv("SPARSETENSOR_CONV_BACKEND", "triton")
    x = random_sparse([12], 3, 4).float()
    w = torch.randn(6, 3, 3, 3, 4)
    ref = submanifold_conv3d_reference(x.feats, build_neighbor_map(x.coords, 3), w)
    torch.testing.assert_close(submanifold_conv3d(x.feats, x.coords, w), ref, atol=1e-5, rtol=1e-5)
    empty = submanifold_conv3d(x.feats[:0], x.coords[:0], w)
    assert empty.shape == (0, 6)
    monkeypatch.setenv("SPARSETENSOR_CONV_BACKEND", "cuda-magic")
    with pytest.raises(ValueError, match="SPARSETENSOR_CONV_BACKEND"):
        submanifold_conv3d(x.feats, x.coords, w)
