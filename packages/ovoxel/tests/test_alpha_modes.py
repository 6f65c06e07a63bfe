"""Alpha modes through the product chain on Khronos' AlphaBlendModeTest (OPAQUE, BLEND and MASK panels with cutoffs
0.25 / 0.5 / 0.75): mesh_to_ovoxel at 128^3 -> to_glb with alpha_mode 'auto' and each explicit mode.

to_glb writes one material (plus, for BLEND, an OPAQUE copy for the fully opaque faces), so a round trip cannot
keep per-material modes. What it can keep, and what is checked:
- voxelising applies each source material's mode: OPAQUE -> alpha 1, MASK -> alpha 0/1 by that material's cutoff,
  BLEND -> the texture's alpha;
- the baked alpha channel keeps those values: OPAQUE parts stay 1 (even where their texture's alpha is 0), the BLEND
  ramp keeps its values, MASK panels bake 0/1 (within 3/255) wherever the source mask is uniform for 2 voxels
  around (the voxelizer samples a mip level about a voxel wide), so one MASK cutoff of 0.5 reproduces all three
  source cutoffs (soft texels appear only at mask edges: the bake samples the voxels trilinearly);
- 'auto' picks from the voxels' alpha, not the baked texels (their soft mask edges would always say BLEND):
  OPAQUE when all are opaque, MASK when all are binary (so MASK-only sources come back as MASK), else BLEND;
- explicit modes are written as asked (MASK with alphaCutoff 0.5) and do not change the textures.
"""

from __future__ import annotations

import functools

import numpy as np
import pygltflib
import pytest
import trimesh
from asset_products import ALPHA_TEST, MASK_CUTOFFS, RESOLUTION, SourcePanel, alpha_test_glb, voxelised, z_up_to_y_up

pytestmark = pytest.mark.skipif(not ALPHA_TEST.is_file(), reason=f"needs the shared assets ({ALPHA_TEST} is absent)")

OPAQUE_NODES = ("Bed", "TestOpaque", "DecalOpaque", "GreenArrows")
MARGIN_VOXELS = 2.0
SAMPLES = 300_000


def voxel_size(nodes: tuple[str, ...] | None = None) -> float:
    _, _, box = voxelised(ALPHA_TEST, nodes)
    return float((box[1] - box[0]).max() / RESOLUTION)


@functools.cache
def surface_alpha(nodes: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points spread evenly over the 'auto' GLB's surface (Y-up, the asset's frame) and the baked alpha under each."""
    glb = alpha_test_glb("auto", nodes)
    mesh = trimesh.Trimesh(glb.vertices, glb.faces, process=False)
    points, face = trimesh.sample.sample_surface(mesh, SAMPLES, seed=7)
    barycentric = trimesh.triangles.points_to_barycentric(mesh.triangles[face], points)
    uv = np.einsum("ij,ijk->ik", barycentric, glb.uvs[glb.faces[face]])
    texture = glb.material.base_color_texture
    rows = np.clip((uv[:, 1] * texture.shape[0]).astype(int), 0, texture.shape[0] - 1)
    cols = np.clip((uv[:, 0] * texture.shape[1]).astype(int), 0, texture.shape[1] - 1)
    return z_up_to_y_up(points), texture[rows, cols, 3].astype(np.float64) / 255


def written_material(glb) -> pygltflib.Material:
    return pygltflib.GLTF2.load_from_bytes(glb.export()).materials[0]


def test_voxels_carry_each_source_materials_alpha_rule():
    coords, values, box = voxelised(ALPHA_TEST)
    centres = z_up_to_y_up((coords + 0.5) * (box[1] - box[0]) / RESOLUTION + box[0])
    alpha = values["alpha"][:, 0]
    inset = 2 * voxel_size()
    opaque = alpha[SourcePanel.of("TestOpaque").contains(centres, inset)]
    assert opaque.size > 200 and np.all(opaque == 255)
    for node in MASK_CUTOFFS:
        masked = alpha[SourcePanel.of(node).contains(centres, inset)]
        assert set(np.unique(masked)) == {0, 255}, node
    blended = alpha[SourcePanel.of("TestBlend").contains(centres, inset)]
    assert len(np.unique(blended)) > 50


def test_a_panel_on_a_grid_plane_keeps_its_attributes():
    """TestOpaque alone: the fitted cube puts its plane exactly on a grid plane, where the dual grid and the
    voxelizer pick cells on opposite sides (before the fix 88% of its voxels came out black and transparent)."""
    coords, values, box = voxelised(ALPHA_TEST, ("TestOpaque",))
    plane = (0 - box[0, 1]) / (box[1, 1] - box[0, 1]) * RESOLUTION  # the panel's z = 0 is Z-up y = 0
    assert plane == pytest.approx(round(plane), abs=1e-9)
    assert np.all(values["alpha"] == 255)
    assert np.mean(values["base_color"].max(axis=1) > 0) > 0.7  # black only where the texture is black


@pytest.mark.parametrize("nodes, expected", [(None, "BLEND"), (OPAQUE_NODES, "OPAQUE"),
                                             (tuple(MASK_CUTOFFS), "MASK")])
def test_auto_mode_follows_the_voxel_alpha(nodes, expected):
    glb = alpha_test_glb("auto", nodes)
    baked = glb.material.base_color_texture[..., 3][glb.material.texel_mask]
    partial = np.mean((baked > 5) & (baked < 250))
    print(nodes, f"partial texels {partial:.3f}")
    material = written_material(glb)
    assert material.alphaMode == expected
    assert material.alphaCutoff == (0.5 if expected == "MASK" else None)
    if expected == "OPAQUE":
        assert np.all(baked == 255)
    else:
        assert partial > 0.01, partial  # soft texels exist (the BLEND ramp, or mask edges) whatever the mode


def test_blend_export_splits_off_the_opaque_faces():
    """'auto' on the whole asset is BLEND; the bed and the OPAQUE panel go to the OPAQUE copy, the BLEND panel
    (its ramp spans it, decimated to a few large faces) stays BLEND."""
    glb = alpha_test_glb("auto")
    opaque = glb.opaque_faces
    centroids = z_up_to_y_up(glb.vertices[glb.faces].mean(axis=1))
    bed = centroids[:, 2] < -0.3
    solid, blend = (SourcePanel.of(node).contains(centroids, 0.0) for node in ("TestOpaque", "TestBlend"))
    print(f"opaque faces {opaque.mean():.3f}, bed {opaque[bed].mean():.3f} of {bed.sum()}, "
          f"opaque panel {opaque[solid].mean():.3f} of {solid.sum()}, blend panel {opaque[blend].mean():.3f} "
          f"of {blend.sum()}")
    assert bed.sum() > 500 and opaque[bed].mean() > 0.99
    assert solid.sum() >= 5 and opaque[solid].all() and blend.sum() >= 5 and not opaque[blend].any()
    written = pygltflib.GLTF2.load_from_bytes(glb.export())
    assert [m.alphaMode for m in written.materials] == ["BLEND", "OPAQUE"]
    counts = [written.accessors[p.indices].count // 3 for p in written.meshes[0].primitives]
    assert counts == [np.sum(~opaque), np.sum(opaque)]


@pytest.mark.parametrize("nodes", [None, tuple(MASK_CUTOFFS)])
def test_mask_panels_bake_binary_alpha_with_their_cutoffs(nodes):
    points, baked = surface_alpha(nodes)
    margin = MARGIN_VOXELS * voxel_size(nodes)
    for node, cutoff in MASK_CUTOFFS.items():
        panel = SourcePanel.of(node)
        on = panel.contains(points, 2 * voxel_size(nodes))
        passed = panel.source_alpha(points[on]) >= cutoff
        clear = panel.mask_margin(points[on], cutoff) > margin
        print(node, f"clear {clear.mean():.2f}", f"agree {np.mean((baked[on] >= 0.5) == passed):.3f}")
        assert 0.15 < clear.mean() and passed[clear].any() and (~passed[clear]).any(), (node, clear.mean())
        np.testing.assert_allclose(baked[on][clear], passed[clear].astype(float), atol=3 / 255, err_msg=node)
        assert np.mean((baked[on] >= 0.5) == passed) > 0.88, node  # the rest: edges within 2 voxels


def test_blend_panel_keeps_its_alpha_ramp():
    points, baked = surface_alpha()
    panel = SourcePanel.of("TestBlend")
    ramp = panel.in_ramp(points, 2 * voxel_size())
    source = panel.source_alpha(points[ramp])
    error = np.abs(baked[ramp] - source)
    assert ramp.sum() > 1000 and source.min() < 0.15 and source.max() > 0.85
    print(f"ramp error mean {error.mean():.4f} max {error.max():.4f}")
    assert error.mean() < 0.012 and error.max() < 0.04, (error.mean(), error.max())


def test_opaque_parts_stay_opaque():
    points, baked = surface_alpha()
    panel = SourcePanel.of("TestOpaque")
    on = panel.contains(points, 1.5 * voxel_size())
    assert on.sum() > 1000 and panel.source_alpha(points[on]).min() == 0  # its texture has transparent parts
    assert np.all(baked[on] == 1)
    bed = points[:, 2] < -0.3  # the bed's back, behind the panels
    assert bed.sum() > 10_000 and np.all(baked[bed] == 1)


@pytest.mark.parametrize("mode", ["OPAQUE", "MASK", "BLEND"])
def test_explicit_modes_are_written_as_asked_and_keep_the_textures(mode):
    auto, glb = alpha_test_glb("auto"), alpha_test_glb(mode)
    material = written_material(glb)
    assert material.alphaMode == mode and material.doubleSided is True
    assert material.alphaCutoff == (0.5 if mode == "MASK" else None)
    np.testing.assert_array_equal(glb.material.base_color_texture, auto.material.base_color_texture)
    np.testing.assert_array_equal(glb.material.metallic_roughness_texture, auto.material.metallic_roughness_texture)
