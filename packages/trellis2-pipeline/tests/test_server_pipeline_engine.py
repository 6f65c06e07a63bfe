"""The pipeline engine's own logic: task request -> `pipeline.run` arguments, the saved asset, the preview cameras."""

import numpy as np
import pytest
import torch
from trellis2.representations import PBR_ATTR_LAYOUT, MeshWithVoxel
from trellis2.server.asset_files import SavedAsset
from trellis2.server.pipeline_engine import run_arguments
from trellis2.server.previews import PREVIEW_MODES, turntable_cameras


@pytest.mark.parametrize(("resolution", "pipeline_type"), [("512", "512"), ("1024", "1024_cascade"),
                                                           ("1536", "1536_cascade")])
def test_resolution_selects_upstream_demos_pipeline_type(resolution, pipeline_type):
    assert run_arguments({"seed": 5, "resolution": resolution})["pipeline_type"] == pipeline_type


def test_stored_sampler_params_become_per_stage_overrides_without_unset_fields():
    request = {  # as the API stores it: model_dump keeps unset fields as None
        "seed": 9, "resolution": "1024",
        "sampler_params": {
            "sparse_structure": {"steps": 3, "guidance_strength": None, "guidance_interval": [0.5, 1.0]},
            "shape_slat": {"steps": None, "rescale_t": 2.5},
            "tex_slat": {"steps": None},
        },
    }
    arguments = run_arguments(request)
    assert arguments == {
        "seed": 9, "pipeline_type": "1024_cascade",
        "sparse_structure_sampler_params": {"steps": 3, "guidance_interval": [0.5, 1.0]},
        "shape_slat_sampler_params": {"rescale_t": 2.5},
        "tex_slat_sampler_params": {},
    }


def test_unknown_resolution_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown resolution '2048'; choose one of 512, 1024, 1536"):
        run_arguments({"resolution": "2048"})


def test_saved_asset_round_trips_a_mesh_with_voxels(tmp_path):
    generator = torch.Generator().manual_seed(0)
    mesh = MeshWithVoxel(
        torch.rand(10, 3, generator=generator) - 0.5, torch.randint(0, 10, (7, 3), generator=generator),
        [-0.5, -0.5, -0.5], 1 / 64, torch.randint(0, 64, (5, 3), generator=generator).int(),
        torch.rand(5, 6, generator=generator), (1, 6, 64, 64, 64),
    )
    SavedAsset.from_mesh(mesh).save(tmp_path / "asset.npz")
    assert [path.name for path in tmp_path.iterdir()] == ["asset.npz"]  # no temporary file left behind
    loaded = SavedAsset.load(tmp_path / "asset.npz")
    np.testing.assert_array_equal(loaded.vertices, mesh.vertices.numpy())
    np.testing.assert_array_equal(loaded.faces, mesh.faces.numpy())
    np.testing.assert_array_equal(loaded.coords, mesh.coords.numpy())
    np.testing.assert_array_equal(loaded.attrs, mesh.attrs.numpy())
    assert loaded.layout == PBR_ATTR_LAYOUT and loaded.voxel_size == 1 / 64
    assert loaded.faces.dtype == np.int32 and loaded.coords.dtype == np.int32


def test_missing_asset_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no generated asset at .*asset.npz"):
        SavedAsset.load(tmp_path / "asset.npz")


def test_turntable_cameras_circle_the_origin_at_a_fixed_height():
    extrinsics, intrinsics = turntable_cameras(4)
    eyes = np.array([(-e[:3, :3].T @ e[:3, 3]).numpy() for e in extrinsics])
    np.testing.assert_allclose(np.linalg.norm(eyes, axis=1), 2.0, atol=1e-5)  # upstream's r = 2
    np.testing.assert_allclose(eyes[:, 2], 2.0 * np.sin(np.radians(20)), atol=1e-5)  # 20 degrees up
    np.testing.assert_allclose(eyes[0] + eyes[2], [0, 0, 2 * eyes[0, 2]], atol=1e-5)  # opposite sides
    assert len(intrinsics) == 4
    assert PREVIEW_MODES == ("normal", "clay", "base_color", "shaded_forest", "shaded_sunset", "shaded_courtyard")
