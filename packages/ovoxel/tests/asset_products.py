"""Product GLBs of real assets for the alpha-mode and browser tests: a Y-up glTF scene turned Z-up (the frame the
generator and `to_glb` work in), voxelised with `mesh_to_ovoxel`, extracted and sent through `to_glb`. Builds are
cached per test session, so both test modules share them. `SourcePanel` gives AlphaBlendModeTest's panels and their
source alpha, the truth the alpha checks compare against."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ovoxel
import trimesh
from postprocess_fixtures import LAYOUT
from scipy import ndimage

SHARED_ASSETS = Path(__file__).resolve().parents[4] / "shared" / "assets"
HELMET = SHARED_ASSETS / "DamagedHelmet" / "DamagedHelmet.gltf"
ALPHA_TEST = SHARED_ASSETS / "AlphaBlendModeTest.glb"
Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float64)
RESOLUTION = 128


def z_up_to_y_up(points: np.ndarray) -> np.ndarray:
    """Z-up (x, y, z) -> glTF Y-up (x, z, -y), what `TexturedMesh.export` does."""
    return points[:, [0, 2, 1]] * [1, 1, -1]


@functools.cache
def source_scene(path: Path) -> trimesh.Scene:
    return trimesh.load(path, force="scene")


def z_up_scene(path: Path, nodes: tuple[str, ...] | None = None) -> trimesh.Scene:
    """The asset's geometry nodes (all, or those named), placed in world space and turned Z-up."""
    scene = source_scene(path)
    out = trimesh.Scene()
    for node in nodes or scene.graph.nodes_geometry:
        transform, geometry = scene.graph[node]
        out.add_geometry(scene.geometry[geometry], node_name=node, transform=Y_UP_TO_Z_UP @ transform)
    return out


@functools.cache
def voxelised(path: Path, nodes: tuple[str, ...] | None = None, resolution: int = RESOLUTION):
    """(coords, attributes, aabb) of the Z-up asset in a cube fitted around it."""
    return ovoxel.mesh_to_ovoxel(z_up_scene(path, nodes), resolution)


@functools.cache
def product_glb(path: Path, nodes: tuple[str, ...] | None = None, resolution: int = RESOLUTION,
                **options) -> ovoxel.postprocess.TexturedMesh:
    """The O-Voxel's extracted mesh and PBR attributes through `to_glb` (options: its keyword arguments)."""
    coords, values, box = voxelised(path, nodes, resolution)
    vertices, faces, _ = ovoxel.ovoxel_to_mesh(coords, values, box, resolution)
    attrs = np.concatenate([values[name] for name in LAYOUT], axis=1).astype(np.float32) / 255
    return ovoxel.postprocess.to_glb(vertices, faces, attrs, coords, LAYOUT, aabb=box, grid_size=resolution,
                                     **options)


MASK_CUTOFFS = {"TestCutoff25": 0.25, "TestCutoffDefault": 0.5, "TestCutoff75": 0.75}  # the MASK panels
ALPHA_OPTIONS = {"decimation_target": 20_000, "texture_size": 512}


def alpha_test_glb(alpha_mode: str, nodes: tuple[str, ...] | None = None) -> ovoxel.postprocess.TexturedMesh:
    """AlphaBlendModeTest (all nodes, or those named) as a product GLB with the given `to_glb` alpha_mode."""
    return product_glb(ALPHA_TEST, nodes, alpha_mode=alpha_mode, **ALPHA_OPTIONS)


def helmet_glb() -> ovoxel.postprocess.TexturedMesh:
    """DamagedHelmet as a product GLB (the settings of test_postprocess_asset)."""
    return product_glb(HELMET, decimation_target=20_000, texture_size=1024)


@dataclass(frozen=True)
class SourcePanel:
    """One test panel of the asset: a 1.1 x 1.87 quad in its node's z = 0 plane, mapped affinely into the texture."""

    origin: np.ndarray  # node translation (Y-up world)
    to_uv: np.ndarray  # (3, 2): [x, y, 1] in the panel's plane -> trimesh UV (v up)
    alpha: np.ndarray  # float (H, W) texture alpha, row 0 at the top
    RAMP = ((-0.25, 0.30), (0.50, 1.85))  # panel-plane box whose alpha ramps from 1 at the bottom to 0 at the top

    @classmethod
    def of(cls, node: str) -> SourcePanel:
        transform, geometry = source_scene(ALPHA_TEST).graph[node]
        mesh = source_scene(ALPHA_TEST).geometry[geometry]
        corners = np.c_[mesh.vertices[:, :2], np.ones(len(mesh.vertices))]
        to_uv = np.linalg.lstsq(corners, mesh.visual.uv, rcond=None)[0]
        alpha = np.asarray(mesh.visual.material.baseColorTexture.convert("RGBA"))[..., 3] / 255
        return cls(transform[:3, 3], to_uv, alpha)

    def local(self, world: np.ndarray) -> np.ndarray:
        return world[:, :2] - self.origin[:2]

    def contains(self, world: np.ndarray, inset: float) -> np.ndarray:
        """Points on the panel's plane, at least `inset` inside its edges."""
        x, y = self.local(world).T
        return ((np.abs(world[:, 2] - self.origin[2]) < 0.02) & (np.abs(x) < 0.55 - inset)
                & (y > 0.1 + inset) & (y < 1.97 - inset))

    def in_ramp(self, world: np.ndarray, inset: float) -> np.ndarray:
        """Points on the panel's plane inside its alpha ramp, at least `inset` from the ramp's edges."""
        (x0, y0), (x1, y1) = self.RAMP
        x, y = self.local(world).T
        return (self.contains(world, 0.0) & (x > x0 + inset) & (x < x1 - inset) & (y > y0 + inset)
                & (y < y1 - inset))

    def _texels(self, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        uv = np.c_[self.local(world), np.ones(len(world))] @ self.to_uv
        height, width = self.alpha.shape
        rows = np.clip(((1 - uv[:, 1]) * height).astype(int), 0, height - 1)
        return rows, np.clip((uv[:, 0] * width).astype(int), 0, width - 1)

    def source_alpha(self, world: np.ndarray) -> np.ndarray:
        return self.alpha[self._texels(world)]

    def mask_margin(self, world: np.ndarray, cutoff: float) -> np.ndarray:
        """Distance (panel units) from each point to the nearest texel on the other side of `cutoff`."""
        height, width = self.alpha.shape
        texel = (1 / (abs(self.to_uv[1, 1]) * height), 1 / (abs(self.to_uv[0, 0]) * width))
        passed = self.alpha >= cutoff
        distance = np.where(passed, ndimage.distance_transform_edt(passed, sampling=texel),
                            ndimage.distance_transform_edt(~passed, sampling=texel))
        return distance[self._texels(world)]
