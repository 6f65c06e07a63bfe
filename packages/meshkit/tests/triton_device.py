"""Shared setup of meshkit's Triton kernel tests: compiled on a CUDA device when there is one, otherwise run by
Triton's interpreter on CPU tensors (TRITON_INTERPRET must be set before meshkit.gpu's kernel modules are imported).
Importing this module skips the importing test module when torch or Triton is missing."""

import os

import pytest

torch = pytest.importorskip("torch", reason="meshkit's GPU kernels need torch")
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="meshkit's GPU kernels need Triton")

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA dispatch needs a CUDA device")
