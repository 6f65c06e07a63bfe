"""meshkit: see the package README for the public API."""

from importlib.metadata import version as _dist_version

from . import _core, cleanup, render
from .bake import BakeResult, bake_attributes
from .bvh import BVH
from .gltf import PBRMaterial, write_glb, write_obj, write_ply
from .holes import fill_holes
from .mesh import Mesh, vertex_normals
from .raster import rasterize_uv
from .remesh import remesh_narrow_band_dc
from .simplify import SimplifyResult, simplify
from .uv import UVUnwrap, unwrap_uv

__version__ = _dist_version("meshkit")

__all__ = [
    "BVH",
    "BakeResult",
    "Mesh",
    "PBRMaterial",
    "SimplifyResult",
    "UVUnwrap",
    "bake_attributes",
    "cleanup",
    "fill_holes",
    "native_threads",
    "rasterize_uv",
    "remesh_narrow_band_dc",
    "render",
    "simplify",
    "unwrap_uv",
    "vertex_normals",
    "write_glb",
    "write_obj",
    "write_ply",
]


def native_threads() -> int:
    """Number of CPU threads the compiled extension may use (1 when built without OpenMP)."""
    return _core.max_threads()
