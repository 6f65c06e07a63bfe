"""Build models from `{"name", "args"}` configs and load them with `from_pretrained`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..precision import parse_dtype
from ..registry import resolve_model_class
from .files import resolve_checkpoint_files
from .strict import load_weights_strict


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint config JSON of the form `{"name": CLASS, "args": {...}}`."""
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    if (
        not isinstance(config, dict)
        or not isinstance(config.get("name"), str)
        or not isinstance(config.get("args", {}), dict)
    ):
        raise ValueError(f"{path}: a checkpoint config must be a JSON object {{'name': str, 'args': {{...}}}}")
    return config


def build_model(
    config: dict[str, Any], device: torch.device | str = "meta", dtype: str | torch.dtype | None = None
) -> nn.Module:
    """Instantiate the registered class named by `config["name"]` with `config["args"]` on `device`.

    `dtype` overrides the torso precision of the config (float32 runs the whole model in float32); the class must
    provide `convert_to(dtype)` for that.
    """
    cls = resolve_model_class(config["name"])
    args = config.get("args", {})
    with torch.device(device):
        try:
            model = cls(**args)
        except TypeError as error:
            raise ValueError(f"invalid args for {config['name']}: {error}") from None
    if dtype is not None:
        if not hasattr(model, "convert_to"):
            raise TypeError(f"{config['name']} has no convert_to(dtype); it cannot be built in {dtype}")
        model.convert_to(parse_dtype(dtype))
    return model


def from_pretrained(
    ref: str | Path,
    device: torch.device | str | None = None,
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
) -> nn.Module:
    """Load a TRELLIS.2 checkpoint: local prefix `dir/ckpts/NAME` or hub reference `owner/repo/path/NAME`.

    The model is built on the meta device and the weights are read directly onto `device` (default CPU) in the
    dtype each module holds them in; loading is strict (see `load_weights_strict`). `dtype=torch.float32` runs
    the whole model in float32, another float dtype changes only the mixed-precision torso. Returns it in eval mode.
    """
    config_path, weights_path = resolve_checkpoint_files(ref, revision=revision)
    model = build_model(load_config(config_path), device="meta", dtype=dtype)
    load_weights_strict(model, weights_path, device=torch.device(device) if device is not None else "cpu")
    return model.eval()
