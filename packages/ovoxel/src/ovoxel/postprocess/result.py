"""What `to_glb` returns: a UV-mapped, PBR-textured mesh that exports itself as GLB."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import meshkit
import numpy as np


@dataclass
class TexturedMesh:
    """Seam-split mesh (Z-up, as the generator works) with per-vertex UVs and normals, its glTF PBR material and
    the seconds each `to_glb` stage took. Export converts to glTF's Y-up. With a BLEND material, `opaque_faces`
    (F,) bool marks the faces drawn with an OPAQUE copy of it: viewers turn depth writes off for BLEND, so only the
    translucent faces should need it."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    normals: np.ndarray
    material: meshkit.PBRMaterial
    timings: dict[str, float] = field(default_factory=dict)
    opaque_faces: np.ndarray | None = None

    def export(self, path: str | Path | None = None, extension_webp: bool = False, z_up: bool = True) -> bytes:
        """Write a GLB (textures as PNG, or lossless WebP under EXT_texture_webp) to `path` when given; returns
        the GLB bytes either way. `z_up=False` writes coordinates unchanged (input that is already Y-up)."""
        if path is not None and Path(path).suffix.lower() != ".glb":
            raise ValueError(f"export writes binary glTF only: the path must end in .glb, got {str(path)!r}")
        materials, face_materials = [self.material], None
        if self.material.alpha_mode == "BLEND" and self.opaque_faces is not None:
            materials.append(dataclasses.replace(self.material, alpha_mode="OPAQUE"))
            face_materials = np.asarray(self.opaque_faces, dtype=np.int64)
        return meshkit.write_glb(path, self.vertices, self.faces, normals=self.normals, uvs=self.uvs,
                                 material=materials, face_materials=face_materials,
                                 image_format="webp" if extension_webp else "png", z_up=z_up)
