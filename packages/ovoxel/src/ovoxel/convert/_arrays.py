"""Accept numpy arrays or torch tensors and hand results back in the caller's kind and device."""

from __future__ import annotations

import numpy as np


def is_tensor(x) -> bool:
    """True for a torch tensor (without importing torch when the caller never did)."""
    return type(x).__module__.startswith("torch")


def to_numpy(x, dtype=None) -> np.ndarray:
    """A numpy copy-free view of a numpy array or a (possibly GPU) torch tensor."""
    if is_tensor(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def like(template, *arrays):
    """Return arrays as torch tensors on template's device when template is a tensor, else unchanged."""
    if not is_tensor(template):
        return arrays
    import torch

    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(template.device) for a in arrays)
