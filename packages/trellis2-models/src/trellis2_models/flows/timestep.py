"""Sinusoidal timestep features followed by a two-layer MLP (the diffusion-time embedder)."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_features(t: torch.Tensor, width: int, max_period: float = 10000.0) -> torch.Tensor:
    """Map times `t` [B] to [B, width] features: cosines then sines over geometrically spaced frequencies."""
    half = width // 2
    exponents = torch.arange(half, dtype=torch.float32, device=t.device) / half
    frequencies = torch.exp(-math.log(max_period) * exponents)
    angles = t.float()[:, None] * frequencies[None]
    features = torch.cat([angles.cos(), angles.sin()], dim=-1)
    if width % 2:
        features = torch.nn.functional.pad(features, (0, 1))
    return features


class TimestepEmbedder(nn.Module):
    """Embed scalar flow times (already scaled by 1000) into model-width vectors."""

    def __init__(self, hidden_size: int, frequency_size: int = 256) -> None:
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Return the [B, hidden_size] embedding of times `t` [B]."""
        weight = self.mlp[0].weight
        return self.mlp(sinusoidal_features(t, self.frequency_size).to(weight.dtype))
