"""Parts shared by both flow transformers: config handling, time/adaLN embedding, block stack, precision control."""

from __future__ import annotations

from typing import Any

import torch
import torch.utils.checkpoint
from torch import nn

from ..precision import cast_torso_layers, parse_dtype
from .block import ModulatedCrossBlock
from .rope import Rotation
from .timestep import TimestepEmbedder
from .tokens import Context, TokenLayout


class FlowTransformer(nn.Module):
    """A DiT trunk: time embedder, optional shared adaLN, input projection, cross-attention blocks, output projection.

    The blocks' Linear weights live in `dtype` (the config's torso dtype); the time embedder, adaLN, input/output
    projections, norms, RMS gains and modulation offsets stay float32. Unknown config fields are kept in
    `extra_config` so that published configs with extra harmless fields still load.
    """

    def __init__(
        self,
        resolution: int,
        in_channels: int,
        model_channels: int,
        cond_channels: int,
        out_channels: int,
        num_blocks: int,
        num_heads: int | None = None,
        num_head_channels: int = 64,
        mlp_ratio: float = 4.0,
        pe_mode: str = "rope",
        rope_freq: tuple[float, float] = (1.0, 10000.0),
        dtype: str | torch.dtype = "float32",
        use_checkpoint: bool = False,
        share_mod: bool = False,
        initialization: str = "vanilla",
        qk_rms_norm: bool = False,
        qk_rms_norm_cross: bool = False,
        **extra_config: Any,
    ) -> None:
        super().__init__()
        if pe_mode != "rope":
            raise ValueError(f"pe_mode {pe_mode!r} is not supported: TRELLIS.2 flows use pe_mode='rope'")
        self.num_heads = num_heads or model_channels // num_head_channels
        if model_channels % self.num_heads or (model_channels // self.num_heads) % 2:
            raise ValueError(f"model_channels {model_channels} must split into {self.num_heads} even-width heads")
        self.resolution = resolution
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.cond_channels = cond_channels
        self.out_channels = out_channels
        self.num_blocks = num_blocks
        self.mlp_ratio = mlp_ratio
        self.pe_mode = pe_mode
        self.rope_freq = tuple(rope_freq)
        self.use_checkpoint = use_checkpoint
        self.share_mod = share_mod
        self.initialization = initialization
        self.extra_config = extra_config
        self.head_dim = model_channels // self.num_heads

        self.t_embedder = TimestepEmbedder(model_channels)
        if share_mod:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(model_channels, 6 * model_channels))
        self.input_layer = nn.Linear(in_channels, model_channels)
        self.blocks = nn.ModuleList(
            ModulatedCrossBlock(
                model_channels, cond_channels, self.num_heads, mlp_ratio, share_mod, qk_rms_norm, qk_rms_norm_cross
            )
            for _ in range(num_blocks)
        )
        self.out_layer = nn.Linear(model_channels, out_channels)
        self.convert_to(parse_dtype(dtype))

    def convert_to(self, dtype: str | torch.dtype) -> None:
        """Set the dtype of the transformer blocks' Linear weights (the torso); everything else stays float32."""
        self.dtype = parse_dtype(dtype)
        cast_torso_layers(self.blocks, self.dtype)

    def to_fp32(self) -> None:
        """Run the whole model in float32 (for parity checks or hardware without bf16)."""
        self.convert_to(torch.float32)

    def _time_modulation(self, t: torch.Tensor) -> torch.Tensor:
        if t.ndim != 1:
            raise ValueError(f"t must be a 1-D tensor of per-sample times (x1000), got shape {tuple(t.shape)}")
        emb = self.t_embedder(t)
        if self.share_mod:
            emb = self.adaLN_modulation(emb)
        return emb.to(self.dtype)

    def _cast_context(self, cond: Context, batch_size: int) -> Context:
        if isinstance(cond, (list, tuple)):
            if any(c.ndim != 2 or c.shape[-1] != self.cond_channels for c in cond):
                raise ValueError(f"each cond in a list must be [L_b, {self.cond_channels}]")
            cond = [c.to(self.dtype) for c in cond]
        else:
            if cond.ndim != 3 or cond.shape[-1] != self.cond_channels:
                raise ValueError(f"cond must be [B, L, {self.cond_channels}], got shape {tuple(cond.shape)}")
            cond = cond.to(self.dtype)
        if len(cond) != batch_size:
            raise ValueError(f"cond holds {len(cond)} samples but t holds {batch_size}")
        return cond

    def _trunk(
        self,
        h: torch.Tensor,
        t: torch.Tensor,
        cond: Context,
        layout: TokenLayout,
        rotation: Rotation,
        out_dtype: torch.dtype,
    ) -> torch.Tensor:
        """Run blocks and the output head on input-projected tokens `h` with RoPE `rotation` (see
        `rotation_from_phases`), returning features in `out_dtype`."""
        mod = self._time_modulation(t)
        context = self._cast_context(cond, t.shape[0])
        h = h.to(self.dtype)
        for block in self.blocks:
            if self.use_checkpoint and torch.is_grad_enabled():
                h = torch.utils.checkpoint.checkpoint(block, h, mod, context, layout, rotation, use_reentrant=False)
            else:
                h = block(h, mod, context, layout, rotation)
        h = h.to(out_dtype)
        return self.out_layer(torch.nn.functional.layer_norm(h, h.shape[-1:]))
