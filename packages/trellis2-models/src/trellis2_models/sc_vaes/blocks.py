"""Building blocks of the TRELLIS.2 sparse VAEs (names and state-dict keys as in upstream checkpoints)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sparsetensor import SparseTensor
from sparsetensor.nn import SparseChannel2Spatial, SparseConv3d, SparseDownsample, SparseSpatial2Channel, SparseUpsample
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..precision import LayerNorm32

CHILDREN = 8  # a voxel splits into 2x2x2 children; child k sits at offset (k & 1, k >> 1 & 1, k >> 2 & 1)


class InferenceInPlaceSiLU(nn.SiLU):
    """SiLU that overwrites its input when no gradient is needed: the MLP's hidden activation is the largest tensor
    of a decoder block (4x the channels on millions of voxels), so this saves one copy of it at inference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x, inplace=not (torch.is_grad_enabled() and x.requires_grad))


class _Checkpointed(nn.Module):
    """Base for blocks that may recompute activations in backward (`use_checkpoint`) to save training memory."""

    def __init__(self, use_checkpoint: bool) -> None:
        super().__init__()
        self.use_checkpoint = use_checkpoint

    def forward(self, *args):
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, *args, use_reentrant=False)
        return self._forward(*args)


class SparseConvNeXtBlock3d(_Checkpointed):
    """Residual block: sparse 3x3x3 conv, LayerNorm, then a two-layer SiLU MLP."""

    def __init__(self, channels: int, mlp_ratio: float = 4.0, use_checkpoint: bool = False) -> None:
        super().__init__(use_checkpoint)
        hidden = int(channels * mlp_ratio)
        self.norm = LayerNorm32(channels, eps=1e-6)
        self.conv = SparseConv3d(channels, channels, 3)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), InferenceInPlaceSiLU(), nn.Linear(hidden, channels))

    def _forward(self, x: SparseTensor) -> SparseTensor:
        h = self.conv(x).feats
        return x.replace(self.mlp(self.norm(h)) + x.feats)


class SparseResBlockC2S3d(_Checkpointed):
    """Upsampling residual block: conv to 8x channels, then channel-to-spatial into the chosen children.

    Children come from its own subdivision logits (`pred_subdiv`) or from a guide passed to forward; the block
    returns `(voxels, logits)` when it predicts them.
    """

    def __init__(self, channels: int, out_channels: int, use_checkpoint: bool = False, pred_subdiv: bool = True):
        super().__init__(use_checkpoint)
        if channels % CHILDREN or out_channels % (channels // CHILDREN):
            raise ValueError(f"channels {channels} must split into 8 children evenly dividing {out_channels}")
        self.out_channels = out_channels
        self.pred_subdiv = pred_subdiv
        self.norm1 = LayerNorm32(channels, eps=1e-6)
        self.norm2 = LayerNorm32(out_channels, elementwise_affine=False, eps=1e-6)
        self.conv1 = SparseConv3d(channels, out_channels * CHILDREN, 3)
        self.conv2 = SparseConv3d(out_channels, out_channels, 3)
        if pred_subdiv:
            self.to_subdiv = nn.Linear(channels, CHILDREN)
        self.updown = SparseChannel2Spatial(2)

    def _forward(self, x: SparseTensor, guide_logits: torch.Tensor | None = None):
        logits = _subdivision_logits(self, x, guide_logits)
        layout = self.updown.layout(x, x.replace(logits > 0))
        # conv1 + channel-to-spatial in one step: only the children that exist are computed, straight to their rows
        h = self.conv1.to_children(x.replace(self.norm1(x.feats, activation="silu")), layout.parent, layout.child)
        h = self.updown.place(x, h, layout)
        skip = self.updown.unpack(x, layout).feats  # [M, C_in / 8], each channel repeated over the output channels
        h = h.replace(self.norm2(h.feats, activation="silu"))  # drops the pre-norm features before the conv
        h = self.conv2(h)
        # broadcast add of the repeated skip channels, never materialising them (memory at millions of voxels)
        summed = h.feats.view(len(skip), skip.shape[1], -1) + skip[:, :, None]
        out = h.replace(summed.view(len(skip), self.out_channels))
        return (out, logits) if self.pred_subdiv else out


class SparseResBlockS2C3d(_Checkpointed):
    """Downsampling residual block: conv to 1/8 channels, then spatial-to-channel into the parent voxels."""

    def __init__(self, channels: int, out_channels: int, use_checkpoint: bool = False) -> None:
        super().__init__(use_checkpoint)
        if out_channels % CHILDREN or (channels * CHILDREN) % out_channels:
            raise ValueError(f"out_channels {out_channels} must be a multiple of 8 dividing 8 * {channels}")
        self.out_channels = out_channels
        self.norm1 = LayerNorm32(channels, eps=1e-6)
        self.norm2 = LayerNorm32(out_channels, elementwise_affine=False, eps=1e-6)
        self.conv1 = SparseConv3d(channels, out_channels // CHILDREN, 3)
        self.conv2 = SparseConv3d(out_channels, out_channels, 3)
        self.updown = SparseSpatial2Channel(2)

    def _forward(self, x: SparseTensor) -> SparseTensor:
        h = self.updown(self.conv1(x.replace(self.norm1(x.feats, activation="silu"))))
        merged = self.updown(x).feats
        skip = merged.reshape(len(merged), self.out_channels, -1).mean(dim=-1)
        h = h.replace(self.norm2(h.feats, activation="silu"))  # drops the pre-norm features before the conv
        h = self.conv2(h)
        return h.replace(h.feats + skip)


def _subdivision_logits(block: nn.Module, x: SparseTensor, guide_logits: torch.Tensor | None) -> torch.Tensor:
    """An up block's child logits [N, 8]: its own prediction (`pred_subdiv`) or the checked guide."""
    logits = block.to_subdiv(x.feats) if block.pred_subdiv else guide_logits
    if logits is None:
        raise ValueError("a decoder built with pred_subdiv=False needs guide subdivisions (guide_subs)")
    if logits.shape != (x.feats.shape[0], CHILDREN):
        raise ValueError(f"subdivision logits must be [{x.feats.shape[0]}, 8], got {tuple(logits.shape)}")
    return logits


class SparseResBlockDownsample3d(_Checkpointed):
    """Downsampling residual block with mean pooling to the parent voxels, then convs at the coarse level."""

    def __init__(self, channels: int, out_channels: int, use_checkpoint: bool = False) -> None:
        super().__init__(use_checkpoint)
        self.norm1 = LayerNorm32(channels, eps=1e-6)
        self.norm2 = LayerNorm32(out_channels, elementwise_affine=False, eps=1e-6)
        self.conv1 = SparseConv3d(channels, out_channels, 3)
        self.conv2 = SparseConv3d(out_channels, out_channels, 3)
        self.skip_connection = nn.Linear(channels, out_channels) if channels != out_channels else nn.Identity()
        self.updown = SparseDownsample(2)

    def _forward(self, x: SparseTensor) -> SparseTensor:
        h = self.conv1(self.updown(x.replace(self.norm1(x.feats, activation="silu"))))
        h = h.replace(self.norm2(h.feats, activation="silu"))  # drops the pre-norm features before the conv
        h = self.conv2(h)
        return h.replace(h.feats + self.skip_connection(self.updown(x).feats))


class SparseResBlockUpsample3d(_Checkpointed):
    """Upsampling residual block copying each voxel's features to its chosen children, then convs at the fine level."""

    def __init__(self, channels: int, out_channels: int, use_checkpoint: bool = False, pred_subdiv: bool = True):
        super().__init__(use_checkpoint)
        self.pred_subdiv = pred_subdiv
        self.norm1 = LayerNorm32(channels, eps=1e-6)
        self.norm2 = LayerNorm32(out_channels, elementwise_affine=False, eps=1e-6)
        self.conv1 = SparseConv3d(channels, out_channels, 3)
        self.conv2 = SparseConv3d(out_channels, out_channels, 3)
        self.skip_connection = nn.Linear(channels, out_channels) if channels != out_channels else nn.Identity()
        if pred_subdiv:
            self.to_subdiv = nn.Linear(channels, CHILDREN)
        self.updown = SparseUpsample(2)

    def _forward(self, x: SparseTensor, guide_logits: torch.Tensor | None = None):
        logits = _subdivision_logits(self, x, guide_logits)
        children = x.replace(logits > 0)
        h = self.conv1(self.updown(x.replace(self.norm1(x.feats, activation="silu")), children))
        h = h.replace(self.norm2(h.feats, activation="silu"))  # drops the pre-norm features before the conv
        h = self.conv2(h)
        out = h.replace(h.feats + self.skip_connection(self.updown(x, children).feats))
        return (out, logits) if self.pred_subdiv else out


BLOCK_TYPES: dict[str, type[nn.Module]] = {
    "SparseConvNeXtBlock3d": SparseConvNeXtBlock3d,
    "SparseResBlockC2S3d": SparseResBlockC2S3d,
    "SparseResBlockS2C3d": SparseResBlockS2C3d,
    "SparseResBlockDownsample3d": SparseResBlockDownsample3d,
    "SparseResBlockUpsample3d": SparseResBlockUpsample3d,
}
UP_BLOCKS = (SparseResBlockC2S3d, SparseResBlockUpsample3d)


def block_class(name: str) -> type[nn.Module]:
    """Look up a block type named in a checkpoint config, with a clear error for unsupported ones."""
    if name not in BLOCK_TYPES:
        raise ValueError(f"unsupported sparse VAE block type {name!r}; supported: {sorted(BLOCK_TYPES)}")
    return BLOCK_TYPES[name]
