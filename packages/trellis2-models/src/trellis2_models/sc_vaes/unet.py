"""Sparse U-Net VAE (TRELLIS.2 "SC-VAE"): encoder down to a 32-channel latent and decoder back up with subdivision."""

from __future__ import annotations

from typing import Any

import torch
from sparsetensor import SparseTensor
from sparsetensor.nn import SparseConv3d
from sparsetensor.ops.fused_norm import layer_norm
from torch import nn

from .blocks import UP_BLOCKS, block_class


def _build_levels(
    model_channels: list[int],
    num_blocks: list[int],
    block_type: list[str],
    transition_type: list[str],
    block_args: list[dict[str, Any]],
    **transition_kwargs: Any,
) -> nn.ModuleList:
    """Per level: `num_blocks[i]` blocks at `model_channels[i]`, then (except last) a transition to level i+1."""
    lengths = {len(model_channels), len(num_blocks), len(block_type), len(block_args)}
    if len(lengths) != 1 or len(transition_type) != len(num_blocks) - 1:
        raise ValueError("model_channels, num_blocks, block_type and block_args need one entry per level and the "
                         "up/down block types one fewer")
    levels = nn.ModuleList()
    for i, count in enumerate(num_blocks):
        level = nn.ModuleList(block_class(block_type[i])(model_channels[i], **block_args[i]) for _ in range(count))
        if i < len(num_blocks) - 1:
            transition = block_class(transition_type[i])
            level.append(transition(model_channels[i], model_channels[i + 1], **transition_kwargs, **block_args[i]))
        levels.append(level)
    return levels


class _MixedPrecision(nn.Module):
    """Blocks run in `self.dtype` (fp16 when `use_fp16`); their convs and linears hold weights in that dtype while
    norms and the input/output layers stay fp32, as in the official checkpoints. `convert_to` switches."""

    blocks: nn.ModuleList

    def _set_block_dtype(self, use_fp16: bool) -> None:
        self.convert_to(torch.float16 if use_fp16 else torch.float32)

    def convert_to(self, dtype: torch.dtype) -> None:
        """Put the blocks' convs and linears in `dtype` (float32 runs everything in full precision)."""
        if dtype not in (torch.float16, torch.bfloat16, torch.float32):
            raise ValueError(f"unsupported block dtype {dtype}")
        self.dtype = dtype
        for module in self.blocks.modules():
            if isinstance(module, (nn.Linear, SparseConv3d)):
                module.to(dtype)

    def convert_to_fp32(self) -> None:
        """Run the whole model in float32 (reference precision, CPU)."""
        self.convert_to(torch.float32)


class SparseUnetVaeEncoder(_MixedPrecision):
    """Voxel attributes [N, in_channels] -> latent [N', latent_channels] on the coarse grid (mean or a sample)."""

    def __init__(
        self,
        in_channels: int,
        model_channels: list[int],
        latent_channels: int,
        num_blocks: list[int],
        block_type: list[str],
        down_block_type: list[str],
        block_args: list[dict[str, Any]],
        use_fp16: bool = False,
    ) -> None:
        super().__init__()
        self.input_layer = nn.Linear(in_channels, model_channels[0])
        self.to_latent = nn.Linear(model_channels[-1], 2 * latent_channels)
        self.blocks = _build_levels(model_channels, num_blocks, block_type, down_block_type, block_args)
        self._set_block_dtype(use_fp16)

    def forward(self, x: SparseTensor, sample_posterior: bool = False, return_raw: bool = False):
        """Encode; returns the latent, or `(latent, mean, logvar)` when `return_raw`."""
        h = x.replace(self.input_layer(x.feats.float()).to(self.dtype))
        for level in self.blocks:
            for block in level:
                h = block(h)
        moments = self.to_latent(layer_norm(h.feats, out_dtype=torch.float32))
        mean, logvar = moments.chunk(2, dim=-1)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if sample_posterior else mean
        latent = h.replace(z)
        return (latent, mean, logvar) if return_raw else latent


class SparseUnetVaeDecoder(_MixedPrecision):
    """Latent voxels -> fine voxels with `out_channels` attributes, subdividing once per level transition.

    With `pred_subdiv=True` each up block predicts which children exist; with `pred_subdiv=False` (the texture
    decoder) the children are given as guide logits, normally the shape decoder's.
    """

    def __init__(
        self,
        out_channels: int,
        model_channels: list[int],
        latent_channels: int,
        num_blocks: list[int],
        block_type: list[str],
        up_block_type: list[str],
        block_args: list[dict[str, Any]],
        use_fp16: bool = False,
        pred_subdiv: bool = True,
    ) -> None:
        super().__init__()
        self.pred_subdiv = pred_subdiv
        self.output_layer = nn.Linear(model_channels[-1], out_channels)
        self.from_latent = nn.Linear(latent_channels, model_channels[0])
        self.blocks = _build_levels(model_channels, num_blocks, block_type, up_block_type, block_args,
                                    pred_subdiv=pred_subdiv)
        self._set_block_dtype(use_fp16)

    @property
    def num_upsamplings(self) -> int:
        """How many times the decoder doubles the resolution."""
        return len(self.blocks) - 1

    def _run_levels(self, x: SparseTensor, levels: int, guide_subs: list[torch.Tensor] | None):
        if not isinstance(x, SparseTensor):
            raise TypeError(f"latent must be a sparsetensor.SparseTensor, got {type(x).__name__}")
        # A fresh tensor: subdivisions must come from the logits, never from resampling caches the latent may carry.
        h = SparseTensor(self.from_latent(x.feats.float()).to(self.dtype), x.coords)
        logits = []
        for i, level in enumerate(self.blocks[:levels]):
            for block in level:
                if isinstance(block, UP_BLOCKS):
                    guide = None if guide_subs is None else guide_subs[i]
                    h = block(h) if block.pred_subdiv else block(h, guide)
                    if block.pred_subdiv:
                        h, level_logits = h
                        logits.append(level_logits.float())
                else:
                    h = block(h)
        return h, logits

    def decode_features(
        self, latent: SparseTensor, guide_subs: list[torch.Tensor | SparseTensor] | None = None
    ) -> tuple[SparseTensor, list[torch.Tensor]]:
        """Raw output (layer-normed, output layer applied) and each up block's subdivision logits [N_k, 8].

        `guide_subs` (one [N_k, 8] logits tensor or SparseTensor per up block; child exists where > 0) is
        required when `pred_subdiv=False` and rejected otherwise.
        """
        if self.pred_subdiv and guide_subs is not None:
            raise ValueError("guide_subs is only for decoders built with pred_subdiv=False")
        if guide_subs is not None:
            if len(guide_subs) != self.num_upsamplings:
                raise ValueError(f"need {self.num_upsamplings} guide subdivisions, got {len(guide_subs)}")
            guide_subs = [g.feats if isinstance(g, SparseTensor) else g for g in guide_subs]
        h, logits = self._run_levels(latent, len(self.blocks), guide_subs)
        out = self.output_layer(layer_norm(h.feats, out_dtype=torch.float32))
        return h.replace(out), logits

    def forward(self, latent: SparseTensor, guide_subs: list[torch.Tensor] | None = None) -> SparseTensor:
        """Decoded attribute voxels (raw output; the pipeline maps attributes with `*0.5 + 0.5`)."""
        return self.decode_features(latent, guide_subs)[0]

    def upsample(self, latent: SparseTensor, upsample_times: int) -> torch.Tensor:
        """Coords [N, 4] after `upsample_times` predicted subdivisions (used to grow a coarse structure)."""
        if not self.pred_subdiv:
            raise ValueError("upsample needs a decoder that predicts its subdivisions (pred_subdiv=True)")
        if not 0 <= upsample_times <= self.num_upsamplings:
            raise ValueError(f"upsample_times must be in [0, {self.num_upsamplings}], got {upsample_times}")
        return self._run_levels(latent, upsample_times, None)[0].coords
