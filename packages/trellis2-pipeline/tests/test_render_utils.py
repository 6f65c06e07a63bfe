"""render_utils / EnvMap: frame counts and types, a sphere's silhouette and normals against the analytic ones,
attributes sampled from the voxel volume, bundled and .hdr environment maps, shading that depends on the light."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from trellis2.renderers import BUILTIN_ENVMAPS, EnvMap, vertex_attributes
from trellis2.renderers.radiance_hdr import load_hdr, rgbe_to_float
from trellis2.representations import MeshWithVoxel
from trellis2.utils import render_utils

trimesh = pytest.importorskip("trimesh")
pytest.importorskip("OpenEXR", reason="the bundled environment maps are OpenEXR: pip install 'meshkit[exr]'")

RADIUS, GRID, SIZE = 0.35, 64, 64
KEYS = {"shaded", "normal", "clay", "base_color", "metallic", "roughness", "alpha", "mask"}


def sphere_mesh(attribute=None) -> MeshWithVoxel:
    """An icosphere with a band of voxels around its surface; attrs default to a constant material."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=RADIUS)
    grid = np.stack(np.meshgrid(*[np.arange(GRID)] * 3, indexing="ij"), -1).reshape(-1, 3)
    centres = (grid + 0.5) / GRID - 0.5
    band = np.abs(np.linalg.norm(centres, axis=1) - RADIUS) < 2.0 / GRID
    material = np.tile([0.8, 0.2, 0.1, 0.3, 0.6, 1.0], (int(band.sum()), 1))
    attrs = material if attribute is None else attribute(centres[band])
    return MeshWithVoxel(torch.tensor(sphere.vertices, dtype=torch.float32), torch.tensor(sphere.faces),
                         [-0.5] * 3, 1.0 / GRID, torch.tensor(grid[band], dtype=torch.int32),
                         torch.tensor(attrs, dtype=torch.float32), (1, 6, GRID, GRID, GRID))


@pytest.fixture(scope="module")
def forest() -> EnvMap:
    return EnvMap.builtin("forest")


@pytest.fixture(scope="module")
def frames(forest):
    return render_utils.render_video(sphere_mesh(), resolution=SIZE, num_frames=3, envmap=forest, verbose=False)


def test_render_video_returns_uint8_frames_for_every_map(frames):
    assert set(frames) == KEYS
    for key, images in frames.items():
        assert len(images) == 3, key
        assert all(image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8 for image in images), key


def test_sphere_silhouette_matches_the_analytic_disc(frames):
    # a sphere at distance 2 seen with a 40 degree lens: a disc of radius f * tan(asin(R / 2)) in image units
    focal = 0.5 / math.tan(math.radians(40) / 2)
    expected = math.pi * (focal * math.tan(math.asin(RADIUS / 2))) ** 2
    for mask in frames["mask"]:
        assert (mask[..., 0] > 127).mean() == pytest.approx(expected, rel=0.04)


def test_normal_map_looks_like_a_sphere_in_upstream_camera_convention(frames):
    normal = frames["normal"][0].astype(float)
    inside = frames["mask"][0][..., 0] == 255
    assert normal[inside].std(axis=0).min() > 20  # colours vary over the surface
    centre = normal[SIZE // 2 - 1 : SIZE // 2 + 1, SIZE // 2 - 1 : SIZE // 2 + 1].mean(axis=(0, 1))
    np.testing.assert_allclose(centre, [127.5, 127.5, 255], atol=12)  # facing the camera: -n_cam.z = 1
    rows = np.flatnonzero(inside[:, SIZE // 2])
    top, bottom = normal[rows[0] + 1, SIZE // 2], normal[rows[-1] - 1, SIZE // 2]
    assert top[1] > 200 and bottom[1] < 55  # up on screen is green, down has none
    assert (normal[~inside] == 0).all()  # black background


def test_material_maps_show_the_voxel_values(frames):
    inside = frames["mask"][0][..., 0] == 255
    for key, value in {"base_color": [0.8, 0.2, 0.1], "metallic": 0.3, "roughness": 0.6, "alpha": 1.0}.items():
        pixels = frames[key][0][inside].astype(float)
        np.testing.assert_allclose(pixels.mean(axis=0), np.broadcast_to(np.multiply(value, 255), 3), atol=1.5)
        assert pixels.std(axis=0).max() < 1.0, key


def test_vertex_attributes_are_trilinear_in_the_voxel_grid():
    # a linear field is reproduced exactly wherever all eight neighbouring voxels exist (the band covers them)
    mesh = sphere_mesh(lambda centres: np.concatenate([centres * 2 + 0.5, centres[:, :3] @ [[1.0], [-2.0], [0.5]],
                                                       np.ones((len(centres), 2))], axis=1))
    sampled = vertex_attributes(mesh).double()
    expected = mesh.vertices.double() * 2 + 0.5
    torch.testing.assert_close(sampled[:, :3], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(sampled[:, 3], mesh.vertices.double() @ torch.tensor([1.0, -2.0, 0.5],
                                                                                   dtype=torch.float64),
                               atol=1e-5, rtol=0)


def test_background_colour_and_envmap_background():
    mesh, light = sphere_mesh(), EnvMap(np.full((8, 16, 3), 0.5, np.float32))
    plain = render_utils.render_video(mesh, resolution=32, num_frames=1, bg_color=(1.0, 0.0, 0.0), envmap=light,
                                      verbose=False)
    for key in ("shaded", "normal", "base_color", "clay"):
        assert tuple(plain[key][0][0, 0]) == (255, 0, 0), key
    lit = render_utils.render_video(mesh, resolution=32, num_frames=1, envmap=light, use_envmap_bg=True,
                                    verbose=False)
    grey = round(255 * (0.5 * (2.51 * 0.5 + 0.03) / (0.5 * (2.43 * 0.5 + 0.59) + 0.14)) ** (1 / 2.2))
    assert tuple(lit["shaded"][0][0, 0]) == (grey,) * 3  # the uniform environment, tone mapped


def test_shaded_frames_depend_on_the_environment(forest):
    mesh, sunset = sphere_mesh(), EnvMap.builtin("sunset")
    both = render_utils.render_video(mesh, resolution=SIZE, num_frames=1, envmap={"forest": forest, "sunset": sunset},
                                     verbose=False)
    single = render_utils.render_video(mesh, resolution=SIZE, num_frames=1, envmap=sunset, verbose=False)
    np.testing.assert_array_equal(both["shaded_sunset"][0], single["shaded"][0])
    difference = np.abs(both["shaded_forest"][0].astype(int) - both["shaded_sunset"][0].astype(int))
    assert difference[single["mask"][0][..., 0] == 255].mean() > 10


def test_pbr_vis_frames_layout(frames):
    composed = render_utils.make_pbr_vis_frames(frames, resolution=32)
    assert len(composed) == 3 and composed[0].shape == (48, 64, 3) and composed[0].dtype == np.uint8
    assert composed[0][32:, 48:].max() == 255  # the alpha panel, bottom right
    with pytest.raises(ValueError, match="envmap"):
        render_utils.make_pbr_vis_frames({key: value for key, value in frames.items() if key != "shaded"})


def test_builtin_envmaps_load_from_package_data():
    assert BUILTIN_ENVMAPS == ("forest", "sunset", "courtyard")
    image = EnvMap.from_file(render_utils.__file__.rsplit("/utils/", 1)[0] + "/assets/hdri/forest.exr").image
    assert image.shape == (512, 1024, 3) and image.dtype == np.float32 and np.isfinite(image).all()
    assert image[:128].mean() > 5 * image[-128:].mean()  # Z-up: the sky is in the top rows
    np.testing.assert_array_equal(EnvMap(torch.from_numpy(image)).image, image)  # upstream's tensor constructor
    with pytest.raises(ValueError, match="choose from forest, sunset, courtyard"):
        EnvMap.builtin("moon")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        EnvMap(np.zeros((4, 4)))


def _rle_plane(values: bytes) -> bytes:
    """Radiance run-length encoding of one channel plane: runs for repeats, literals otherwise."""
    out, index = bytearray(), 0
    while index < len(values):
        run = 1
        while index + run < len(values) and run < 127 and values[index + run] == values[index]:
            run += 1
        if run >= 3:
            out += bytes([128 + run, values[index]])
        else:
            out += bytes([run, *values[index : index + run]])
        index += run
    return bytes(out)


@pytest.mark.parametrize("encoded", [False, True], ids=["flat", "run-length"])
def test_radiance_hdr_reader(tmp_path, encoded):
    rng = np.random.default_rng(0)
    rgbe = rng.integers(0, 256, (5, 12, 4), dtype=np.uint8)
    rgbe[:, :6] = [128, 64, 0, 129]  # repeats, so the encoder emits runs
    body = b"".join(
        bytes([2, 2, 0, 12]) + b"".join(_rle_plane(row[:, c].tobytes()) for c in range(4)) if encoded else row.tobytes()
        for row in rgbe
    )
    path = tmp_path / "probe.hdr"
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 5 +X 12\n" + body)
    image = load_hdr(path)
    np.testing.assert_array_equal(image, rgbe_to_float(rgbe))
    np.testing.assert_allclose(image[0, 0], [128.5 / 128, 64.5 / 128, 0.5 / 128])
    np.testing.assert_array_equal(EnvMap.from_file(path).image, image)
    path.write_bytes(b"#?RADIANCE\n\n-Y 5 +X 12\n" + body[:-7])
    with pytest.raises(ValueError, match="truncated|corrupt"):
        load_hdr(path)
