"""`EnvMap`: an equirectangular HDR environment map that lights PBR previews (the three CC0 maps ship with us)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

#: Names of the environment maps bundled as package data (`EnvMap.builtin(name)`), CC0 from Poly Haven.
BUILTIN_ENVMAPS: tuple[str, ...] = ("forest", "sunset", "courtyard")


def _as_hdr_array(image: Any) -> np.ndarray:
    """A float32 (H, W, 3) numpy copy of a torch tensor or array-like HDR image."""
    if hasattr(image, "detach"):
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 2:
        raise ValueError(f"an environment map must be an (H, W, 3) HDR image, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("the environment map has NaN or infinite values")
    return np.ascontiguousarray(np.clip(array[..., :3], 0.0, None))


class EnvMap:
    """Equirectangular linear-RGB light probe, Z-up (row 0 looks along +Z, the sky of the generated meshes).

    Build it from an (H, W, 3) tensor or array as upstream does, from a file (`from_file`, .exr or .hdr) or from a
    bundled map (`builtin`). The split-sum lighting tables are computed once, on first use.
    """

    def __init__(self, image: Any) -> None:
        self.image = _as_hdr_array(image)
        self._prefiltered = None

    @classmethod
    def from_file(cls, path: str | Path) -> EnvMap:
        """Load an OpenEXR (.exr, needs `OpenEXR`) or Radiance (.hdr) environment map."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"environment map {path} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".exr":
            from meshkit.render import load_exr

            return cls(load_exr(path))
        if suffix in (".hdr", ".rgbe", ".pic"):
            from .radiance_hdr import load_hdr

            return cls(load_hdr(path))
        raise ValueError(f"{path}: environment maps must be .exr or .hdr files, got {path.suffix or 'no suffix'!r}")

    @classmethod
    def builtin(cls, name: str) -> EnvMap:
        """One of the bundled maps named in `BUILTIN_ENVMAPS`."""
        if name not in BUILTIN_ENVMAPS:
            raise ValueError(f"unknown built-in environment map {name!r}; choose from {', '.join(BUILTIN_ENVMAPS)}")
        with resources.as_file(resources.files("trellis2.assets") / "hdri" / f"{name}.exr") as path:
            return cls.from_file(path)

    @property
    def prefiltered(self) -> Any:
        """meshkit's `PrefilteredEnvironment` (specular mip chain and diffuse irradiance) of this map."""
        if self._prefiltered is None:
            from meshkit.render import prefilter_environment

            self._prefiltered = prefilter_environment(self.image)
        return self._prefiltered

    def sample(self, directions: np.ndarray) -> np.ndarray:
        """Radiance seen along unit world directions [..., 3] (bilinear lookup of the full-resolution map)."""
        from meshkit.render.envmap import sample_equirect

        return sample_equirect(self.image, np.asarray(directions, np.float64))

    def __repr__(self) -> str:
        return f"EnvMap({self.image.shape[1]}x{self.image.shape[0]}, mean radiance {float(self.image.mean()):.3g})"
