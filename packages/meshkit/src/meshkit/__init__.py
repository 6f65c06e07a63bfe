"""meshkit: see the package README for the public API."""

from importlib.metadata import version as _dist_version

from . import _core
from .bvh import BVH
from .holes import fill_holes
from .mesh import Mesh, vertex_normals
from .simplify import SimplifyResult, simplify

__version__ = _dist_version("meshkit")

__all__ = ["BVH", "Mesh", "fill_holes", "native_threads", "simplify", "SimplifyResult", "vertex_normals"]


def native_threads() -> int:
    """Number of CPU threads the compiled extension may use (1 when built without OpenMP)."""
    return _core.max_threads()
