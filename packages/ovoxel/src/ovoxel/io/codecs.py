"""Per-stream byte compression used by .vxz: raw DEFLATE, raw LZMA2, zstd frames, or none."""

from __future__ import annotations

import lzma
import zlib

import zstandard

DEFAULT_LEVELS = {"none": 0, "deflate": 9, "lzma": 9, "zstd": 22}


def _lzma_filters(level: int) -> list[dict]:
    return [{"id": lzma.FILTER_LZMA2, "preset": level}]


def compress(data: bytes, codec: str, level: int) -> bytes:
    """Compress one stream with `codec` at `level`."""
    if codec == "none":
        return bytes(data)
    if codec == "deflate":
        engine = zlib.compressobj(level, zlib.DEFLATED, -15)
        return engine.compress(data) + engine.flush()
    if codec == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=_lzma_filters(level))
    if codec == "zstd":
        return zstandard.ZstdCompressor(level=level, write_checksum=False, write_content_size=True).compress(data)
    raise ValueError(f"unknown compression {codec!r}; expected one of {sorted(DEFAULT_LEVELS)}")


def decompress(data: bytes, codec: str, level: int) -> bytes:
    """Decompress one stream; raises ValueError when the bytes are not a valid stream of that codec."""
    try:
        if codec == "none":
            return bytes(data)
        if codec == "deflate":
            engine = zlib.decompressobj(-15)
            out = engine.decompress(data) + engine.flush()
            if not engine.eof:
                raise ValueError("corrupt deflate stream: it ends early")
            return out
        if codec == "lzma":
            engine = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_lzma_filters(level or 9))
            out = engine.decompress(data)
            if not engine.eof:
                raise ValueError("corrupt lzma stream: it ends early")
            return out
        if codec == "zstd":
            return zstandard.ZstdDecompressor().decompress(data)
    except (zlib.error, lzma.LZMAError, zstandard.ZstdError) as exc:
        raise ValueError(f"corrupt {codec} stream: {exc}") from None
    raise ValueError(f"unknown compression {codec!r}; expected one of {sorted(DEFAULT_LEVELS)}")
