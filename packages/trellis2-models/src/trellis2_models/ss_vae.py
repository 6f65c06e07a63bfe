"""Sparse-structure VAE (from TRELLIS v1): dense 3D-conv encoder/decoder between occupancy grids and the latent grid.

The decoder maps a [B, latent, 16, 16, 16] latent to [B, 1, 64, 64, 64] occupancy logits with residual blocks and
conv + 3D pixel-shuffle upsampling; the encoder mirrors it with strided-conv downsampling.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .precision import cast_torso_layers


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a [B, C, ...] tensor, evaluated in float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise channels of `x` per voxel."""
        normed = super().forward(x.float().movedim(1, -1))
        return normed.movedim(-1, 1).to(x.dtype)


class FloatGroupNorm(nn.GroupNorm):
    """GroupNorm with 32 groups evaluated in float32."""

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise `x` [B, C, ...] by channel groups."""
        return super().forward(x.float()).to(x.dtype)


def make_norm(norm_type: str, channels: int) -> nn.Module:
    """Channel normalisation by name: "layer" (per-voxel LayerNorm) or "group" (GroupNorm32)."""
    if norm_type == "layer":
        return ChannelLayerNorm(channels)
    if norm_type == "group":
        return FloatGroupNorm(channels)
    raise ValueError(f"norm_type must be 'layer' or 'group', got {norm_type!r}")


def pixel_shuffle_3d(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Move channel blocks of size factor^3 into space: [B, C*f^3, D, H, W] -> [B, C, D*f, H*f, W*f]."""
    b, c, d, h, w = x.shape
    out_c = c // factor**3
    x = x.reshape(b, out_c, factor, factor, factor, d, h, w)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, out_c, d * factor, h * factor, w * factor)


class ResBlock3d(nn.Module):
    """Residual block: (norm, SiLU, 3^3 conv) twice, plus the input."""

    def __init__(self, channels: int, norm_type: str) -> None:
        super().__init__()
        self.norm1 = make_norm(norm_type, channels)
        self.norm2 = make_norm(norm_type, channels)
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to `x` [B, C, D, H, W]."""
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class UpsampleBlock3d(nn.Module):
    """Double the resolution: 3^3 conv to 8x channels, then 3D pixel shuffle."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels * 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample `x` by 2 in every spatial axis."""
        return pixel_shuffle_3d(self.conv(x), 2)


class DownsampleBlock3d(nn.Module):
    """Halve the resolution with a stride-2, 2^3 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Downsample `x` by 2 in every spatial axis."""
        return self.conv(x)


def resolution_levels(
    channels: list[int], num_res_blocks: int, norm_type: str, resample: type[nn.Module]
) -> nn.ModuleList:
    """Residual blocks at each width of `channels`, with a `resample(width, next_width)` block between levels."""
    blocks = nn.ModuleList()
    for width, next_width in zip(channels, [*channels[1:], None], strict=True):
        blocks.extend(ResBlock3d(width, norm_type) for _ in range(num_res_blocks))
        if next_width is not None:
            blocks.append(resample(width, next_width))
    return blocks


class _DenseConvVae(nn.Module):
    """Precision handling shared by the encoder and decoder: `blocks` and `middle_block` convs hold the torso."""

    blocks: nn.ModuleList
    middle_block: nn.Sequential
    computed_buffers: tuple[str, ...] = ()

    def _init_precision(self, use_fp16: bool, extra_config: dict[str, Any]) -> None:
        self.extra_config = extra_config
        self.convert_to(torch.float16 if use_fp16 else torch.float32)

    def convert_to(self, dtype: torch.dtype) -> None:
        """Set the dtype of the residual/resampling convolutions; input/output layers and norms stay float32."""
        self.dtype = dtype
        self.use_fp16 = dtype == torch.float16
        cast_torso_layers(self.blocks, dtype)
        cast_torso_layers(self.middle_block, dtype)

    def to_fp32(self) -> None:
        """Run the whole network in float32."""
        self.convert_to(torch.float32)

    def _out_head(self, channels: int, out_channels: int, norm_type: str) -> nn.Sequential:
        return nn.Sequential(make_norm(norm_type, channels), nn.SiLU(), nn.Conv3d(channels, out_channels, 3, padding=1))


class SparseStructureDecoder(_DenseConvVae):
    """Decode a dense structure latent [B, latent_channels, R, R, R] into occupancy logits at 2^(levels-1) x R."""

    def __init__(
        self,
        out_channels: int,
        latent_channels: int,
        num_res_blocks: int,
        channels: list[int],
        num_res_blocks_middle: int = 2,
        norm_type: str = "layer",
        use_fp16: bool = False,
        **extra_config: Any,
    ) -> None:
        super().__init__()
        self.latent_channels = latent_channels
        self.out_channels = out_channels
        self.input_layer = nn.Conv3d(latent_channels, channels[0], 3, padding=1)
        self.middle_block = nn.Sequential(*(ResBlock3d(channels[0], norm_type) for _ in range(num_res_blocks_middle)))
        self.blocks = resolution_levels(channels, num_res_blocks, norm_type, UpsampleBlock3d)
        self.out_layer = self._out_head(channels[-1], out_channels, norm_type)
        self._init_precision(use_fp16, extra_config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Occupancy logits [B, out_channels, R', R', R'] for latent `x`; positive means occupied."""
        if x.ndim != 5 or x.shape[1] != self.latent_channels:
            raise ValueError(f"latent must be [B, {self.latent_channels}, R, R, R], got {tuple(x.shape)}")
        h = self.input_layer(x).to(self.dtype)
        h = self.middle_block(h)
        for block in self.blocks:
            h = block(h)
        return self.out_layer(h.to(x.dtype))


class SparseStructureEncoder(_DenseConvVae):
    """Encode a dense occupancy grid [B, in_channels, R, R, R] into the structure latent (posterior mean)."""

    def __init__(
        self,
        in_channels: int,
        latent_channels: int,
        num_res_blocks: int,
        channels: list[int],
        num_res_blocks_middle: int = 2,
        norm_type: str = "layer",
        use_fp16: bool = False,
        **extra_config: Any,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.latent_channels = latent_channels
        self.input_layer = nn.Conv3d(in_channels, channels[0], 3, padding=1)
        self.blocks = resolution_levels(channels, num_res_blocks, norm_type, DownsampleBlock3d)
        self.middle_block = nn.Sequential(*(ResBlock3d(channels[-1], norm_type) for _ in range(num_res_blocks_middle)))
        self.out_layer = self._out_head(channels[-1], 2 * latent_channels, norm_type)
        self._init_precision(use_fp16, extra_config)

    def forward(
        self, x: torch.Tensor, sample_posterior: bool = False, return_raw: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latent of `x`: the posterior mean, or a sample of it; with `return_raw` also (mean, logvar)."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"occupancy grid must be [B, {self.in_channels}, R, R, R], got {tuple(x.shape)}")
        h = self.input_layer(x).to(self.dtype)
        for block in self.blocks:
            h = block(h)
        h = self.middle_block(h)
        mean, logvar = self.out_layer(h.to(x.dtype)).chunk(2, dim=1)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if sample_posterior else mean
        return (z, mean, logvar) if return_raw else z
