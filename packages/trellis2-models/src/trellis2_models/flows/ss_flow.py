"""Dense sparse-structure flow: a DiT over the flattened R^3 latent grid of the sparse-structure VAE."""

from __future__ import annotations

from typing import Any

import torch

from .base import FlowTransformer
from .rope import rope_phases, rotation_from_phases
from .tokens import Context, DenseTokens


def grid_coords(resolution: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Integer (x, y, z) of every cell of an R^3 grid in row-major (x slowest) order, shape [R^3, 3]."""
    axis = torch.arange(resolution, device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)


class SparseStructureFlowModel(FlowTransformer):
    """Flow model predicting the velocity of the dense [B, C, R, R, R] sparse-structure latent (upstream name).

    The RoPE phases of the fixed grid are the computed buffer `rope_phases` (absent from the official checkpoints,
    rebuilt by `init_computed_buffers`).
    """

    #: State-dict entries that checkpoints may omit because they are recomputed from the config.
    computed_buffers: tuple[str, ...] = ("rope_phases",)

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.register_buffer("rope_phases", self._grid_phases(None))

    def _grid_phases(self, device: torch.device | str | None) -> torch.Tensor:
        base, scale = self.rope_freq[1], self.rope_freq[0]
        return rope_phases(grid_coords(self.resolution, device), self.head_dim, base=base, scale=scale)

    def init_computed_buffers(self, device: torch.device | str) -> None:
        """(Re)compute `rope_phases` on `device`, e.g. after building on the meta device."""
        self.rope_phases = self._grid_phases(device)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: Context, concat_cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Velocity for latent `x` [B, C, R, R, R] at times `t` [B] (x1000) given image tokens `cond` [B, L, Cc]."""
        if concat_cond is not None:
            x = torch.cat([x, concat_cond], dim=1)
        expected = [x.shape[0], self.in_channels, *[self.resolution] * 3]
        if list(x.shape) != expected:
            raise ValueError(f"x must have shape {expected} (B, in_channels, R, R, R), got {list(x.shape)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must hold one time per sample, shape [{x.shape[0]}], got {list(t.shape)}")
        tokens = self.input_layer(x.flatten(2).transpose(1, 2))
        out = self._trunk(tokens, t, cond, DenseTokens(), rotation_from_phases(self.rope_phases), x.dtype)
        return out.transpose(1, 2).reshape(x.shape[0], self.out_channels, *x.shape[2:])
