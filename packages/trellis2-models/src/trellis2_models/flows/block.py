"""The DiT block shared by both flows: modulated self-attention, cross-attention to the image, modulated MLP."""

from __future__ import annotations

import torch
from sparsetensor.ops.fused_norm import gated_residual, layer_norm
from torch import nn

from ..precision import LayerNorm32
from .attention import CrossAttention, SelfAttention
from .gelu_linear import linear_gelu_tanh
from .rope import Rotation
from .tokens import Context, TokenLayout


class FeedForward(nn.Module):
    """Two-layer MLP with tanh-approximated GELU (applied in the first GEMM's epilogue on CUDA at inference)."""

    def __init__(self, channels: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to the last axis."""
        expand, _, project = self.mlp
        return project(linear_gelu_tanh(x, expand))


class ModulatedCrossBlock(nn.Module):
    """Pre-norm transformer block with adaLN shift/scale/gate for the self-attention and MLP branches.

    With `share_mod` the block owns only a learned offset `modulation` [6C] added to the model-wide adaLN output;
    otherwise it has its own `adaLN_modulation` MLP of the time embedding.
    """

    def __init__(
        self,
        channels: int,
        context_channels: int,
        num_heads: int,
        mlp_ratio: float,
        share_mod: bool,
        qk_rms_norm: bool,
        qk_rms_norm_cross: bool,
    ) -> None:
        super().__init__()
        self.share_mod = share_mod
        if share_mod:
            self.modulation = nn.Parameter(torch.randn(6 * channels) / channels**0.5)
        self.norm1 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.norm2 = LayerNorm32(channels, elementwise_affine=True, eps=1e-6)
        self.norm3 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.self_attn = SelfAttention(channels, num_heads, qk_rms_norm)
        self.cross_attn = CrossAttention(channels, context_channels, num_heads, qk_rms_norm_cross)
        self.mlp = FeedForward(channels, mlp_ratio)
        if not share_mod:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(channels, 6 * channels))

    def _modulation(self, mod: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.share_mod:
            return (self.modulation + mod).to(mod.dtype).chunk(6, dim=1)
        return self.adaLN_modulation(mod).chunk(6, dim=1)

    def forward(
        self,
        x: torch.Tensor,
        mod: torch.Tensor,
        context: Context,
        layout: TokenLayout,
        rotation: Rotation | None = None,
    ) -> torch.Tensor:
        """Update tokens `x` given the per-sample modulation input `mod` [B, *] and the conditioning `context`.

        Computes `h = norm1(x) * (1 + scale) + shift; x = x + attn(h) * gate` (and the same around the MLP) through
        fused kernels on flattened rows, with each row's per-sample vectors chosen by the layout.
        """
        shift_attn, scale_attn, gate_attn, shift_mlp, scale_mlp, gate_mlp = self._modulation(mod)
        shape, samples = x.shape, layout.row_samples(x)
        rows = x.reshape(-1, shape[-1])
        h = layer_norm(rows, eps=self.norm1.eps, shift=shift_attn, scale=scale_attn, **samples).view(shape)
        attended = self.self_attn(h, layout, rotation).reshape(rows.shape)
        x = gated_residual(rows, attended, gate_attn, **samples).view(shape)
        x = x + self.cross_attn(self.norm2(x), context, layout)
        rows = x.reshape(rows.shape)
        h = layer_norm(rows, eps=self.norm3.eps, shift=shift_mlp, scale=scale_mlp, **samples)
        return gated_residual(rows, self.mlp(h), gate_mlp, **samples).view(shape)
