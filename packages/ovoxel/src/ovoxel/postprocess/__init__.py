"""Post-processing of decoded O-Voxels: `to_glb` turns an extracted mesh and its PBR attribute volume into a
textured GLB (built on meshkit; numpy only, the texture bake on the GPU when given CUDA tensors)."""

from .chain import to_glb
from .inputs import PBR_LAYOUT
from .result import TexturedMesh
from .sampling import SparseVolumeSampler, make_sampler

__all__ = ["PBR_LAYOUT", "SparseVolumeSampler", "TexturedMesh", "make_sampler", "to_glb"]
