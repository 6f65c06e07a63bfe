"""The .npz voxel format: uint16 `coord` plus one array per attribute, as upstream writes it."""

from __future__ import annotations

import os

import numpy as np


def write_npz(file: str | os.PathLike, coords: np.ndarray, attrs: dict[str, np.ndarray], compress: bool = True) -> None:
    """Store coordinates as uint16 (refusing values outside [0, 65535]) and each attribute in its own dtype."""
    coords = np.asarray(coords)
    if coords.size and (coords.min() < 0 or coords.max() > np.iinfo(np.uint16).max):
        raise ValueError("coords must lie in [0, 65535] for .npz (stored as uint16)")
    if "coord" in attrs:
        raise ValueError("attribute name 'coord' is reserved by the .npz format")
    save = np.savez_compressed if compress else np.savez
    save(file, coord=coords.astype(np.uint16), **{name: np.asarray(v) for name, v in attrs.items()})


def read_npz(file: str | os.PathLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Load int32 coordinates and the attribute arrays of a .npz voxel file."""
    try:
        with np.load(file) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"cannot read .npz voxel file {file}: {exc}") from None
    if "coord" not in arrays:
        raise ValueError(f"{file} has no 'coord' array; not an O-Voxel .npz")
    return arrays.pop("coord").astype(np.int32), arrays
