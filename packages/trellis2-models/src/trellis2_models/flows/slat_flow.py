"""Structured-latent flow: a DiT over a variable-length batch of active voxels (shape and texture stages)."""

from __future__ import annotations

from typing import Any

import torch

from .base import FlowTransformer
from .rope import Rotation, rope_phases, rotation_from_phases
from .tokens import Context, PackedTokens


class SLatFlowModel(FlowTransformer):
    """Flow model over a sparse tensor of voxel latents (upstream name); `concat_cond` adds channels per voxel.

    `x` is any sparse tensor with `.feats` [N, C], `.coords` [N, 4] (batch, x, y, z) and `.replace(feats)`, such as
    `sparsetensor.SparseTensor`; the result is `x.replace(velocity_feats)`, so coordinates and order are kept.
    RoPE phases come from the voxel coordinates (see `_token_geometry`), so there is no computed buffer.
    """

    computed_buffers: tuple[str, ...] = ()

    def forward(self, x: Any, t: torch.Tensor, cond: Context, concat_cond: Any | None = None) -> Any:
        """Velocity for sparse latent `x` at times `t` [B] (x1000) given `cond` [B, L, Cc] or a list of [L_b, Cc]."""
        feats, coords = x.feats, x.coords
        if concat_cond is not None:
            if concat_cond.feats.shape[0] != feats.shape[0]:
                raise ValueError(
                    f"concat_cond has {concat_cond.feats.shape[0]} voxels but x has {feats.shape[0]}; "
                    "they must share coordinates"
                )
            feats = torch.cat([feats, concat_cond.feats], dim=-1)
        if feats.ndim != 2 or feats.shape[1] != self.in_channels:
            raise ValueError(
                f"sparse features (with concat_cond) must be [N, {self.in_channels}], got {tuple(feats.shape)}"
            )
        if coords.ndim != 2 or coords.shape[1] != 4:
            raise ValueError(f"coords must be [N, 4] (batch, x, y, z), got {tuple(coords.shape)}")
        layout, rotation = self._token_geometry(x, t.shape[0])
        out = self._trunk(self.input_layer(feats), t, cond, layout, rotation, feats.dtype)
        return x.replace(out)

    def _token_geometry(self, x: Any, batch_size: int) -> tuple[PackedTokens, Rotation]:
        """The packed token layout and RoPE rotation of `x`'s voxels. Both depend only on the coordinates, and the
        layout reads voxel counts on the host (a device sync), so they are kept in `x`'s spatial cache when it has
        one: every state of a sampling run is `replace`d from the noise and shares it, so they are built once."""
        key = f"slat_flow_tokens_{batch_size}_{self.head_dim}_{self.rope_freq}"
        cached = x.get_spatial_cache(key) if hasattr(x, "get_spatial_cache") else None
        if cached is None:
            phases = rope_phases(x.coords[:, 1:], self.head_dim, base=self.rope_freq[1], scale=self.rope_freq[0])
            cached = PackedTokens(x.coords[:, 0], batch_size=batch_size), rotation_from_phases(phases)
            if hasattr(x, "register_spatial_cache"):
                x.register_spatial_cache(key, cached)
        return cached


#: Training-time name of the same network (upstream adds only memory management); accepted in checkpoint configs.
ElasticSLatFlowModel = SLatFlowModel
