"""Headless renderer: sphere silhouette and normals against analytic values, clay, textures, environment lighting."""

import re
from pathlib import Path

import numpy as np
import pytest
from meshkit.render import load_exr, orbit_camera, prefilter_environment, render_mesh
from meshkit.render.envmap import direction_to_equirect

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions)
    return np.asarray(sphere.vertices), np.asarray(sphere.faces)


def analytic_sphere_hits(camera, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mask and unit normals where pixel-centre rays hit the unit sphere at the origin."""
    rotation, translation = camera.extrinsics[:3, :3], camera.extrinsics[:3, 3]
    eye = -rotation.T @ translation
    j, i = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    k = camera.intrinsics
    rays = np.stack([(j / size - k[0, 2]) / k[0, 0], (i / size - k[1, 2]) / k[1, 1], np.ones_like(j)], -1) @ rotation
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    b = rays @ eye
    disc = b * b - (eye @ eye - 1)
    t = -b - np.sqrt(np.maximum(disc, 0))
    return disc > 0, eye + t[..., None] * rays


def test_sphere_silhouette_and_normals_match_analytic():
    vertices, faces = icosphere(5)
    camera = orbit_camera(yaw=0.7, pitch=0.4, radius=3.0, fov_degrees=40)
    size = 128
    images = render_mesh(vertices, faces, camera, size, modes=("normal", "clay"))
    focal = camera.intrinsics[0, 0] * size
    analytic_area = np.pi * (focal / np.sqrt(3.0**2 - 1)) ** 2
    assert abs(images["mask"].sum() / analytic_area - 1) < 0.005  # measured 0.05%
    hit, normals = analytic_sphere_hits(camera, size)
    both = hit & images["mask"]
    assert (hit != images["mask"]).sum() < 0.02 * hit.sum()  # only silhouette pixels may differ
    error = np.abs(images["normal"][both] - (0.5 + 0.5 * normals[both]))
    assert error.max() < 0.01 and error.mean() < 0.001  # measured 0.0033 / 0.00017
    assert (images["normal"][~images["mask"]] == 0).all()
    clay = images["clay"][images["mask"]]
    assert clay.max() <= 0.7 + 1e-6 and clay.min() >= 0.7 * 0.25 - 1e-6 and np.ptp(clay[:, 0] - clay[:, 1]) == 0
    np.testing.assert_allclose(images["depth"][size // 2, size // 2], 2.0, atol=0.01)


def test_base_color_from_texture_and_vertex_colours():
    vertices, faces = icosphere(3)
    camera = orbit_camera(0.0, 0.0, 3.0, 40)
    uvs = np.zeros((len(vertices), 2)) + 0.25  # every vertex reads the top-left quadrant texel
    texture = np.zeros((2, 2, 3), np.uint8)
    texture[0, 0] = (255, 0, 0)
    textured = render_mesh(vertices, faces, camera, 32, modes=("base_color",), uvs=uvs, base_color_texture=texture)
    np.testing.assert_allclose(textured["base_color"][textured["mask"]], [[1, 0, 0]] * textured["mask"].sum())
    coloured = render_mesh(vertices, faces, camera, 32, modes=("base_color",), vertex_colors=(vertices + 1) / 2)
    centre = coloured["base_color"][16, 16]
    np.testing.assert_allclose(centre, [1.0, 0.5, 0.5], atol=0.03)  # camera on +X sees the point (1, 0, 0)


def test_shading_in_a_uniform_white_environment():
    vertices, faces = icosphere(3)
    environment = prefilter_environment(np.ones((32, 64, 3), np.float32))
    np.testing.assert_allclose(environment.irradiance, 1.0, atol=0.02)  # cosine integral of 1 over pi
    images = render_mesh(vertices, faces, orbit_camera(0.0, 0.0, 3.0, 40), 32, modes=("shaded",),
                         environment=environment, metallic_roughness=np.tile([0.0, 0.5], (len(vertices), 1)))
    shaded = images["shaded"][images["mask"]]
    assert shaded.min() > 0.95 and shaded.max() < 1.2  # white diffuse plus a few percent of specular


def test_equirect_convention_and_exr_loading():
    np.testing.assert_allclose(direction_to_equirect(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])),
                               [[0.5, 0.0], [0.5, 0.5]])
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent")
    pytest.importorskip("OpenEXR", reason="OpenEXR (optional dependency 'exr') is not installed")
    image = load_exr(SHARED / "hdri" / "forest.exr")
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.float32
    assert np.isfinite(image).all() and image.max() > 1.0  # HDR values survive the DWAB decode


def test_render_errors():
    vertices, faces = icosphere(1)
    camera = orbit_camera(0.0, 0.0, 3.0, 40)
    with pytest.raises(ValueError, match="unknown render modes"):
        render_mesh(vertices, faces, camera, 16, modes=("depthmap",))
    with pytest.raises(ValueError, match="needs an environment"):
        render_mesh(vertices, faces, camera, 16, modes=("shaded",))
    with pytest.raises(ValueError, match="texture needs uvs"):
        render_mesh(vertices, faces, camera, 16, modes=("base_color",), base_color_texture=np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="fov_degrees"):
        orbit_camera(0.0, 0.0, 3.0, 190)


def test_render_readme_example_runs():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"<!-- render-example -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README render example not found"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    assert namespace["shaded"].shape == (256, 256, 3) and namespace["images"]["mask"].any()
