"""Shared inputs for the to_glb tests: a voxelised sphere with a procedural PBR attribute field of known values."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ovoxel
import pytest
import trimesh

RADIUS = 0.3
AABB = np.array([[-0.5] * 3, [0.5] * 3])
LAYOUT = {"base_color": slice(0, 3), "metallic": slice(3, 4), "roughness": slice(4, 5), "alpha": slice(5, 6)}
VALIDATOR_DIR = Path(__file__).resolve().parents[2] / "meshkit" / "tests" / "js"


def field(points: np.ndarray) -> np.ndarray:
    """The attribute field (N, 6) at world points: base colour linear in position, metallic and roughness linear
    in z and y, alpha 1."""
    ones = np.ones((len(points), 1))
    return np.concatenate([0.5 + points, 0.5 + points[:, 2:3], 0.5 - points[:, 1:2], ones], axis=1)


@dataclass(frozen=True)
class VoxelSphere:
    """An extracted sphere mesh and its attribute volume, as a decoder would hand them to to_glb."""

    vertices: np.ndarray
    faces: np.ndarray
    coords: np.ndarray
    attrs: np.ndarray
    resolution: int

    def kwargs(self, **overrides) -> dict:
        """to_glb keyword arguments for this sphere (small target and texture so tests stay fast)."""
        base = dict(vertices=self.vertices, faces=self.faces, attr_volume=self.attrs, coords=self.coords,
                    attr_layout=LAYOUT, aabb=AABB, voxel_size=1 / self.resolution, decimation_target=1500,
                    texture_size=256)
        return base | overrides


def voxel_sphere(resolution: int = 48) -> VoxelSphere:
    """Voxelise an icosphere of radius 0.3 with ovoxel, extract its dual-grid mesh, attach `field` at centres."""
    sphere = trimesh.creation.icosphere(4, radius=RADIUS)
    coords, values, aabb = ovoxel.mesh_to_ovoxel(sphere, resolution, aabb=AABB, attrs=False)
    vertices, faces, _ = ovoxel.ovoxel_to_mesh(coords, values, aabb, resolution)
    centres = (coords + 0.5) / resolution + AABB[0]
    return VoxelSphere(vertices, faces, coords, field(centres).astype(np.float32), resolution)


def khronos_report(path: Path) -> dict:
    """The Khronos glTF validator's report on a GLB (skips when node or the npm package is missing)."""
    node = shutil.which("node")
    if node is None or not (VALIDATOR_DIR / "node_modules" / "gltf-validator").is_dir():
        pytest.skip("Khronos validator unavailable: needs node and "
                    "`npm install --prefix packages/meshkit/tests/js gltf-validator`")
    done = subprocess.run([node, str(VALIDATOR_DIR / "validate.mjs"), str(path)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)
