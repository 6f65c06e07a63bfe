"""TRELLIS.2 sparse-convolution VAEs: the flexible-dual-grid shape VAE and the sparse U-Net texture VAE."""

from .fdg import DualGrid, FlexiDualGridVaeDecoder, FlexiDualGridVaeEncoder
from .unet import SparseUnetVaeDecoder, SparseUnetVaeEncoder

__all__ = [
    "DualGrid",
    "FlexiDualGridVaeDecoder",
    "FlexiDualGridVaeEncoder",
    "SparseUnetVaeDecoder",
    "SparseUnetVaeEncoder",
]
