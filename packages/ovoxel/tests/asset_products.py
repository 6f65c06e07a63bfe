"""Product GLBs of real assets for the alpha-mode and browser tests: a Y-up glTF scene turned Z-up (the frame the
generator and `to_glb` work in), voxelised with `mesh_to_ovoxel`, extracted and sent through `to_glb`. Builds are
cached per test session, so both test modules share them."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import ovoxel
import trimesh
from postprocess_fixtures import LAYOUT

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


ALPHA_OPTIONS = {"decimation_target": 20_000, "texture_size": 512}


def alpha_test_glb(alpha_mode: str, nodes: tuple[str, ...] | None = None) -> ovoxel.postprocess.TexturedMesh:
    """AlphaBlendModeTest (all nodes, or those named) as a product GLB with the given `to_glb` alpha_mode."""
    return product_glb(ALPHA_TEST, nodes, alpha_mode=alpha_mode, **ALPHA_OPTIONS)


def helmet_glb() -> ovoxel.postprocess.TexturedMesh:
    """DamagedHelmet as a product GLB (the settings of test_postprocess_asset)."""
    return product_glb(HELMET, decimation_target=20_000, texture_size=1024)
