"""ovoxel: see the package README for the public API."""

from importlib.metadata import version as _dist_version

from . import _core, postprocess  # noqa: F401
from .convert import (  # noqa: F401
    flexible_dual_grid_to_mesh,
    mesh_to_flexible_dual_grid,
    textured_mesh_to_volumetric_attr,
)
from .ovoxel_build import mesh_to_ovoxel, ovoxel_to_mesh  # noqa: F401

__version__ = _dist_version("ovoxel")


def native_threads() -> int:
    """Number of CPU threads the compiled extension may use (1 when built without OpenMP)."""
    return _core.max_threads()
