"""Reader for Radiance RGBE (`.hdr`) images, the other common format for environment maps besides OpenEXR."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_RESOLUTION = re.compile(rb"^-Y (\d+) \+X (\d+)$")


def _read_header(data: bytes, path: Path) -> tuple[int, int, int]:
    """(height, width, offset of the first scanline byte) after checking the signature and pixel format."""
    if not data.startswith((b"#?RADIANCE", b"#?RGBE")):
        raise ValueError(f"{path}: not a Radiance .hdr file (missing the '#?RADIANCE' signature)")
    end = data.find(b"\n\n")
    if end < 0:
        raise ValueError(f"{path}: truncated .hdr header")
    for line in data[:end].split(b"\n")[1:]:
        if line.startswith(b"FORMAT=") and line.strip() != b"FORMAT=32-bit_rle_rgbe":
            raise ValueError(f"{path}: unsupported .hdr pixel format {line.decode(errors='replace')!r} (need RGBE)")
    line_end = data.find(b"\n", end + 2)
    match = _RESOLUTION.match(data[end + 2 : line_end].strip()) if line_end > 0 else None
    if match is None:
        raise ValueError(f"{path}: unsupported .hdr orientation line (only the standard '-Y H +X W' is read)")
    return int(match.group(1)), int(match.group(2)), line_end + 1


def _decode_rle_scanline(data: bytes, offset: int, width: int, path: Path) -> tuple[np.ndarray, int]:
    """One new-style run-length encoded scanline (four channel planes) as (width, 4) uint8, and the next offset."""
    row = np.empty((4, width), np.uint8)
    for channel in range(4):
        filled = 0
        while filled < width:
            if offset >= len(data):
                raise ValueError(f"{path}: truncated .hdr pixel data")
            run = data[offset] > 128
            count = data[offset] - 128 if run else data[offset]
            end = offset + (2 if run else 1 + count)
            if count == 0 or filled + count > width or end > len(data):
                raise ValueError(f"{path}: corrupt run-length data in a .hdr scanline")
            # a run repeats the next byte count times; a literal copies the next count bytes
            values = data[offset + 1] if run else np.frombuffer(data, np.uint8, count, offset + 1)
            row[channel, filled : filled + count] = values
            offset = end
            filled += count
    return row.T, offset


def rgbe_to_float(rgbe: np.ndarray) -> np.ndarray:
    """Linear float32 RGB of RGBE pixels [..., 4]: (mantissa + 0.5) * 2^(exponent - 136), zero where exponent is 0."""
    exponent = rgbe[..., 3].astype(np.int32)
    scale = np.where(exponent > 0, np.ldexp(1.0, exponent - 136), 0.0).astype(np.float32)
    return (rgbe[..., :3].astype(np.float32) + 0.5) * scale[..., None]


def load_hdr(path: str | Path) -> np.ndarray:
    """Read a Radiance `.hdr` file (flat or new-style run-length encoded scanlines) as float32 (H, W, 3) RGB."""
    path = Path(path)
    data = path.read_bytes()
    height, width, offset = _read_header(data, path)
    pixels = np.empty((height, width, 4), np.uint8)
    for y in range(height):
        head = data[offset : offset + 4]
        if 8 <= width < 32768 and len(head) == 4 and head[0] == 2 and head[1] == 2 and head[2] < 128:
            if (head[2] << 8 | head[3]) != width:
                raise ValueError(f"{path}: scanline {y} announces width {head[2] << 8 | head[3]}, header says {width}")
            pixels[y], offset = _decode_rle_scanline(data, offset + 4, width, path)
        else:
            flat = np.frombuffer(data, np.uint8, min(width * 4, max(len(data) - offset, 0)), offset)
            if flat.size != width * 4:
                raise ValueError(f"{path}: truncated .hdr pixel data")
            if width > 1 and (flat[:3] == 1).all():
                raise ValueError(f"{path}: old-style run-length encoded .hdr files are not supported")
            pixels[y] = flat.reshape(width, 4)
            offset += width * 4
    return rgbe_to_float(pixels)
