"""Image-to-3D pipelines and their samplers."""

from . import samplers
from .errors import StageOutOfMemoryError
from .pipeline_types import PIPELINE_TYPES
from .trellis2_image_to_3d import Trellis2ImageTo3DPipeline

__all__ = ["PIPELINE_TYPES", "StageOutOfMemoryError", "Trellis2ImageTo3DPipeline", "samplers"]
