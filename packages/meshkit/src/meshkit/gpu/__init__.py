"""GPU (Triton) versions of meshkit's texture-baking kernels: the UV rasterizer and BVH closest-point queries.

They compute the same function as the native CPU code and are used when inputs are CUDA tensors; torch and Triton
stay optional (this package imports them only when a kernel module is loaded).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..validation import is_torch_tensor, to_numpy


def cuda_device(*values: Any) -> Any:
    """The device of the first CUDA tensor among ``values`` when Triton is installed, else None (use the CPU)."""
    for value in values:
        if is_torch_tensor(value) and value.device.type == "cuda":
            return value.device if importlib.util.find_spec("triton") is not None else None
    return None


def on_device(value: Any, device: Any) -> Any:
    """``value`` (numpy array, tensor or sequence) as a torch tensor on ``device``, copied only when needed."""
    import torch

    return value.to(device) if is_torch_tensor(value) else torch.as_tensor(to_numpy(value, "value"), device=device)


def check_device_points(points: Any, name: str = "points") -> Any:
    """Check an (N, 3) tensor of finite coordinates on its device and return it as a contiguous float64 tensor
    (``validation.check_points`` without the copy to the host)."""
    import torch

    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {tuple(points.shape)}")
    if points.dtype == torch.bool or points.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {points.dtype}")
    points = points.to(torch.float64).contiguous()
    finite = torch.isfinite(points).all(1)
    if not bool(finite.all()):
        bad = int(torch.nonzero(~finite)[0, 0])
        raise ValueError(f"{name} contains NaN or infinite values (first at row {bad})")
    return points
