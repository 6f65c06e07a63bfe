"""Flow transformers of TRELLIS.2: the dense sparse-structure DiT and the sparse structured-latent DiT."""

from .slat_flow import ElasticSLatFlowModel, SLatFlowModel
from .ss_flow import SparseStructureFlowModel

__all__ = ["ElasticSLatFlowModel", "SLatFlowModel", "SparseStructureFlowModel"]
