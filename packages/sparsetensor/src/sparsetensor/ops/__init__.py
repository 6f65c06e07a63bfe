"""Functional sparse operators: submanifold convolution, neighbour maps and variable-length attention."""

from .attention import attention_backend, scaled_dot_product_attention
from .conv import build_neighbor_map, kernel_offsets, submanifold_conv3d
from .fused_norm import gated_residual, layer_norm
from .fused_rope import rms_norm_rope
from .sampling import sample_sparse_volume
from .serialize import decode_seq, encode_seq
from .windowed_attention import (
                                 serialized_partition,
                                 serialized_self_attention,
                                 window_partition,
                                 windowed_cross_attention,
                                 windowed_self_attention,
)

__all__ = [
    "attention_backend",
    "build_neighbor_map",
    "decode_seq",
    "encode_seq",
    "gated_residual",
    "kernel_offsets",
    "layer_norm",
    "rms_norm_rope",
    "sample_sparse_volume",
    "scaled_dot_product_attention",
    "serialized_partition",
    "serialized_self_attention",
    "submanifold_conv3d",
    "window_partition",
    "windowed_cross_attention",
    "windowed_self_attention",
]
