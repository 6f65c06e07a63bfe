"""Submanifold sparse 3D convolution module with the neighbour map cached on the input tensor."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..ops.conv import _triple, build_neighbor_map, submanifold_conv3d, submanifold_conv3d_to_children
from ..tensor import SparseTensor


class SparseConv3d(nn.Module):
    """Submanifold conv (output on the input voxels); `weight` [Co, Kx, Ky, Kz, Ci], `bias` [Co] as upstream."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int, int],
                 dilation: int | tuple[int, int, int] = 1, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.dilation = _triple(dilation, "dilation")
        self.weight = nn.Parameter(torch.empty(out_channels, *self.kernel_size, in_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform init with the fan-in of the equivalent dense conv (Ci * Kx * Ky * Kz)."""
        fan_in = self.in_channels * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def neighbor_map(self, x: SparseTensor) -> torch.Tensor:
        """The [N, K] neighbour map of x for this kernel, computed once per coords and cached on x."""
        key = f"submconv_neighbor_map_{self.kernel_size}_dilation{self.dilation}"
        cached = x.get_spatial_cache(key)
        if cached is None:
            cached = build_neighbor_map(x.coords, self.kernel_size, self.dilation)
            x.register_spatial_cache(key, cached)
        return cached

    def forward(self, x: SparseTensor) -> SparseTensor:
        if not isinstance(x, SparseTensor):
            raise TypeError(f"SparseConv3d expects a SparseTensor, got {type(x).__name__}")
        out = submanifold_conv3d(x.feats, x.coords, self.weight, self.bias, self.dilation, self.neighbor_map(x))
        return x.replace(out)

    def to_children(self, x: SparseTensor, parent: torch.Tensor, child: torch.Tensor) -> torch.Tensor:
        """This conv followed by channel-to-spatial onto the children (`parent`, `child`) of x's voxels, as features
        [M, out_channels / 8] (see `sparsetensor.ops.submanifold_conv3d_to_children`)."""
        return submanifold_conv3d_to_children(x.feats, x.coords, self.weight, self.bias, parent, child, self.dilation,
                                              self.neighbor_map(x))
