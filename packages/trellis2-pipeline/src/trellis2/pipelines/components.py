"""Build the conditioning and background-removal components named in pipeline.json (implemented in trellis2_models)."""

from __future__ import annotations

import importlib
from typing import Any

#: pipeline.json component name -> "module:attribute"; "BiRefNet" is the upstream name of the matting model.
COMPONENT_CLASSES: dict[str, str] = {
    "DinoV3FeatureExtractor": "trellis2_models.conditioning:DinoV3FeatureExtractor",
    "BiRefNet": "trellis2_models.rembg:BackgroundRemover",
    "BackgroundRemover": "trellis2_models.rembg:BackgroundRemover",
}

#: MIT-licensed drop-in for the gated, non-commercial briaai/RMBG-2.0 named in the official pipeline.json.
DEFAULT_MATTING_MODEL = "ZhengPeng7/BiRefNet"


def build_component(section: dict[str, Any], model_name: str | None = None) -> Any:
    """Instantiate a `{"name", "args"}` component section, optionally replacing its `model_name` argument."""
    name = section.get("name")
    if name not in COMPONENT_CLASSES:
        raise ValueError(f"unknown pipeline component {name!r}; known: {', '.join(sorted(COMPONENT_CLASSES))}")
    module_name, _, attribute = COMPONENT_CLASSES[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ImportError(f"pipeline component {name} is unavailable ({error}); update trellis2-models") from None
    args = dict(section.get("args", {}))
    if model_name is not None:
        args["model_name"] = model_name
    return cls(**args)
