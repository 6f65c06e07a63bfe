"""Multi-head self- and cross-attention with optional per-head QK RMS normalisation and 3D RoPE."""

from __future__ import annotations

import torch
from sparsetensor.ops.fused_rope import rms_norm_rope
from torch import nn

from .rope import Rotation
from .tokens import Context, TokenLayout


class MultiHeadRMSNorm(nn.Module):
    """RMS normalisation of each head's vector with a learned [heads, head_dim] gain, computed in float32."""

    def __init__(self, head_dim: int, num_heads: int) -> None:
        super().__init__()
        self.scale = head_dim**0.5
        self.gamma = nn.Parameter(torch.ones(num_heads, head_dim))

    def forward(self, x: torch.Tensor, rotation: Rotation | None = None) -> torch.Tensor:
        """Normalise `x` [..., L, H, D] over D and apply the gain, then the RoPE `rotation` when given (fused)."""
        return rms_norm_rope(x, self.gamma, self.scale, rotation)


class SelfAttention(nn.Module):
    """Self-attention over a token layout, with fused QKV projection."""

    def __init__(self, channels: int, num_heads: int, qk_rms_norm: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = channels // num_heads
        self.to_qkv = nn.Linear(channels, 3 * channels)
        if qk_rms_norm:
            self.q_rms_norm = MultiHeadRMSNorm(head_dim, num_heads)
            self.k_rms_norm = MultiHeadRMSNorm(head_dim, num_heads)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, layout: TokenLayout, rotation: Rotation | None = None) -> torch.Tensor:
        """Attend `x` ([B, L, C] or [N, C]) to itself; a RoPE `rotation` (see `rotation_from_phases`) is optional."""
        q, k, v = self.to_qkv(x).unflatten(-1, (3, self.num_heads, -1)).unbind(dim=-3)
        if hasattr(self, "q_rms_norm"):
            q, k = self.q_rms_norm(q, rotation), self.k_rms_norm(k, rotation)
        elif rotation is not None:
            q, k = rms_norm_rope(q, None, 1.0, rotation), rms_norm_rope(k, None, 1.0, rotation)
        return self.to_out(layout.self_attention(q, k, v).flatten(-2))


class CrossAttention(nn.Module):
    """Attention from tokens to conditioning tokens (a [B, L, Cc] tensor or a list of [L_b, Cc] tensors)."""

    def __init__(self, channels: int, context_channels: int, num_heads: int, qk_rms_norm: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = channels // num_heads
        self.to_q = nn.Linear(channels, channels)
        self.to_kv = nn.Linear(context_channels, 2 * channels)
        if qk_rms_norm:
            self.q_rms_norm = MultiHeadRMSNorm(head_dim, num_heads)
            self.k_rms_norm = MultiHeadRMSNorm(head_dim, num_heads)
        self.to_out = nn.Linear(channels, channels)

    def _keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.to_kv(context).unflatten(-1, (2, self.num_heads, -1)).unbind(dim=-3)
        if hasattr(self, "k_rms_norm"):
            k = self.k_rms_norm(k)
        return k, v

    def forward(self, x: torch.Tensor, context: Context, layout: TokenLayout) -> torch.Tensor:
        """Attend tokens `x` to `context`, sample by sample."""
        q = self.to_q(x).unflatten(-1, (self.num_heads, -1))
        if hasattr(self, "q_rms_norm"):
            q = self.q_rms_norm(q)
        if isinstance(context, list):
            keys_values = [self._keys_values(c) for c in context]
            k, v = [kv[0] for kv in keys_values], [kv[1] for kv in keys_values]
        else:
            k, v = self._keys_values(context)
        return self.to_out(layout.cross_attention(q, k, v).flatten(-2))
