"""A linear layer followed by tanh-approximated GELU as one cuBLASLt call (bias and GELU in the GEMM's epilogue).

The MLP's hidden activations are the flows' largest tensors (8,192 channels per token); applying GELU in a separate
kernel reads and writes all of them once more. torch exposes cuBLASLt's bias+GELU epilogue as the private
``torch._addmm_activation``; which GELU that computes is not documented (its CPU fallback uses the exact erf form),
so the fused call is used only where a float32 probe on the device shows it matches the tanh form the weights were
trained with, and only at inference (the op has no derivative).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_FUSED_DTYPES = (torch.float16, torch.bfloat16)


#: device -> whether its epilogue computes the tanh form (probed once per device).
_TANH_EPILOGUE: dict[torch.device, bool] = {}


def _probe_epilogue(device: torch.device) -> bool:
    """Whether ``torch._addmm_activation(..., use_gelu=True)`` on ``device`` computes the tanh form: in float32, on
    values in [-3, 3] that every GEMM precision (TF32 included) multiplies by the identity exactly, where the tanh
    and erf forms differ by up to ~5e-4."""
    if not hasattr(torch, "_addmm_activation"):
        return False
    x = ((torch.arange(64 * 64, device=device) % 97 - 48) / 16).reshape(64, 64)
    fused = torch._addmm_activation(torch.zeros(64, device=device), x, torch.eye(64, device=device), use_gelu=True)
    tanh_error = (fused - F.gelu(x, approximate="tanh")).abs().max().item()
    erf_error = (fused - F.gelu(x)).abs().max().item()
    return tanh_error < 1e-5 < erf_error


def fused_applies(x: torch.Tensor, linear: nn.Linear) -> bool:
    """Whether ``linear_gelu_tanh`` may take the fused path for this input: CUDA half/bfloat16 inference with a bias,
    on a device whose epilogue computes tanh GELU."""
    if not (x.is_cuda and x.dtype in _FUSED_DTYPES and x.dtype == linear.weight.dtype and linear.bias is not None
            and not (torch.is_grad_enabled() and (x.requires_grad or linear.weight.requires_grad))):
        return False
    if x.device not in _TANH_EPILOGUE:
        if torch.cuda.is_current_stream_capturing():  # the probe reads a result on the host: not inside a capture
            return False
        _TANH_EPILOGUE[x.device] = _probe_epilogue(x.device)
    return _TANH_EPILOGUE[x.device]


def linear_gelu_tanh(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``gelu(linear(x), approximate="tanh")`` over the last axis, fused into one GEMM where ``fused_applies``."""
    if not fused_applies(x, linear):
        return F.gelu(linear(x), approximate="tanh")
    rows = x.reshape(-1, x.shape[-1])
    return torch._addmm_activation(linear.bias, rows, linear.weight.t(), use_gelu=True).view(*x.shape[:-1], -1)
