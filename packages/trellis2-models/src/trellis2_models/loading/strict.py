"""Strict, single-copy loading of a safetensors file into a model built on the meta device."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from .errors import CheckpointMismatchError


def computed_buffer_names(model: nn.Module) -> set[str]:
    """State-dict names a checkpoint may omit because the model recomputes them (class attr `computed_buffers`)."""
    return set(getattr(model, "computed_buffers", ()))


def load_weights_strict(model: nn.Module, weights_path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Load `weights_path` into `model` (typically on the meta device), reading each tensor straight onto `device`.

    Every model tensor must be present with the model's shape, except documented computed buffers, and the file
    may hold nothing else; otherwise `CheckpointMismatchError` names the offending tensors. Each tensor is cast to
    the dtype the model holds it in and assigned in place of the placeholder, so no second copy is ever built.
    """
    device = torch.device(device)
    expected = model.state_dict(keep_vars=True)
    computed = computed_buffer_names(model)
    state: dict[str, torch.Tensor] = {}
    with safe_open(str(weights_path), framework="pt", device=str(device)) as stored:
        stored_keys = set(stored.keys())
        missing = sorted(key for key in expected if key not in stored_keys and key not in computed)
        unexpected = sorted(stored_keys - expected.keys())
        mis_shaped = []
        for key in sorted(stored_keys & expected.keys()):
            shape = tuple(stored.get_slice(key).get_shape())
            if shape != tuple(expected[key].shape):
                mis_shaped.append((key, shape, tuple(expected[key].shape)))
        if missing or unexpected or mis_shaped:
            raise CheckpointMismatchError(missing, unexpected, mis_shaped, source=str(weights_path))
        for key in stored_keys:
            state[key] = stored.get_tensor(key).to(expected[key].dtype)
    model.load_state_dict(state, strict=False, assign=True)
    del state
    absent_computed = computed - stored_keys
    if absent_computed:
        model.init_computed_buffers(device)
    _check_materialized(model)
    return model


def _check_materialized(model: nn.Module) -> None:
    """Fail loudly if any tensor was left on the meta device (a model class that does not declare a buffer)."""
    leftovers = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftovers:
        raise RuntimeError(f"{type(model).__name__}: tensors not loaded or computed: {', '.join(leftovers)}")
