"""Mesh <-> O-Voxel conversions."""

from .flexible_dual_grid import flexible_dual_grid_to_mesh, mesh_to_flexible_dual_grid
from .volumetric_attr import textured_mesh_to_volumetric_attr

__all__ = ["flexible_dual_grid_to_mesh", "mesh_to_flexible_dual_grid", "textured_mesh_to_volumetric_attr"]
