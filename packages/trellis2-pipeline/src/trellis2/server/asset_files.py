"""The generated asset on disk between generation and GLB export: one .npz with the mesh and its PBR voxels."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSET_FILE = "asset.npz"


@dataclass
class SavedAsset:
    """What `to_glb` needs of a `MeshWithVoxel`, as numpy arrays (attribute layout as channel slices)."""

    vertices: np.ndarray
    faces: np.ndarray
    coords: np.ndarray
    attrs: np.ndarray
    layout: dict[str, slice]
    voxel_size: float

    @classmethod
    def from_mesh(cls, mesh) -> SavedAsset:
        """Copy a `MeshWithVoxel` (any device) to the CPU."""
        return cls(
            vertices=mesh.vertices.detach().cpu().float().numpy(),
            faces=mesh.faces.detach().cpu().int().numpy(),
            coords=mesh.coords.detach().cpu().int().numpy(),
            attrs=mesh.attrs.detach().cpu().float().numpy(),
            layout=dict(mesh.layout),
            voxel_size=float(mesh.voxel_size),
        )

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed into place), so a crash never leaves half an asset."""
        layout = {name: [part.start, part.stop] for name, part in self.layout.items()}
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "wb") as handle:
            np.savez(handle, vertices=self.vertices, faces=self.faces, coords=self.coords, attrs=self.attrs,
                     voxel_size=np.float64(self.voxel_size), layout=np.array(json.dumps(layout)))
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> SavedAsset:
        if not path.exists():
            raise FileNotFoundError(f"no generated asset at {path}; the task's files were removed or never written")
        with np.load(path, allow_pickle=False) as data:
            layout = {name: slice(start, stop) for name, (start, stop) in json.loads(str(data["layout"])).items()}
            return cls(data["vertices"], data["faces"], data["coords"], data["attrs"], layout,
                       float(data["voxel_size"]))
