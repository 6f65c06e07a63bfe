"""Loading of third-party transformers models (DINOv3, BiRefNet) with actionable errors instead of stack traces."""

from __future__ import annotations

from typing import Any

from torch import nn

from .loading.errors import CheckpointAccessError

_GATED_MARKERS = ("gated", "401", "403", "restricted")


def load_transformers_model(auto_class: str, model_name: str, **kwargs: Any) -> nn.Module:
    """Load `model_name` (hub id or local folder) through `transformers.<auto_class>` in eval mode.

    Raises ImportError naming the extra when transformers is absent and CheckpointAccessError (a PermissionError)
    telling the user how to get access when the repo is gated.
    """
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            f"loading {model_name!r} needs transformers>=4.56: pip install 'trellis2-models[conditioning]'"
        ) from error
    try:
        model = getattr(transformers, auto_class).from_pretrained(model_name, **kwargs)
    except OSError as error:
        if any(marker in str(error).lower() for marker in _GATED_MARKERS):
            raise CheckpointAccessError(
                f"{model_name!r} is a gated or private Hugging Face repo: accept its licence on huggingface.co and "
                "log in (`hf auth login` or the HF_TOKEN variable), or pass a local folder with the model instead"
            ) from error
        raise
    return model.eval()
