"""nn.Modules over sparse tensors, named and parameterised like upstream so checkpoints load unchanged."""

from .basic import (
                    SparseGELU,
                    SparseGroupNorm,
                    SparseGroupNorm32,
                    SparseLayerNorm,
                    SparseLayerNorm32,
                    SparseLinear,
                    SparseReLU,
                    SparseSiLU,
)
from .conv import SparseConv3d
from .resample import SparseChannel2Spatial, SparseDownsample, SparseSpatial2Channel, SparseUpsample
from .rope import SparseRotaryPositionEmbedder

__all__ = [
    "SparseChannel2Spatial",
    "SparseConv3d",
    "SparseDownsample",
    "SparseGELU",
    "SparseGroupNorm",
    "SparseGroupNorm32",
    "SparseLayerNorm",
    "SparseLayerNorm32",
    "SparseLinear",
    "SparseReLU",
    "SparseRotaryPositionEmbedder",
    "SparseSiLU",
    "SparseSpatial2Channel",
    "SparseUpsample",
]
