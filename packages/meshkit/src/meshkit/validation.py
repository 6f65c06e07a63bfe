"""Input checks shared by meshkit: turn numpy arrays or torch tensors into checked numpy arrays and back.

Every public meshkit function calls these first so that bad input fails early with a ValueError/TypeError naming
the problem instead of a deep traceback from native code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np


def is_torch_tensor(value: Any) -> bool:
    """True when ``value`` is a torch tensor (checked without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def to_numpy(value: Any, name: str) -> np.ndarray:
    """Return ``value`` (numpy array, torch tensor on any device, or nested sequence) as a numpy array."""
    if is_torch_tensor(value):
        value = value.detach().cpu()
        # numpy has no bfloat16: widen such tensors (and other non-numpy float types) to float32.
        return value.float().numpy() if value.is_floating_point() and value.element_size() < 4 else value.numpy()
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - any conversion failure becomes one clear message
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(value).__name__}") from exc


def like(result: np.ndarray, reference: Any) -> Any:
    """Return ``result`` as a torch tensor on ``reference``'s device when ``reference`` is a tensor, else as is."""
    if is_torch_tensor(reference):
        import torch

        return torch.from_numpy(np.ascontiguousarray(result)).to(reference.device)
    return result


def float_dtype_of(value: Any) -> np.dtype:
    """The float dtype results derived from ``value`` should carry: its own (numpy/torch) float dtype, else float64."""
    try:
        dtype = np.dtype(str(getattr(value, "dtype", "float64")).replace("torch.", ""))
    except TypeError:  # torch.bfloat16, which numpy lacks: results use float32
        return np.dtype(np.float32)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def check_points(points: Any, name: str = "points", allow_empty: bool = True) -> np.ndarray:
    """Check an (N, 3) array of finite coordinates and return it as a contiguous float64 numpy array."""
    array = to_numpy(points, name)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {tuple(array.shape)}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if not allow_empty and array.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"{name} contains NaN or infinite values (first at row {bad})")
    return array


def check_faces(faces: Any, num_vertices: int, name: str = "faces", allow_empty: bool = False) -> np.ndarray:
    """Check an (F, 3) integer index array referencing ``num_vertices`` vertices; return it as int64."""
    array = to_numpy(faces, name)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (F, 3) (triangles), got {tuple(array.shape)}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer vertex indices, got dtype {array.dtype}")
    if not allow_empty and array.shape[0] == 0:
        raise ValueError(f"{name} is empty: the mesh has no triangles")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_vertices):
        raise ValueError(
            f"{name} index out of range: indices span [{array.min()}, {array.max()}] "
            f"but there are {num_vertices} vertices"
        )
    return array


def check_mesh(vertices: Any, faces: Any, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Check a triangle mesh and return (vertices float64 (V, 3), faces int64 (F, 3)) numpy arrays."""
    v = check_points(vertices, "vertices", allow_empty=allow_empty)
    f = check_faces(faces, v.shape[0], "faces", allow_empty=allow_empty)
    return v, f


def check_positive(value: Any, name: str, allow_zero: bool = False, allow_infinite: bool = False) -> float:
    """Check that ``value`` is a real number > 0 (>= 0 with ``allow_zero``; +inf with ``allow_infinite``)."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from exc
    finite_enough = np.isfinite(number) or (allow_infinite and number == np.inf)
    if not finite_enough or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a number {bound}, got {value}")
    return number


def mesh_function(operation: Callable[..., tuple[np.ndarray, np.ndarray]]) -> Callable[..., tuple[Any, Any]]:
    """Wrap ``operation(vertices, faces, ...)`` written for checked numpy arrays so that it accepts numpy or torch
    input, validates it, and returns (vertices, faces) in the caller's array type, device and vertex dtype."""

    @functools.wraps(operation)
    def wrapper(vertices: Any, faces: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        v, f = check_mesh(vertices, faces)
        new_v, new_f = operation(v, f, *args, **kwargs)
        return like(new_v.astype(float_dtype_of(vertices), copy=False), vertices), like(new_f, faces)

    return wrapper
