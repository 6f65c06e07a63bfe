"""Environment maps: equirectangular HDR images (Z-up; row 0 looks up +Z, column 0 at azimuth -pi) loaded from
OpenEXR, pre-filtered for split-sum image-based lighting (box mip chain for specular, cosine irradiance for
diffuse)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np


def load_exr(path: str | Path) -> np.ndarray:
    """Read an OpenEXR file (any compression OpenEXR supports, DWAB included) as float32 (H, W, 3) RGB."""
    try:
        import OpenEXR
    except ImportError as exc:
        raise ImportError("reading .exr needs the optional dependency: pip install 'meshkit[exr]' (OpenEXR)") from exc
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        if "RGB" in channels or "RGBA" in channels:
            pixels = channels.get("RGB", channels.get("RGBA")).pixels
        elif all(name in channels for name in "RGB"):
            pixels = np.stack([channels[name].pixels for name in "RGB"], axis=-1)
        else:
            raise ValueError(f"{path}: no RGB channels (found {sorted(channels)})")
    return np.ascontiguousarray(pixels[..., :3], dtype=np.float32)


def direction_to_equirect(directions: np.ndarray) -> np.ndarray:
    """(u, v) in [0, 1] of unit Z-up directions in an equirectangular map (u along azimuth, v from +Z down)."""
    u = np.arctan2(directions[..., 1], directions[..., 0]) / (2 * np.pi) + 0.5
    v = np.arccos(np.clip(directions[..., 2], -1, 1)) / np.pi
    return np.stack([u, v], axis=-1)


def sample_equirect(image: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an equirectangular map in the given directions (azimuth wraps, poles clamp)."""
    height, width = image.shape[:2]
    uv = direction_to_equirect(directions)
    x, y = uv[..., 0] * width - 0.5, np.clip(uv[..., 1] * height - 0.5, 0, height - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.minimum(np.floor(y).astype(np.int64), height - 2 if height > 1 else 0)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    y1 = np.minimum(y0 + 1, height - 1)
    x0, x1 = x0 % width, (x0 + 1) % width
    return ((1 - fy) * ((1 - fx) * image[y0, x0] + fx * image[y0, x1])
            + fy * ((1 - fx) * image[y1, x0] + fx * image[y1, x1]))


class PrefilteredEnvironment(NamedTuple):
    """Split-sum lighting tables: ``specular_levels`` (box-filtered mips, sharp to blurry) and ``irradiance``."""

    specular_levels: list[np.ndarray]
    irradiance: np.ndarray


def _texel_directions(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    theta = (np.arange(height) + 0.5) / height * np.pi
    phi = ((np.arange(width) + 0.5) / width - 0.5) * 2 * np.pi
    theta, phi = np.meshgrid(theta, phi, indexing="ij")
    directions = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1)
    solid_angle = np.sin(theta) * (np.pi / height) * (2 * np.pi / width)
    return directions, solid_angle


def prefilter_environment(image: np.ndarray, levels: int = 6, irradiance_size: int = 16) -> PrefilteredEnvironment:
    """Pre-filter an equirectangular HDR map: a mip chain standing in for GGX lobes of growing roughness, and the
    cosine-weighted irradiance (divided by pi) on a small grid for the diffuse term."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 2:
        raise ValueError(f"environment image must have shape (H, W, 3), got {image.shape}")
    mips = [image]
    while len(mips) < levels and min(mips[-1].shape[:2]) >= 4:
        top = mips[-1][: mips[-1].shape[0] // 2 * 2, : mips[-1].shape[1] // 2 * 2]
        mips.append(0.25 * (top[0::2, 0::2] + top[1::2, 0::2] + top[0::2, 1::2] + top[1::2, 1::2]))
    # Irradiance is smooth: integrate over the coarsest mip that still has >= 32 rows (fine enough quadrature).
    small = next((mip for mip in reversed(mips) if mip.shape[0] >= 32), mips[0])
    source_dirs, solid_angle = _texel_directions(*small.shape[:2])
    target_dirs, _ = _texel_directions(irradiance_size, 2 * irradiance_size)
    cosine = np.clip(target_dirs.reshape(-1, 3) @ source_dirs.reshape(-1, 3).T, 0, None)
    weighted = (small * solid_angle[..., None]).reshape(-1, 3)
    irradiance = (cosine @ weighted / np.pi).reshape(irradiance_size, 2 * irradiance_size, 3).astype(np.float32)
    return PrefilteredEnvironment(specular_levels=mips, irradiance=irradiance)
