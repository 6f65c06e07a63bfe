"""The GLBs to_glb writes load in three.js (GLTFLoader) in Debian's headless Chromium and draw as the asset: the
textured sphere (PNG and WebP textures) against its known colour field, DamagedHelmet through mesh_to_ovoxel at
128^3 next to the original glTF, and AlphaBlendModeTest in each alpha mode. Screenshots (object over grey) go to
$TRELLIS2_TEST_ARTIFACTS/ovoxel_glb_threejs (default: the test's tmp folder).

A BLEND export holds two primitives (GLTFLoader: two meshes over one geometry's attributes): the fully opaque faces
with an OPAQUE copy of the material, which keeps depth writes, and the translucent ones with BLEND, which GLTFLoader
draws afterwards without depth writes. So AlphaBlendModeTest's panels show in front of its back wall."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import ovoxel
import pytest
import threejs_viewer
from asset_products import ALPHA_TEST, HELMET, MASK_CUTOFFS, SHARED_ASSETS, SourcePanel, alpha_test_glb, helmet_glb
from PIL import Image
from postprocess_fixtures import RADIUS, field, voxel_sphere

MISSING = threejs_viewer.missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser test skipped: {MISSING}")
FOV = 35.0


@pytest.fixture(scope="module")
def glb_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("glbs")


@pytest.fixture(scope="module")
def viewer(glb_dir):
    with threejs_viewer.threejs_viewer({"/files/": glb_dir, "/assets/": SHARED_ASSETS}) as viewer:
        yield viewer


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    root = os.environ.get("TRELLIS2_TEST_ARTIFACTS")
    path = Path(root) / "ovoxel_glb_threejs" if root else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(image: np.ndarray, path: Path) -> None:
    """Write a render composited over grey, as a person would look at it."""
    backdrop = Image.new("RGBA", image.shape[1::-1], (128, 128, 128, 255))
    backdrop.alpha_composite(Image.fromarray(image))
    backdrop.convert("RGB").save(path)


def orbit(box, yaw_deg: float, pitch_deg: float, fill: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Eye and target that frame a (2, 3) Y-up box from yaw (about +Y; 0 is in front, on +Z) and pitch: its largest
    extent spans about `fill` of the view."""
    box = np.asarray(box)
    target, half = box.mean(axis=0), (box[1] - box[0]).max() / 2
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    direction = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    return target + direction * (half + half / np.tan(np.radians(FOV / 2)) / fill), target


def object_pixels(image: np.ndarray) -> np.ndarray:
    return image[..., 3] == 255


def check_product_mesh(viewer, info: dict, glb: ovoxel.postprocess.TexturedMesh) -> list[dict]:
    """Loaded without errors: one mesh (two for a BLEND export with opaque faces: translucent, then opaque) over
    to_glb's vertices, indices adding up to its faces, each with a metal-roughness material holding both textures.
    Returns the materials."""
    assert "error" not in info and viewer.errors() == [] and viewer.console_errors == [], info
    split = glb.opaque_faces is not None and glb.opaque_faces.any() and not glb.opaque_faces.all()
    assert len(info["meshes"]) == (2 if split else 1)
    assert sum(mesh["indices"] for mesh in info["meshes"]) == 3 * len(glb.faces)
    if split:
        assert [mesh["indices"] for mesh in info["meshes"]] == [3 * np.sum(~glb.opaque_faces),
                                                               3 * np.sum(glb.opaque_faces)]
    size = glb.material.base_color_texture.shape[0]
    for mesh in info["meshes"]:
        assert mesh["vertices"] == len(glb.vertices) and mesh["attributes"] == ["normal", "position", "uv"]
        material = mesh["material"]
        assert material["type"] == "MeshStandardMaterial" and material["metalness"] == material["roughness"] == 1
        assert material["map"]["width"] == material["map"]["height"] == size
        assert material["map"]["colorSpace"] == "srgb"
        assert material["metalnessMap"] == material["roughnessMap"]  # one packed texture, read as data
        assert material["metalnessMap"]["width"] == size and material["metalnessMap"]["colorSpace"] == ""
    return [mesh["material"] for mesh in info["meshes"]]


def check_decoded_textures(viewer, glb) -> None:
    """The browser decodes both textures to exactly the baked texels."""
    np.testing.assert_array_equal(viewer.texture("map"), glb.material.base_color_texture)
    np.testing.assert_array_equal(viewer.texture("metalnessMap")[..., :3], glb.material.metallic_roughness_texture)


def sphere_colours(eye: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray-traced truth for the sphere seen from `eye` on +Z: which pixels hit it, and the colour field there (the
    field lives in to_glb's Z-up frame; three.js shows it Y-up)."""
    half = np.tan(np.radians(FOV / 2))
    cols, rows = np.meshgrid((np.arange(size) + 0.5) / size * 2 - 1, 1 - (np.arange(size) + 0.5) / size * 2)
    rays = np.stack([cols * half, rows * half, -np.ones_like(cols)], -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    along = -(rays @ eye)
    squared = along**2 - (eye @ eye - RADIUS**2)
    hit = squared > 0
    points = eye + rays * (along - np.sqrt(np.maximum(squared, 0)))[..., None]
    z_up = points[..., [0, 2, 1]] * [1, -1, 1]  # Y-up (x, y, z) -> Z-up (x, -z, y)
    return hit, field(z_up.reshape(-1, 3))[:, :3].reshape(size, size, 3)


def test_a_broken_glb_is_reported(viewer, glb_dir):
    (glb_dir / "broken.glb").write_bytes(b"glTF" + bytes(40))
    assert "error" in viewer.load("/files/broken.glb") and viewer.errors()


@pytest.fixture(scope="module")
def sphere_glb():
    return ovoxel.postprocess.to_glb(**voxel_sphere(48).kwargs())


@pytest.mark.parametrize("webp", [False, True], ids=["png", "webp"])
def test_sphere_loads_with_its_textures_and_draws_its_colour_field(viewer, glb_dir, artifacts, sphere_glb, webp):
    name = f"sphere_{'webp' if webp else 'png'}"
    sphere_glb.export(glb_dir / f"{name}.glb", extension_webp=webp)
    info = viewer.load(f"/files/{name}.glb")
    [material] = check_product_mesh(viewer, info, sphere_glb)
    assert not material["transparent"] and material["alphaTest"] == 0 and material["side"] == 2  # double-sided
    np.testing.assert_allclose(info["box"], [[-RADIUS] * 3, [RADIUS] * 3], atol=0.01)
    check_decoded_textures(viewer, sphere_glb)

    eye, target = np.array([0.0, 0.0, 1.6]), np.zeros(3)
    lit, unlit = viewer.render(eye, target), viewer.render(eye, target, lit=False)
    save(lit, artifacts / f"{name}_lit.png")
    save(unlit, artifacts / f"{name}_base_color.png")
    hit, expected = sphere_colours(eye, lit.shape[0])
    for image in (lit, unlit):
        drawn = object_pixels(image)
        assert np.sum(drawn & hit) / np.sum(drawn | hit) > 0.97  # a sphere of radius 0.3 where it should be
    drawn = object_pixels(unlit) & hit
    error = np.abs(unlit[drawn][:, :3] / 255 - expected[drawn])
    print(f"{name}: colour field error median {np.median(error):.4f}, 99.9% {np.percentile(error, 99.9):.3f}")
    assert np.median(error) < 0.01 and np.percentile(error, 99) < 0.03  # right colours, +Y up, +X right
    shaded = lit[object_pixels(lit)][:, :3].mean(axis=0) / 255
    print(f"{name}: lit mean colour {shaded.round(3)}, field mean {expected[hit].mean(axis=0).round(3)}")
    assert np.abs(shaded - expected[hit].mean(axis=0)).max() < 0.1, shaded  # lit: not blank, about the same hue


@pytest.mark.skipif(not HELMET.is_file(), reason=f"needs the shared assets ({HELMET} is absent)")
def test_helmet_loads_and_draws_like_the_original(viewer, glb_dir, artifacts):
    glb = helmet_glb()
    glb.export(glb_dir / "helmet.glb")
    views = {"front": (20, 10), "side": (100, 5)}
    renders, boxes = {}, {}
    for name, path in (("ours", "/files/helmet.glb"), ("original", "/assets/DamagedHelmet/DamagedHelmet.gltf")):
        info = viewer.load(path)
        if name == "ours":
            check_product_mesh(viewer, info, glb)
            check_decoded_textures(viewer, glb)
        boxes[name] = np.array(info["box"])
        for view, (yaw, pitch) in views.items():
            eye, target = orbit(boxes["ours"], yaw, pitch)
            for lit in (True, False):
                image = viewer.render(eye, target, lit=lit)
                renders[view, name, lit] = image
                save(image, artifacts / f"helmet_{view}_{name}_{'lit' if lit else 'base_color'}.png")
    np.testing.assert_allclose(boxes["ours"], boxes["original"], atol=0.03)  # same place and orientation (+Y up)
    assert viewer.errors() == [] and viewer.console_errors == []
    for view in views:
        ours, original = renders[view, "ours", False], renders[view, "original", False]
        mine, theirs = object_pixels(ours), object_pixels(original)
        both = mine & theirs
        iou = both.sum() / (mine | theirs).sum()
        mean_ours, mean_original = ours[both][:, :3].mean(axis=0) / 255, original[both][:, :3].mean(axis=0) / 255
        error = np.abs(ours[both][:, :3].astype(float) - original[both][:, :3]) / 255
        lit_ours = renders[view, "ours", True][both][:, :3].mean(axis=0) / 255
        lit_original = renders[view, "original", True][both][:, :3].mean(axis=0) / 255
        print(f"helmet {view}: IoU {iou:.3f}, base colour {mean_ours.round(3)} vs {mean_original.round(3)}, "
              f"median error {np.median(error):.3f}, lit {lit_ours.round(3)} vs {lit_original.round(3)}")
        assert 0.2 < mine.mean() < 0.7 and iou > 0.93
        assert np.abs(mean_ours - mean_original).max() < 0.03 and np.median(error) < 0.06
        assert np.abs(lit_ours - lit_original).max() < 0.1


@pytest.mark.skipif(not ALPHA_TEST.is_file(), reason=f"needs the shared assets ({ALPHA_TEST} is absent)")
@pytest.mark.parametrize("mode, transparent, alpha_test", [("auto", True, 0), ("BLEND", True, 0),
                                                           ("MASK", False, 0.5), ("OPAQUE", False, 0)])
def test_alpha_modes_reach_three_js_materials(viewer, glb_dir, artifacts, mode, transparent, alpha_test):
    """GLTFLoader's reading of each mode: BLEND -> transparent without depth writes (and its opaque faces' copy
    opaque with them), MASK -> alphaTest = cutoff."""
    glb = alpha_test_glb(mode)
    glb.export(glb_dir / f"alpha_{mode}.glb")
    info = viewer.load(f"/files/alpha_{mode}.glb")
    material, *opaque_copy = check_product_mesh(viewer, info, glb)
    assert material["transparent"] is transparent and material["depthWrite"] is not transparent
    assert material["alphaTest"] == alpha_test
    assert len(opaque_copy) == transparent  # the asset has opaque and translucent faces
    for copy in opaque_copy:
        assert not copy["transparent"] and copy["depthWrite"] and copy["alphaTest"] == 0
        assert copy["map"] == material["map"] and copy["metalnessMap"] == material["metalnessMap"]
    eye, target = orbit(info["box"], 0, 8, fill=1.0)
    save(viewer.render(eye, target), artifacts / f"alpha_{mode}_lit.png")


def to_pixels(points: np.ndarray, eye: np.ndarray, target: np.ndarray, size: int) -> np.ndarray:
    """(column, row) of world points in a render from `eye` towards `target` (+Y up, vertical field of view FOV)."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    camera = (points - eye) @ np.stack([right, np.cross(right, forward), forward], axis=1)
    ndc = camera[:, :2] / (camera[:, 2:] * np.tan(np.radians(FOV / 2)))
    return np.stack([(ndc[:, 0] + 1) / 2 * size, (1 - ndc[:, 1]) / 2 * size], axis=1)


def drawn_shares(viewer, glb_dir, mode: str, same_as: str = "OPAQUE") -> dict[str, tuple[float, float]]:
    """Unlit renders of the `mode` and `same_as` exports from the front: per panel, the share of its alpha ramp drawn
    as in the `same_as` render, and the share of the ramp where the source alpha passes the panel's own test
    (OPAQUE: all; BLEND: alpha >= 0.5; MASK: its cutoff)."""
    renders = {}
    for name in (mode, same_as):
        alpha_test_glb(name).export(glb_dir / f"front_{name}.glb")
        info = viewer.load(f"/files/front_{name}.glb")
        eye, target = orbit(info["box"], 0, 8, fill=1.0)
        renders[name] = viewer.render(eye, target, lit=False).astype(int)
    same = np.abs(renders[mode] - renders[same_as]).max(axis=-1) < 12
    (x0, y0), (x1, y1) = SourcePanel.RAMP
    shares = {}
    for node, threshold in {"TestOpaque": 0.0, "TestBlend": 0.5, **MASK_CUTOFFS}.items():
        panel = SourcePanel.of(node)
        grid = np.stack(np.meshgrid(np.linspace(x0 + 0.05, x1 - 0.05, 40), np.linspace(y0 + 0.05, y1 - 0.05, 80)), -1)
        world = np.c_[grid.reshape(-1, 2) + panel.origin[:2], np.full(grid.size // 2, panel.origin[2])]
        cols, rows = to_pixels(world, eye, target, same.shape[0]).astype(int).T
        shares[node] = same[rows, cols].mean(), np.mean(panel.source_alpha(world) >= threshold)
        print(f"{mode} {node}: panel drawn as {same_as} {shares[node][0]:.3f}, source passes {shares[node][1]:.3f}")
    return shares


@pytest.mark.skipif(not ALPHA_TEST.is_file(), reason=f"needs the shared assets ({ALPHA_TEST} is absent)")
def test_mask_export_cuts_each_panel_where_its_source_does(viewer, glb_dir):
    """Rendered with alphaTest 0.5, each panel's alpha ramp stays drawn on the share of its height that passes the
    source material's test; behind the rest the bed shows, so those pixels differ from the OPAQUE export's render."""
    for node, (drawn, expected) in drawn_shares(viewer, glb_dir, "MASK").items():
        assert abs(drawn - expected) < 0.06, (node, drawn, expected)


@pytest.mark.skipif(not ALPHA_TEST.is_file(), reason=f"needs the shared assets ({ALPHA_TEST} is absent)")
def test_blend_export_draws_the_panels_in_front_of_the_back_wall(viewer, glb_dir):
    """The BLEND export blends each panel over the bed behind it instead of the bed covering the panels: where the
    baked alpha is 1 (the OPAQUE panel, the passing part of each MASK panel) the render equals the OPAQUE export's,
    where it is 0 the MASK export's (the bed), and the BLEND panel's ramp lies between the two."""
    as_opaque = drawn_shares(viewer, glb_dir, "BLEND")
    as_mask = drawn_shares(viewer, glb_dir, "BLEND", same_as="MASK")
    for node in ("TestOpaque", *MASK_CUTOFFS):
        drawn, expected = as_opaque[node]
        assert abs(drawn - expected) < 0.06, (node, drawn, expected)
        assert as_mask[node][0] > 0.9, (node, as_mask[node])
    ramp_opaque, ramp_mask = as_opaque["TestBlend"][0], as_mask["TestBlend"][0]
    assert ramp_opaque < 0.9 and ramp_mask < 0.9, (ramp_opaque, ramp_mask)
