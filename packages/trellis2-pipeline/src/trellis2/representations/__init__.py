"""Output representations of the pipelines."""

from .mesh_with_voxel import PBR_ATTR_LAYOUT, MeshWithVoxel

__all__ = ["PBR_ATTR_LAYOUT", "MeshWithVoxel"]
