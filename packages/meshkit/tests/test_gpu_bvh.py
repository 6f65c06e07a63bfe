"""The Triton BVH closest-point walk (compiled on a GPU, else in Triton's interpreter) against the native query."""

import meshkit
import numpy as np
import pytest
import trimesh
from triton_device import DEVICE, needs_cuda, torch

bvh_triton = pytest.importorskip("meshkit.gpu.bvh_triton")  # after triton_device has chosen the interpreter
from meshkit.gpu import check_device_points  # noqa: E402


@pytest.fixture(autouse=True)
def one_program(monkeypatch):
    """One program of 128 lanes for these small batches (the interpreter's cost is per program step)."""
    monkeypatch.setattr(bvh_triton, "_BLOCK", 128)


def query_both(vertices, faces, points):
    """Native and Triton (distance, face, barycentric, closest point) as numpy arrays."""
    tree = meshkit.BVH(vertices, faces)
    native = tree._tree.closest_point(np.asarray(points, np.float64))
    device_tree = bvh_triton.DeviceBVH(tree._tree.arrays(), DEVICE)
    got = device_tree.closest_point(torch.as_tensor(points, dtype=torch.float64, device=DEVICE))
    return native, tuple(x.cpu().numpy() for x in got)


def assert_same(native, got):
    np.testing.assert_array_equal(got[1], native[1])
    np.testing.assert_allclose(got[0], native[0], rtol=1e-6, atol=0)
    np.testing.assert_allclose(got[2], native[2], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[3], native[3], rtol=0, atol=1e-9)


def test_triangle_soup_with_degenerate_faces():
    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(50, 3))
    vertices[49] = (vertices[0] + vertices[1]) / 2  # collinear with 0 and 1
    faces = np.concatenate([rng.integers(0, 48, size=(56, 3)), [[0, 1, 49], [2, 2, 3], [4, 4, 4]]])
    points = np.concatenate([rng.normal(size=(100, 3)) * 1.5, vertices[:20] + 1e-3])
    native, got = query_both(vertices, faces, points)
    assert_same(native, got)
    assert len(np.unique(got[1])) > 20 and got[0].max() > 0.1


def test_ties_go_to_the_lowest_face_id():
    sphere = trimesh.creation.icosphere(1)
    faces = np.concatenate([sphere.faces, sphere.faces[::7]])  # duplicates: every distance to them ties
    rng = np.random.default_rng(1)
    points = np.concatenate([sphere.vertices, rng.normal(size=(60, 3))])  # vertices: 5 faces at distance 0
    native, got = query_both(sphere.vertices, faces, points)
    assert_same(native, got)
    assert got[1].max() < len(sphere.faces) and (got[0][: len(sphere.vertices)] == 0).all()
    at_vertex = got[1][: len(sphere.vertices)]
    lowest = [np.flatnonzero((sphere.faces == v).any(1)).min() for v in range(len(sphere.vertices))]
    np.testing.assert_array_equal(at_vertex, lowest)


@pytest.mark.parametrize("num_faces", [1, 4, 5])
def test_small_trees_and_no_points(num_faces):
    rng = np.random.default_rng(num_faces)
    vertices, faces = rng.normal(size=(8, 3)), rng.permutation(8)[:6].reshape(2, 3)[[0, 1, 0, 1, 0][:num_faces]]
    native, got = query_both(vertices, faces, rng.normal(size=(30, 3)))
    assert_same(native, got)
    _, empty = query_both(vertices, faces, np.zeros((0, 3)))
    assert [x.shape for x in empty] == [(0,), (0,), (0, 3), (0, 3)]


def tree_levels(links):
    """Inner levels on the longest root-to-leaf path of an exported tree."""
    levels, frontier = 0, [0]
    while frontier:
        levels += 1
        frontier = [links[n, s] for n in frontier for s in (0, 1) if links[n, 2 + s] == 0 and links[n, s] >= 0]
    return levels


@pytest.mark.parametrize("num_faces", [1, 9, 33, 1000, 5001])
def test_stack_holds_the_deepest_walk(num_faces):
    rng = np.random.default_rng(num_faces)
    vertices = rng.normal(size=(3 * num_faces, 3))
    links = meshkit.BVH(vertices, np.arange(3 * num_faces).reshape(-1, 3))._tree.arrays()[1]
    depth = bvh_triton._stack_depth(num_faces)
    assert depth >= tree_levels(links) + 1 and depth & (depth - 1) == 0


def test_device_points_are_checked():
    with pytest.raises(ValueError, match=r"points must have shape \(N, 3\)"):
        check_device_points(torch.zeros(4, 2))
    bad = torch.zeros(5, 3)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite values \\(first at row 3\\)"):
        check_device_points(bad)
    assert check_device_points(torch.ones(2, 3, dtype=torch.float32)).dtype == torch.float64


@needs_cuda
def test_cuda_queries_and_bake_run_on_the_gpu():
    sphere = trimesh.creation.icosphere(3)
    rng = np.random.default_rng(2)
    points = rng.normal(size=(5000, 3))
    tree = meshkit.BVH(sphere.vertices, sphere.faces)
    got = (*tree.closest_point(torch.as_tensor(points, device="cuda")),
           tree.closest_surface_point(torch.as_tensor(points, device="cuda")))
    assert all(x.device.type == "cuda" for x in got)
    assert_same(tree._tree.closest_point(points), tuple(x.cpu().numpy() for x in got))
    layout = meshkit.unwrap_uv(sphere.vertices, sphere.faces, texture_size=128)
    mesh_uv = (sphere.vertices[layout.vertex_map], layout.faces, layout.uvs)
    baked = meshkit.bake_attributes(mesh_uv, sphere.vertices, sphere.faces, lambda p: p, 128)
    on_gpu = meshkit.bake_attributes(tuple(torch.as_tensor(x, device="cuda") for x in mesh_uv), sphere.vertices,
                                     sphere.faces, lambda p: p.cpu().numpy(), 128)
    np.testing.assert_array_equal(on_gpu.mask, baked.mask)
    np.testing.assert_allclose(on_gpu.texture, baked.texture, rtol=0, atol=1e-6)
