"""to_glb's geometry stages on torch tensors (the GPU path, run here on CPU tensors) against the numpy path: the
same meshes after every stage and the same GLB."""

from __future__ import annotations

import numpy as np
import ovoxel
import pytest
from ovoxel.postprocess import geometry
from postprocess_fixtures import voxel_sphere

torch = pytest.importorskip("torch")
EXTENT = 4.0  # box extent the tolerances scale with: large enough that a quad hole of the 48^3 grid gets closed


@pytest.fixture(scope="module")
def sphere():
    return voxel_sphere(48)


def damaged(sphere):
    """The sphere's dual grid with a two-face hole, a duplicated face, a fin on an edge and a tiny closed speck."""
    v, f = sphere.vertices.astype(np.float64), sphere.faces.astype(np.int64)
    a, b = f[100, 0], f[100, 1]
    n = len(v)
    speck = np.array([[0.4, 0.4, 0.4], [0.4001, 0.4, 0.4], [0.4, 0.4001, 0.4], [0.4, 0.4, 0.4001]])
    tetra = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]]) + n + 1
    faces = np.vstack([f[2:], f[5:6], [[a, b, n]], tetra])
    return np.vstack([v, [(v[a] + v[b]) * 0.8], speck]), faces


def assert_same(ours, theirs):
    assert isinstance(ours[0], torch.Tensor) and ours[0].dtype == torch.float64 and ours[1].dtype == torch.int64
    np.testing.assert_array_equal(ours[1].numpy(), theirs[1])
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0])


def test_every_geometry_stage_matches_the_numpy_path(sphere):
    numpy_mesh = damaged(sphere)
    tensor_mesh = tuple(torch.from_numpy(a) for a in numpy_mesh)
    extent, target = EXTENT, 1500
    stages = [(geometry.fill_small_holes, (extent,)), (geometry.simplify, (3 * target,)), (geometry.clean, (extent,)),
              (geometry.simplify, (target,)), (geometry.final_cleanup, (extent, target))]
    sizes = [len(numpy_mesh[1])]
    for stage, args in stages:
        numpy_mesh, tensor_mesh = stage(numpy_mesh, *args), stage(tensor_mesh, *args)
        assert_same(tensor_mesh, numpy_mesh)
        sizes.append(len(numpy_mesh[1]))
    assert sizes[1] == sizes[0] + 2 and sizes[-1] <= target  # the quad hole closed, the target reached


def test_clean_on_tensors_drops_the_speck_and_splits_the_fin(sphere):
    v, f = geometry.fill_small_holes(tuple(torch.from_numpy(a) for a in damaged(sphere)), EXTENT)
    out_v, out_f = geometry.clean((v, f), EXTENT)
    assert len(out_f) == len(f) - 1 - 4  # the duplicate and the speck go, the fin is split off and stays
    assert len(out_v) == len(v) + 2 - 4  # the fin's edge ends get their own copies, the speck's corners go


def test_to_glb_through_the_tensor_path_writes_the_same_asset(sphere, monkeypatch):
    small = dict(decimation_target=600, texture_size=64)
    reference = ovoxel.postprocess.to_glb(**sphere.kwargs(**small))
    started = []

    def cpu_tensors(vertices, faces, checked):
        started.append(True)
        return tuple(torch.from_numpy(a) for a in checked)

    monkeypatch.setattr(geometry, "device_mesh", cpu_tensors)
    tensors = ovoxel.postprocess.to_glb(**sphere.kwargs(**small))
    assert started == [True]
    for name in ("vertices", "faces", "uvs", "normals"):
        np.testing.assert_array_equal(getattr(tensors, name), getattr(reference, name))
    np.testing.assert_array_equal(tensors.material.base_color_texture, reference.material.base_color_texture)


def test_only_accelerator_tensors_start_on_the_device(sphere):
    checked = (sphere.vertices.astype(np.float64), sphere.faces.astype(np.int64))
    assert geometry.device_mesh(sphere.vertices, sphere.faces, checked) is checked
    v, f = torch.from_numpy(sphere.vertices), torch.from_numpy(sphere.faces)
    assert geometry.device_mesh(v, f, checked) is checked
    if torch.cuda.is_available():
        dv, df = geometry.device_mesh(v.cuda().float(), f.cuda().int(), checked)
        assert dv.is_cuda and dv.dtype == torch.float64 and df.dtype == torch.int64
        np.testing.assert_array_equal(geometry.as_arrays((dv, df))[1], checked[1])
