"""trellis2_models: TRELLIS.2 networks and strict checkpoint loading; see the package README."""

from importlib.metadata import version as _dist_version

from .loading import from_pretrained

__version__ = _dist_version("trellis2-models")

__all__ = ["from_pretrained"]
