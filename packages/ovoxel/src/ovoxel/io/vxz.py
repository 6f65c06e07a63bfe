"""The .vxz container: a JSON header, then per-chunk sparse-octree geometry and compressed attribute streams.

Layout: b"VXZ", version byte 0, big-endian uint32 offset of the binary section, UTF-8 JSON header, chunk payloads.
Readers return voxels chunk by chunk (chunks in lexicographic order), Morton order inside each chunk.
"""

from __future__ import annotations

import json
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import numpy as np

from .codecs import DEFAULT_LEVELS, compress, decompress
from .filters import FILTERS, apply_deltas, neighbor_predictors, parent_predictors, undo_deltas
from .morton import morton_decode, morton_encode
from .svo import decode_svo, encode_svo

MAGIC = b"VXZ"
VERSION = 0
INTERLEAVES = ("none", "as_is", "all")
RESERVED_NAMES = ("idx", "svo", "ptr")


def _predictors(filter_name: str, codes: np.ndarray, depth: int, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row predictors and slot order of the filtered rows for one chunk (identity order except for `parent`)."""
    if filter_name == "parent":
        return parent_predictors(codes, depth)
    if filter_name == "neighbor":
        return neighbor_predictors(morton_decode(codes), chunk_size), np.arange(codes.size)
    return np.full(codes.size, -1, dtype=np.int64), np.arange(codes.size)


def _stream_layout(attr_spec: list[tuple[str, int]], interleave: str) -> list[tuple[str, int, int]]:
    """(stream name, first column, column count) for each attribute stream of a chunk."""
    layout, column = [], 0
    for name, channels in attr_spec:
        if interleave == "none":
            layout.extend((f"{name}_{c}", column + c, 1) for c in range(channels))
        elif interleave == "as_is":
            layout.append((name, column, channels))
        column += channels
    if interleave == "all":
        layout.append(("attr", 0, column))
    return layout


def _validate_write_args(coords, attrs, chunk_size, filter, compression, attr_interleave):
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"coords must have shape (N, 3), got {coords.shape}")
    if not np.issubdtype(coords.dtype, np.integer):
        raise TypeError(f"coords must be integers, got {coords.dtype}")
    if coords.size and coords.min() < 0:
        raise ValueError("coords must be non-negative for .vxz")
    if chunk_size < 2 or chunk_size > 1024 or chunk_size & (chunk_size - 1):
        raise ValueError(f"chunk_size must be a power of two in [2, 1024], got {chunk_size}")
    if filter not in FILTERS:
        raise ValueError(f"unknown filter {filter!r}; expected one of {FILTERS}")
    if compression not in DEFAULT_LEVELS:
        raise ValueError(f"unknown compression {compression!r}; expected one of {tuple(DEFAULT_LEVELS)}")
    if attr_interleave not in INTERLEAVES:
        raise ValueError(f"unknown attr_interleave {attr_interleave!r}; expected one of {INTERLEAVES}")
    for name, values in attrs.items():
        if name in RESERVED_NAMES or name == "attr":
            raise ValueError(f"attribute name {name!r} is reserved by the .vxz header")
        if values.dtype != np.uint8:
            raise TypeError(f"attribute {name!r} must be uint8 for .vxz, got {values.dtype}")
        if values.ndim != 2 or values.shape[0] != coords.shape[0]:
            raise ValueError(f"attribute {name!r} must have shape (N, C) with N={coords.shape[0]}, got {values.shape}")


def write_vxz(
    file: str | os.PathLike | BinaryIO,
    coords: np.ndarray,
    attrs: dict[str, np.ndarray],
    chunk_size: int = 256,
    filter: str = "none",
    compression: str = "lzma",
    compression_level: int | None = None,
    attr_interleave: str = "as_is",
    num_threads: int = -1,
) -> dict:
    """Write voxels and uint8 attributes as .vxz (defaults: chunk 256, no filter, lzma 9); return the header."""
    coords = np.asarray(coords)
    attrs = {name: np.asarray(values) for name, values in attrs.items()}
    attrs = {name: v[:, None] if v.ndim == 1 else v for name, v in attrs.items()}
    _validate_write_args(coords, attrs, chunk_size, filter, compression, attr_interleave)
    coords = coords.astype(np.int64)
    level = compression_level or DEFAULT_LEVELS[compression]
    depth = int(chunk_size).bit_length() - 1
    attr_spec = [(name, int(values.shape[1])) for name, values in attrs.items()]
    table = np.concatenate(list(attrs.values()), axis=1) if attrs else np.zeros((len(coords), 0), np.uint8)
    layout = _stream_layout(attr_spec, attr_interleave)

    chunk_ids, chunk_of_row = np.unique(coords // chunk_size, axis=0, return_inverse=True)
    chunk_of_row = chunk_of_row.reshape(-1)
    rows_by_chunk = np.split(np.argsort(chunk_of_row, kind="stable"), np.cumsum(np.bincount(chunk_of_row))[:-1])

    def encode_chunk(rows: np.ndarray) -> tuple[dict, bytes]:
        codes = morton_encode(coords[rows] % chunk_size)
        order = np.argsort(codes, kind="stable")
        codes, rows = codes[order], rows[order]
        if np.any(codes[1:] == codes[:-1]):
            raise ValueError("coords contain duplicate voxels; .vxz stores each voxel once")
        predictor, slots = _predictors(filter, codes, depth, chunk_size)
        filtered = np.ascontiguousarray(apply_deltas(table[rows], predictor)[slots])
        streams = [("svo", compress(encode_svo(codes, depth).tobytes(), compression, level))]
        streams += [(name, compress(np.ascontiguousarray(filtered[:, start:start + width]).tobytes(), compression,
                                    level)) for name, start, width in layout]
        entry, offset = {}, 0
        for name, payload in streams:
            entry[name] = [offset, len(payload)]
            offset += len(payload)
        return entry, b"".join(payload for _, payload in streams)

    workers = _thread_count(num_threads)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        encoded = list(pool.map(encode_chunk, rows_by_chunk if len(coords) else []))

    chunks, payloads, position = [], [], 0
    for chunk_id, (entry, payload) in zip(chunk_ids, encoded, strict=True):
        chunks.append({"idx": [int(v) for v in chunk_id], **entry, "ptr": [position, len(payload)]})
        payloads.append(payload)
        position += len(payload)
    raw_size = coords.shape[0] * 3 * 4 + int(table.size)
    header = {
        "num_voxel": int(coords.shape[0]), "chunk_size": int(chunk_size), "filter": filter,
        "compression": compression, "compression_level": int(level), "raw_size": raw_size,
        "compressed_size": position, "compress_ratio": raw_size / position if position else 0.0,
        "attr_interleave": attr_interleave, "attr": [[name, channels] for name, channels in attr_spec],
        "chunks": chunks,
    }
    header_bytes = json.dumps(header).encode()
    blob = MAGIC + bytes([VERSION]) + struct.pack(">I", 8 + len(header_bytes)) + header_bytes + b"".join(payloads)
    _write_bytes(file, blob)
    return header


def _thread_count(num_threads: int) -> int:
    """Worker threads for per-chunk coding: `num_threads`, or every CPU when it is <= 0."""
    return num_threads if num_threads > 0 else (os.cpu_count() or 1)


def _write_bytes(file: str | os.PathLike | BinaryIO, blob: bytes) -> None:
    if hasattr(file, "write"):
        file.write(blob)
        return
    with open(file, "wb") as handle:
        handle.write(blob)


def _read_header(file: str | os.PathLike | BinaryIO, whole: bool) -> tuple[dict, bytes, int]:
    """Parse the fixed prefix and JSON header; with `whole`, also return the rest of the file."""
    if hasattr(file, "read"):
        data = file.read() if whole else file.read(8)
        handle = file
    else:
        handle = open(file, "rb")
        data = handle.read() if whole else handle.read(8)
    try:
        if len(data) < 8 or data[:3] != MAGIC:
            raise ValueError("not a .vxz file (missing 'VXZ' magic or file too short)")
        if data[3] != VERSION:
            raise ValueError(f"unsupported .vxz version {data[3]}")
        (bin_start,) = struct.unpack(">I", data[4:8])
        if not whole:
            data += handle.read(bin_start - 8)
    finally:
        if handle is not file:
            handle.close()
    if bin_start < 8 or len(data) < bin_start:
        raise ValueError(".vxz file is truncated inside its header")
    try:
        header = json.loads(data[8:bin_start].decode())
        for key in ("num_voxel", "chunk_size", "filter", "compression", "attr_interleave", "attr", "chunks"):
            header[key]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"corrupt .vxz header: {exc}") from None
    return header, data, bin_start


def read_vxz_info(file: str | os.PathLike | BinaryIO) -> dict:
    """Return the JSON header of a .vxz file, reading only the header bytes."""
    return _read_header(file, whole=False)[0]


def read_vxz(file: str | os.PathLike | BinaryIO, num_threads: int = -1) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Decode a .vxz file into int32 (N, 3) coordinates and a dict of uint8 (N, C) attributes."""
    header, data, bin_start = _read_header(file, whole=True)
    chunk_size, codec = int(header["chunk_size"]), header["compression"]
    level, filter_name = header.get("compression_level") or DEFAULT_LEVELS.get(codec, 0), header["filter"]
    if chunk_size < 2 or chunk_size & (chunk_size - 1) or filter_name not in FILTERS:
        raise ValueError("corrupt .vxz header: bad chunk_size or filter")
    if header["attr_interleave"] not in INTERLEAVES:
        raise ValueError(f"corrupt .vxz header: unknown attr_interleave {header['attr_interleave']!r}")
    depth = chunk_size.bit_length() - 1
    attr_spec = [(str(name), int(channels)) for name, channels in header["attr"]]
    total_channels = sum(channels for _, channels in attr_spec)
    layout = _stream_layout(attr_spec, header["attr_interleave"])
    binary = memoryview(data)[bin_start:]

    def stream(chunk: dict, name: str) -> bytes:
        start, length = chunk["ptr"][0] + chunk[name][0], chunk[name][1]
        if start + length > min(len(binary), chunk["ptr"][0] + chunk["ptr"][1]):
            raise ValueError(f".vxz file is truncated (stream {name!r} of chunk {chunk['idx']})")
        return decompress(binary[start:start + length], codec, level)

    def decode_chunk(chunk: dict) -> tuple[np.ndarray, np.ndarray]:
        try:
            codes = decode_svo(np.frombuffer(stream(chunk, "svo"), dtype=np.uint8), depth)
            filtered = np.zeros((codes.size, total_channels), dtype=np.uint8)
            for name, start, width in layout:
                column = np.frombuffer(stream(chunk, name), dtype=np.uint8)
                if column.size != codes.size * width:
                    raise ValueError(f"stream {name!r} holds {column.size} bytes, expected {codes.size * width}")
                filtered[:, start:start + width] = column.reshape(codes.size, width)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"corrupt .vxz chunk entry {chunk!r}: {exc}") from None
        predictor, slots = _predictors(filter_name, codes, depth, chunk_size)
        deltas = np.empty_like(filtered)
        deltas[slots] = filtered
        local = morton_decode(codes)
        return local + np.asarray(chunk["idx"], dtype=np.int32) * chunk_size, undo_deltas(deltas, predictor)

    workers = _thread_count(num_threads)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(decode_chunk, header["chunks"]))
    coords = np.concatenate([c for c, _ in decoded]) if decoded else np.zeros((0, 3), np.int32)
    table = np.concatenate([t for _, t in decoded]) if decoded else np.zeros((0, total_channels), np.uint8)
    if coords.shape[0] != header["num_voxel"]:
        raise ValueError(f".vxz decoded {coords.shape[0]} voxels but its header says {header['num_voxel']}")
    attrs, column = {}, 0
    for name, channels in attr_spec:
        attrs[name] = np.ascontiguousarray(table[:, column:column + channels])
        column += channels
    return coords.astype(np.int32), attrs
