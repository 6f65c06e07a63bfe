"""Preview rendering of generated meshes on the CPU: environment maps and the PBR mesh renderer."""

from .envmap import BUILTIN_ENVMAPS, EnvMap
from .pbr_mesh_renderer import PreparedMesh, prepare_mesh, render_pbr, vertex_attributes

__all__ = ["BUILTIN_ENVMAPS", "EnvMap", "PreparedMesh", "prepare_mesh", "render_pbr", "vertex_attributes"]
