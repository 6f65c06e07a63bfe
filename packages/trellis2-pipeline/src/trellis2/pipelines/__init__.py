"""Image-to-3D pipelines and their samplers."""

from . import samplers

__all__ = ["samplers"]
