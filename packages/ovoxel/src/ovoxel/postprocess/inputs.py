"""Check and normalise `to_glb`'s inputs (numpy arrays or torch tensors on any device) into one `BakeInputs`."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np

PBR_LAYOUT = {"base_color": slice(0, 3), "metallic": slice(3, 4), "roughness": slice(4, 5), "alpha": slice(5, 6)}
"""Upstream's attribute layout (`pipeline.pbr_attr_layout`): every key is required, with these channel widths."""


def is_tensor(value: Any) -> bool:
    """True for a torch tensor, checked without importing torch."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def as_numpy(value: Any) -> np.ndarray:
    """A numpy view of an array, sequence or (possibly CUDA, possibly bfloat16) torch tensor."""
    if is_tensor(value):
        value = value.detach().cpu()
        return value.float().numpy() if value.is_floating_point() and value.element_size() < 4 else value.numpy()
    return np.asarray(value)


def bake_device(*values: Any) -> Any:
    """The device of the first CUDA tensor among `values` when Triton and sparsetensor are installed (the GPU
    bake's needs), else None: the bake then runs on the CPU."""
    for value in values:
        if is_tensor(value) and value.device.type == "cuda":
            needed = ("triton", "sparsetensor")
            return value.device if all(importlib.util.find_spec(name) is not None for name in needed) else None
    return None


@dataclass(frozen=True)
class BakeInputs:
    """Validated inputs: the mesh in float64/int64 numpy, the grid (aabb, voxel size, integer grid size), the
    attribute volume as given (`coords` without a batch column), kept on its device for the sampler, and the
    device the texture bake runs on (None: the CPU)."""

    vertices: np.ndarray
    faces: np.ndarray
    coords: Any
    attr_volume: Any
    layout: dict[str, slice]
    aabb: np.ndarray
    voxel_size: np.ndarray
    grid_size: np.ndarray
    device: Any = None


def _mesh(vertices: Any, faces: Any) -> tuple[np.ndarray, np.ndarray]:
    v, f = as_numpy(vertices), as_numpy(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {tuple(v.shape)}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {tuple(f.shape)}")
    if len(v) == 0 or len(f) == 0:
        raise ValueError(f"the mesh is empty ({len(v)} vertices, {len(f)} faces): nothing to export")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must hold integer vertex indices, got dtype {f.dtype}")
    v = v.astype(np.float64)
    if not np.isfinite(v).all():
        raise ValueError("vertices contain NaN or infinite values")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"faces reference vertices outside [0, {len(v)}): range [{f.min()}, {f.max()}]")
    return v, f.astype(np.int64)


def _volume(coords: Any, attr_volume: Any) -> tuple[Any, Any]:
    """Drop a batch column from (N, 4) coords (one batch item only) and check the shapes agree."""
    shape, attr_shape = tuple(coords.shape), tuple(attr_volume.shape)
    if len(shape) != 2 or shape[1] not in (3, 4):
        raise ValueError(f"coords must have shape (N, 3), or (N, 4) with a leading batch column, got {shape}")
    if len(attr_shape) != 2:
        raise ValueError(f"attr_volume must have shape (N, C), got {attr_shape}")
    if shape[0] != attr_shape[0]:
        raise ValueError(f"attr_volume has {attr_shape[0]} rows but coords has {shape[0]}: they must match")
    if shape[0] == 0:
        raise ValueError("the attribute volume is empty (no voxels)")
    if shape[1] == 4:
        batch = as_numpy(coords[:, 0])
        if batch.min() != batch.max():
            raise ValueError("coords hold several batch items; pass one item's voxels at a time")
        coords = coords[:, 1:]
    dtype = str(attr_volume.dtype)
    if not any(kind in dtype for kind in ("float", "uint8")):
        raise ValueError(f"attr_volume must be float in [0, 1] (or uint8 0-255), got dtype {dtype}")
    if "uint8" in dtype:
        attr_volume = attr_volume / 255.0
    return coords, attr_volume


def _layout(layout: Any, channels: int) -> dict[str, slice]:
    if not isinstance(layout, dict):
        raise ValueError(f"attr_layout must be a dict name -> slice, got {type(layout).__name__}")
    missing = [name for name in PBR_LAYOUT if name not in layout]
    if missing:
        raise ValueError(f"attr_layout lacks {', '.join(missing)} (needs {', '.join(PBR_LAYOUT)})")
    out = {}
    for name, default in PBR_LAYOUT.items():
        part = layout[name]
        if not isinstance(part, slice):
            raise ValueError(f"attr_layout[{name!r}] must be a slice, got {part!r}")
        width, needed = len(range(channels)[part]), default.stop - default.start
        if width != needed:
            raise ValueError(f"attr_layout[{name!r}] = {part} selects {width} of the volume's {channels} channels, "
                             f"needs {needed}")
        out[name] = part
    return out


def _grid(aabb: Any, voxel_size: Any, grid_size: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    box = as_numpy(aabb).astype(np.float64)
    if box.shape != (2, 3):
        raise ValueError(f"aabb must have shape (2, 3) ([[xmin, ymin, zmin], [xmax, ymax, zmax]]), got {box.shape}")
    if not np.isfinite(box).all() or np.any(box[1] <= box[0]):
        raise ValueError(f"aabb must be finite with max > min on every axis, got {box.tolist()}")
    extent = box[1] - box[0]
    if voxel_size is not None:
        size = np.broadcast_to(as_numpy(voxel_size).astype(np.float64).reshape(-1), (3,)).copy()
        if not np.isfinite(size).all() or np.any(size <= 0):
            raise ValueError(f"voxel_size must be positive, got {size.tolist()}")
        grid = np.maximum(np.round(extent / size), 1).astype(np.int64)
    elif grid_size is not None:
        grid = np.broadcast_to(as_numpy(grid_size).reshape(-1), (3,)).astype(np.int64)
        if np.any(grid < 1):
            raise ValueError(f"grid_size must be positive, got {grid.tolist()}")
        size = extent / grid
    else:
        raise ValueError("either voxel_size or grid_size must be given")
    return box, size, grid


def check_inputs(vertices: Any, faces: Any, attr_volume: Any, coords: Any, attr_layout: Any, aabb: Any,
                 voxel_size: Any, grid_size: Any) -> BakeInputs:
    """Validate everything `to_glb` receives; every problem becomes one ValueError naming it."""
    v, f = _mesh(vertices, faces)
    if not hasattr(coords, "shape") or not hasattr(attr_volume, "shape"):
        coords, attr_volume = np.asarray(coords), np.asarray(attr_volume)
    coords, attr_volume = _volume(coords, attr_volume)
    layout = _layout(attr_layout, int(attr_volume.shape[1]))
    box, size, grid = _grid(aabb, voxel_size, grid_size)
    return BakeInputs(v, f, coords, attr_volume, layout, box, size, grid,
                      bake_device(vertices, faces, attr_volume, coords))
