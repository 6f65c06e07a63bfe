"""Mesh <-> O-Voxel conversions."""

from .volumetric_attr import textured_mesh_to_volumetric_attr

__all__ = ["textured_mesh_to_volumetric_attr"]
