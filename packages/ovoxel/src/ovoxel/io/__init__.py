"""O-Voxel file formats (.vxz, .npz, .ply): `read`, `write` and `read_info` pick the format from the extension."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .npz import read_npz, write_npz
from .ply import read_ply, write_ply
from .vxz import read_vxz, read_vxz_info, write_vxz

__all__ = ["read", "write", "read_info", "read_vxz", "write_vxz", "read_vxz_info", "read_npz", "write_npz",
           "read_ply", "write_ply"]

_READERS = {".vxz": read_vxz, ".npz": read_npz, ".ply": read_ply}
_WRITERS = {".vxz": write_vxz, ".npz": write_npz, ".ply": write_ply}


def _suffix(path: str | os.PathLike, table: dict) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in table:
        raise ValueError(f"unsupported voxel file extension {suffix!r} for {path}; expected one of {sorted(table)}")
    return suffix


def _as_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def read(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read int32 (N, 3) voxel coordinates and a {name: (N, C)} attribute dict from .vxz, .npz or .ply."""
    reader = _READERS[_suffix(path, _READERS)]
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such voxel file: {path}")
    return reader(path)


def write(path: str | os.PathLike, coords, attrs: dict, **options) -> None:
    """Write voxel coordinates and attributes (numpy arrays or CPU tensors); options go to the format's writer."""
    writer = _WRITERS[_suffix(path, _WRITERS)]
    writer(path, _as_numpy(coords), {name: _as_numpy(values) for name, values in attrs.items()}, **options)


def read_info(path: str | os.PathLike) -> dict:
    """Summarise a voxel file without decoding its payload: the .vxz header, or voxel count and attributes."""
    suffix = _suffix(path, _READERS)
    if suffix == ".vxz":
        return read_vxz_info(path)
    coords, attrs = _READERS[suffix](path)
    return {"num_voxel": int(coords.shape[0]), "attr": [[name, int(v.shape[1]) if v.ndim > 1 else 1]
                                                         for name, v in attrs.items()]}
