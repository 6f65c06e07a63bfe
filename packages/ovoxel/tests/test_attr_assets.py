"""Native attribute voxelizer on the real textured assets in ../shared: the same bytes as the numpy reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from attr_reference import reference_volumetric_attr
from ovoxel import textured_mesh_to_volumetric_attr
from ovoxel.mesh_loading import load_parts

ASSETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "assets"
pytestmark = pytest.mark.skipif(not ASSETS.is_dir(), reason=f"shared assets not found at {ASSETS}")


@pytest.mark.parametrize(("asset", "grid"), [("Duck.glb", 64), ("AlphaBlendModeTest.glb", 64),
                                             ("WaterBottle.glb", 48), ("DamagedHelmet/DamagedHelmet.gltf", 96)])
def test_matches_numpy_reference(asset, grid):
    parts = load_parts(ASSETS / asset)
    coords, attrs = textured_mesh_to_volumetric_attr(parts, grid_size=grid, num_threads=2)
    expected_coords, expected = reference_volumetric_attr(parts, grid_size=grid)
    assert len(coords) > 1000
    np.testing.assert_array_equal(coords, expected_coords)
    for name, values in expected.items():
        np.testing.assert_array_equal(attrs[name], values, err_msg=name)
