"""Mixed-precision helpers: which layers hold the low-precision "torso" weights and how dtypes are named."""

from __future__ import annotations

import torch
from sparsetensor.ops.fused_norm import layer_norm
from torch import nn

#: Layer types whose weights follow the torso dtype; norms, RMS-norm gains and modulation vectors stay float32.
TORSO_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv3d)

_DTYPE_NAMES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "f32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "f16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """Turn a config dtype name ("bfloat16", "fp16", ...) or a torch dtype into a floating torch dtype."""
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise TypeError(f"model dtype must be a floating point type, got {dtype}")
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype.lower()]
    raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPE_NAMES)} or a torch.dtype")


def cast_torso_layers(module: nn.Module, dtype: torch.dtype) -> None:
    """Cast the parameters of every Linear/Conv3d inside `module` to `dtype` in place (works on the meta device)."""
    for layer in module.modules():
        if isinstance(layer, TORSO_LAYER_TYPES):
            for param in layer.parameters(recurse=False):
                param.data = param.data.to(dtype)


class LayerNorm32(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype, result cast back (keeps bf16/fp16 torsos stable);
    a following SiLU (`activation="silu"`) is fused into the same kernel on CUDA. Any leading axes."""

    def forward(self, x: torch.Tensor, activation: str | None = None) -> torch.Tensor:
        """Normalise the last axis of `x` in float32 (sparsetensor's fused layer norm over the flattened rows)."""
        rows = layer_norm(x.reshape(-1, x.shape[-1]), self.weight, self.bias, self.eps, activation=activation)
        return rows.view(x.shape)
