"""MeshWithVoxel geometry edits through meshkit: hole filling and simplification keep the shape and the volume."""

from __future__ import annotations

import math

import meshkit
import numpy as np
import pytest
import torch
from trellis2.representations import MeshWithVoxel

trimesh = pytest.importorskip("trimesh")

RADIUS = 0.35


def holed_sphere() -> MeshWithVoxel:
    """An icosphere (5120 faces) without the five faces around vertex 0, plus a small attribute volume."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=RADIUS)
    faces = sphere.faces[~(sphere.faces == 0).any(axis=1)]
    coords = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.int32)
    return MeshWithVoxel(torch.tensor(sphere.vertices, dtype=torch.float32), torch.tensor(faces), [-0.5] * 3,
                         1 / 64, coords, torch.rand(2, 6), (1, 6, 64, 64, 64))


def as_trimesh(mesh: MeshWithVoxel):
    return trimesh.Trimesh(mesh.vertices.numpy(), mesh.faces.numpy(), process=False)


def test_fill_holes_closes_a_small_hole_and_leaves_the_volume_alone():
    mesh = holed_sphere()
    coords, attrs = mesh.coords.clone(), mesh.attrs.clone()
    assert not as_trimesh(mesh).is_watertight
    mesh.fill_holes(max_hole_perimeter=1e-3)  # the hole's rim is ~0.07 long: too big, nothing changes
    assert mesh.faces.shape[0] == 5115
    mesh.fill_holes(max_hole_perimeter=0.5)
    closed = as_trimesh(mesh)
    assert closed.is_watertight and mesh.faces.shape[0] > 5115
    assert closed.volume == pytest.approx(4 / 3 * math.pi * RADIUS**3, rel=0.01)
    assert mesh.faces.dtype == torch.int32 and mesh.vertices.dtype == torch.float32
    assert torch.equal(mesh.coords, coords) and torch.equal(mesh.attrs, attrs)


def test_simplify_reaches_the_target_and_keeps_the_shape():
    mesh = holed_sphere()
    mesh.fill_holes(0.5)
    faces = mesh.faces.shape[0]
    mesh.simplify(16777216)  # upstream's call before rendering: a no-op below the target
    assert mesh.faces.shape[0] == faces
    mesh.simplify(1000)
    assert mesh.faces.shape[0] <= 1000 and mesh.faces.shape[0] > 900
    simplified = as_trimesh(mesh)
    assert simplified.is_watertight
    radii = np.linalg.norm(simplified.vertices, axis=1)
    assert np.abs(radii - RADIUS).max() < 0.01 * RADIUS
    with pytest.raises(ValueError, match="positive face count"):
        mesh.simplify(0)


def numpy_route(mesh: MeshWithVoxel, edit) -> tuple[torch.Tensor, torch.Tensor]:
    """The edit as MeshWithVoxel used to make it: through float64/int64 numpy copies and back to float32/int32."""
    vertices, faces = edit(meshkit.Mesh(mesh.vertices.double().numpy(), mesh.faces.long().numpy())).numpy()
    return torch.as_tensor(vertices, dtype=torch.float32), torch.as_tensor(faces, dtype=torch.int32)


@pytest.mark.parametrize(("name", "edit"), [("fill_holes", lambda mesh: mesh.fill_holes(0.5)),
                                            ("simplify", lambda mesh: mesh.simplify(2000))])
def test_tensor_edits_equal_the_old_numpy_route(name, edit):
    mesh = holed_sphere()
    expected_vertices, expected_faces = numpy_route(mesh, edit)
    edit(mesh)
    assert mesh.faces.shape[0] != 5115  # the edit changed the mesh
    assert mesh.vertices.dtype == torch.float32 and mesh.faces.dtype == torch.int32
    assert torch.equal(mesh.vertices, expected_vertices) and torch.equal(mesh.faces, expected_faces)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fill_holes_keeps_a_cuda_mesh_on_the_gpu_with_the_cpu_result():
    cpu = holed_sphere()
    gpu = cpu.cuda()
    cpu.fill_holes(0.5)
    gpu.fill_holes(0.5)
    assert gpu.vertices.is_cuda and gpu.faces.is_cuda and gpu.faces.dtype == torch.int32
    assert torch.equal(gpu.vertices.cpu(), cpu.vertices) and torch.equal(gpu.faces.cpu(), cpu.faces)
