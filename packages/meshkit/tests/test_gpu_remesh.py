"""The torch remesh over the Triton BVH walk (compiled on a GPU, else Triton's interpreter on a tiny input) and the
CUDA dispatch of ``remesh_narrow_band_dc``, against the native remesh."""

import meshkit
import numpy as np
import pytest
from mesh_checks import is_closed_manifold, sphere
from test_remesh import grid_for
from triton_device import DEVICE, needs_cuda, torch

bvh_triton = pytest.importorskip("meshkit.gpu.bvh_triton")  # after triton_device has chosen the interpreter
from meshkit.remesh_torch import remesh_on_device  # noqa: E402


class TritonTree:
    """The closest-point queries the remesh makes, answered by the Triton walk over the native tree's arrays."""

    def __init__(self, vertices, faces):
        self.tree = bvh_triton.DeviceBVH(meshkit.BVH(vertices, faces)._tree.arrays(), DEVICE)

    def unsigned_distance(self, points):
        return self.tree.closest_point(points)[0]

    def closest_surface_point(self, points):
        return self.tree.closest_point(points)[3]


def test_remesh_over_the_triton_walk_equals_the_native_remesh(monkeypatch):
    monkeypatch.setattr(bvh_triton, "_BLOCK", 1024)  # one or two programs: the interpreter pays per program step
    v, f = sphere(1)
    v = v * [1.0, 0.9, 0.8]
    centre, scale, _ = grid_for(v, 8, 1.0)
    native = meshkit.remesh_narrow_band_dc(v, f, centre, scale, 8, 1.0, 0.5)
    got = remesh_on_device(TritonTree(v, f), tuple(centre), scale, 8, 1.0, 0.5, DEVICE)
    assert got[0].device.type == got[1].device.type == DEVICE.type
    assert len(native[1]) > 100
    np.testing.assert_array_equal(got[1].cpu().numpy(), native[1])
    np.testing.assert_allclose(got[0].cpu().numpy(), native[0], rtol=0, atol=1e-12)


@needs_cuda
@pytest.mark.parametrize("outer_only", [False, True])
def test_cuda_tensors_take_the_gpu_path_with_the_native_result(outer_only):
    v, f = sphere(4)
    centre, scale, _ = grid_for(v, 96, 1.0)
    native = meshkit.remesh_narrow_band_dc(v, f, centre, scale, 96, 1.0, 0.9, outer_only=outer_only)
    got = meshkit.remesh_narrow_band_dc(torch.from_numpy(v).cuda(), torch.from_numpy(f).cuda(), centre, scale, 96,
                                        1.0, 0.9, outer_only=outer_only)
    assert got[0].is_cuda and got[1].is_cuda and got[0].dtype == torch.float64
    np.testing.assert_array_equal(got[1].cpu().numpy(), native[1])
    np.testing.assert_allclose(got[0].cpu().numpy(), native[0], rtol=0, atol=1e-12 * scale)
    assert is_closed_manifold(native[1])
