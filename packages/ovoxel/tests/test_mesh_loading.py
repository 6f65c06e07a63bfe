"""Scene loading: instances baked to world space exactly as trimesh's Scene.dump, materials read from the source."""

import numpy as np
import trimesh
from ovoxel.mesh_loading import load_parts
from PIL import Image


def _textured_box() -> trimesh.Trimesh:
    box = trimesh.creation.box()
    rng = np.random.default_rng(0)
    texture = Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=texture, roughnessFactor=0.25)
    box.visual = trimesh.visual.TextureVisuals(uv=rng.uniform(0, 1, (len(box.vertices), 2)), material=material)
    return box


def test_scene_instances_match_scene_dump():
    scene = trimesh.Scene()
    box = _textured_box()
    turn = trimesh.transformations.rotation_matrix(0.7, [1, 2, 3], [0.1, 0.2, 0.3])
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0]) @ trimesh.transformations.translation_matrix([2, 0, 0])
    for transform in (np.eye(4), turn, mirror):
        scene.add_geometry(box, geom_name="box", transform=transform)
    parts = load_parts(scene)
    dumped = scene.dump()
    texture = np.asarray(box.visual.material.baseColorTexture)
    assert len(parts) == len(dumped) == 3
    for part, mesh in zip(parts, dumped, strict=True):
        np.testing.assert_array_equal(part.vertices, mesh.vertices)
        np.testing.assert_array_equal(part.faces, mesh.faces)
        np.testing.assert_array_equal(part.vertex_normals, mesh.vertex_normals)
        np.testing.assert_array_equal(part.uv, mesh.visual.uv)
        np.testing.assert_array_equal(part.material.base_color_texture[..., :3], texture)
        assert part.material.roughness_factor == 0.25
    assert not np.array_equal(parts[2].faces, parts[0].faces)  # the mirror flips the winding
