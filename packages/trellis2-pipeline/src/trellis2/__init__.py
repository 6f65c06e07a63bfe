"""trellis2: the TRELLIS.2 image-to-3D pipeline, CLI and web service; see the package README."""

from importlib.metadata import version as _dist_version

__version__ = _dist_version("trellis2-pipeline")
