"""mesh_to_ovoxel: geometry and PBR attributes share one row order; the O-Voxel extracts back to the surface."""

from __future__ import annotations

import io

import numpy as np
import ovoxel.io
import pytest
from ovoxel import textured_mesh_to_volumetric_attr
from ovoxel.demo_asset import demo_mesh
from ovoxel.ovoxel_build import check_memory, mesh_to_ovoxel, ovoxel_to_mesh

BOX = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]


@pytest.fixture(scope="module")
def sphere_ovoxel():
    return mesh_to_ovoxel(demo_mesh(), 32, aabb=BOX)


def test_layout_and_alignment(sphere_ovoxel):
    coords, attrs, aabb = sphere_ovoxel
    np.testing.assert_array_equal(aabb, BOX)
    assert coords.dtype == np.int32 and np.all(np.diff(coords[:, 0]) >= 0)
    assert all(v.dtype == np.uint8 and len(v) == len(coords) for v in attrs.values())
    assert attrs["dual_vertices"].shape[1] == 3 and attrs["intersected"].shape[1] == 1
    attr_coords, pbr = textured_mesh_to_volumetric_attr(demo_mesh(), grid_size=32, aabb=BOX)
    np.testing.assert_array_equal(attr_coords, coords)  # same crossing rule -> same voxel set
    for name, values in pbr.items():
        np.testing.assert_array_equal(attrs[name], values)


def test_vxz_round_trip_then_mesh(sphere_ovoxel):
    coords, attrs, aabb = sphere_ovoxel
    buffer = io.BytesIO()
    ovoxel.io.write_vxz(buffer, coords, attrs)
    buffer.seek(0)
    back_coords, back_attrs = ovoxel.io.read_vxz(buffer)
    vertices, faces, colours = ovoxel_to_mesh(back_coords, back_attrs, aabb, 32)
    assert len(faces) > 0 and colours.shape == (len(vertices), 3)
    radius = np.linalg.norm(vertices, axis=1)
    assert np.all(np.abs(radius - 0.5) < 1.0 / 32)  # every dual vertex within a voxel of the sphere


def test_memory_refusal_happens_before_work():
    with pytest.raises(MemoryError, match="lower the resolution"):
        check_memory(10**9, available=2**30)
