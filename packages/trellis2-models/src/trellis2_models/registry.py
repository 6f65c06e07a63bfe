"""Name -> class registry used by `from_pretrained` to turn a checkpoint's `"name"` into a model class.

Classes are listed as import strings and imported on first use, like upstream's `trellis2.models`, so that one
broken or optional module never prevents loading the others.

To register a new model class add ONE line to `MODEL_CLASSES` below: `"UpstreamClassName": "module.path:Attribute"`.
The key must be the class name used in the checkpoint JSON; aliases simply point at the same attribute.

What `trellis2_models.loading` uses from a registered class (besides `cls(**config["args"])`, run on the meta
device, and the strict state-dict load): `convert_to(dtype)` for `from_pretrained(..., dtype=...)`, and, only if
some state-dict entries are computed rather than stored, `computed_buffers: tuple[str, ...]` plus
`init_computed_buffers(device)` that fills them after loading.
"""

from __future__ import annotations

import importlib

from torch import nn

MODEL_CLASSES: dict[str, str] = {
    "SparseStructureFlowModel": "trellis2_models.flows.ss_flow:SparseStructureFlowModel",
    "SLatFlowModel": "trellis2_models.flows.slat_flow:SLatFlowModel",
    "ElasticSLatFlowModel": "trellis2_models.flows.slat_flow:SLatFlowModel",
    "SparseStructureDecoder": "trellis2_models.ss_vae:SparseStructureDecoder",
    "SparseStructureEncoder": "trellis2_models.ss_vae:SparseStructureEncoder",
    "FlexiDualGridVaeDecoder": "trellis2_models.sc_vaes:FlexiDualGridVaeDecoder",
    "FlexiDualGridVaeEncoder": "trellis2_models.sc_vaes:FlexiDualGridVaeEncoder",
    "SparseUnetVaeDecoder": "trellis2_models.sc_vaes:SparseUnetVaeDecoder",
    "SparseUnetVaeEncoder": "trellis2_models.sc_vaes:SparseUnetVaeEncoder",
}


def resolve_model_class(name: str) -> type[nn.Module]:
    """Return the model class registered under `name` (a checkpoint JSON's "name"), importing its module lazily."""
    if name not in MODEL_CLASSES:
        raise ValueError(f"unknown model class {name!r} in checkpoint config; registered: {sorted(MODEL_CLASSES)}")
    module_name, _, attribute = MODEL_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
