import meshkit
import numpy as np
import pytest
from meshkit import Mesh, vertex_normals


def tetrahedron():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return v, f


def test_mesh_holds_arrays_in_input_dtype():
    v, f = tetrahedron()
    mesh = Mesh(v, f)
    assert mesh.num_vertices == 4 and mesh.num_faces == 4
    assert mesh.vertices.dtype == np.float32
    np.testing.assert_array_equal(mesh.faces, f)
    assert mesh.area() == pytest.approx(1.5 + np.sqrt(3) / 2)


@pytest.mark.parametrize(
    ("vertices", "faces", "message"),
    [
        (np.zeros((0, 3)), np.zeros((0, 3), int), "empty"),
        (np.zeros((3, 3)), np.zeros((0, 3), int), "no triangles"),
        (np.array([[0, 0, np.nan], [1, 0, 0], [0, 1, 0]]), [[0, 1, 2]], "NaN"),
        (np.array([[0, 0, np.inf], [1, 0, 0], [0, 1, 0]]), [[0, 1, 2]], "infinite"),
        (np.eye(3), [[0, 1, 3]], "out of range"),
        (np.eye(3), [[0, 1, -1]], "out of range"),
        (np.zeros((3, 2)), [[0, 1, 2]], r"shape \(N, 3\)"),
        (np.eye(3), [[0, 1, 2, 0]], "triangles"),
    ],
)
def test_bad_input_raises_clear_value_error(vertices, faces, message):
    with pytest.raises(ValueError, match=message):
        Mesh(vertices, faces)


def test_float_face_indices_are_a_type_error():
    with pytest.raises(TypeError, match="integer"):
        Mesh(np.eye(3), np.array([[0.0, 1.0, 2.0]]))


def test_vertex_normals_point_outward_on_a_closed_convex_mesh():
    v, f = tetrahedron()
    normals = vertex_normals(v, f)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, rtol=1e-6)
    centre = v.mean(axis=0)
    assert ((v - centre) * normals).sum(axis=1).min() > 0
    # Vertex 0 sits at the corner of three axis planes: its normal is the mean of -x, -y, -z.
    np.testing.assert_allclose(normals[0], -np.ones(3) / np.sqrt(3), atol=1e-6)


def test_torch_tensors_round_trip_on_their_device():
    torch = pytest.importorskip("torch")
    v, f = tetrahedron()
    mesh = Mesh(torch.from_numpy(v), torch.from_numpy(f))
    assert isinstance(mesh.vertices, torch.Tensor) and mesh.vertices.dtype == torch.float32
    assert isinstance(mesh.vertex_normals(), torch.Tensor)
    np.testing.assert_allclose(mesh.vertex_normals().numpy(), vertex_normals(v, f), atol=1e-6)
    assert meshkit.Mesh is Mesh


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_half_precision_tensors_are_accepted(dtype_name):
    torch = pytest.importorskip("torch")
    v, f = tetrahedron()
    mesh = Mesh(torch.from_numpy(v).to(getattr(torch, dtype_name)), torch.from_numpy(f))
    expected = torch.float16 if dtype_name == "float16" else torch.float32
    assert mesh.vertices.dtype == expected
    np.testing.assert_allclose(mesh.vertex_normals().float().numpy(), vertex_normals(v, f), atol=2e-3)
