"""The .ply voxel format: one binary little-endian `vertex` element, float32 x/y/z then `{name}_{channel}` columns."""

from __future__ import annotations

import os

import numpy as np

_PLY_TYPES = {"u1": "uchar", "u2": "ushort", "u4": "uint", "i1": "char", "i2": "short", "i4": "int",
              "f4": "float", "f8": "double"}
_PLY_NAMES = {**{v: k for k, v in _PLY_TYPES.items()}, "uint8": "u1", "uint16": "u2", "uint32": "u4", "int8": "i1",
              "int16": "i2", "int32": "i4", "float32": "f4", "float64": "f8"}


def write_ply(file: str | os.PathLike, coords: np.ndarray, attrs: dict[str, np.ndarray]) -> None:
    """Write voxel centres (integer coordinates as float32) with attribute channels as vertex properties."""
    coords = np.asarray(coords)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    columns = [coords[:, 0], coords[:, 1], coords[:, 2]]
    for name, values in attrs.items():
        values = np.asarray(values)
        values = values[:, None] if values.ndim == 1 else values
        kind = values.dtype.str[1:]
        if kind not in _PLY_TYPES:
            raise TypeError(f"attribute {name!r} has dtype {values.dtype}, which PLY cannot store")
        for channel in range(values.shape[1]):
            fields.append((f"{name}_{channel}", "<" + kind))
            columns.append(values[:, channel])
    table = np.empty(len(coords), dtype=fields)
    for (field, _), column in zip(fields, columns, strict=True):
        table[field] = column
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {len(coords)}"]
    lines += [f"property {_PLY_TYPES[kind[1:]]} {field}" for field, kind in fields] + ["end_header"]
    with open(file, "wb") as handle:
        handle.write(("\n".join(lines) + "\n").encode("ascii"))
        handle.write(table.tobytes())


def read_ply(file: str | os.PathLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read a voxel .ply written by `write_ply`: int32 rounded coordinates and attributes grouped by name prefix."""
    with open(file, "rb") as handle:
        data = handle.read()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError(f"{file} is not a PLY file (missing 'ply' magic or header end)")
    fields, count = [], None
    for line in data[:end].decode("ascii", errors="replace").splitlines()[1:]:
        words = line.split()
        if words[:1] == ["format"] and words[1] != "binary_little_endian":
            raise ValueError(f"{file}: only binary_little_endian voxel PLY files are supported")
        if words[:2] == ["element", "vertex"]:
            count = int(words[2])
        elif words[:1] == ["property"] and words[1] in _PLY_NAMES:
            fields.append((words[2], "<" + _PLY_NAMES[words[1]]))
    if count is None or [f for f, _ in fields[:3]] != ["x", "y", "z"]:
        raise ValueError(f"{file} has no vertex element with x, y, z properties")
    dtype = np.dtype(fields)
    body = data[end + len(b"end_header\n"):]
    if len(body) < count * dtype.itemsize:
        raise ValueError(f"{file} is truncated: {count} vertices need {count * dtype.itemsize} bytes")
    table = np.frombuffer(body, dtype=dtype, count=count)
    coords = np.rint(np.stack([table["x"], table["y"], table["z"]], axis=1)).astype(np.int32)
    groups: dict[str, list[np.ndarray]] = {}
    for field, _ in fields[3:]:
        groups.setdefault(field.rsplit("_", 1)[0], []).append(table[field])
    return coords, {name: np.stack(columns, axis=1) for name, columns in groups.items()}
