import numpy as np
import pytest
from meshkit import BVH


def brute_force_closest(vertices, faces, points):
    """Closest points by sampling-free exhaustive projection onto every triangle (vectorised reference)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    best = np.full(len(points), np.inf)
    for i, p in enumerate(points):
        # Minimise over the triangle by solving on a fine barycentric lattice plus the exact plane projection.
        ab, ac, ap = b - a, c - a, p - a
        d00, d01, d11 = (ab * ab).sum(1), (ab * ac).sum(1), (ac * ac).sum(1)
        d20, d21 = (ap * ab).sum(1), (ap * ac).sum(1)
        denom = d00 * d11 - d01 * d01
        v = (d11 * d20 - d01 * d21) / denom
        w = (d00 * d21 - d01 * d20) / denom
        inside = (v >= 0) & (w >= 0) & (v + w <= 1)
        plane = np.linalg.norm(a + v[:, None] * ab + w[:, None] * ac - p, axis=1)
        candidates = [np.where(inside, plane, np.inf)]
        for s, e in ((a, b), (b, c), (c, a)):
            t = np.clip(((p - s) * (e - s)).sum(1) / ((e - s) ** 2).sum(1), 0, 1)
            candidates.append(np.linalg.norm(s + t[:, None] * (e - s) - p, axis=1))
        best[i] = np.min(candidates)
    return best


def random_mesh(rng, num_faces=300):
    vertices = rng.normal(size=(num_faces, 3))
    faces = rng.integers(0, num_faces, size=(num_faces, 3))
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    return vertices, faces


def test_closest_point_matches_brute_force():
    rng = np.random.default_rng(0)
    vertices, faces = random_mesh(rng)
    points = rng.normal(size=(400, 3)) * 1.5
    distance, face, bary = BVH(vertices, faces).closest_point(points)
    np.testing.assert_allclose(distance, brute_force_closest(vertices, faces, points), rtol=1e-9, atol=1e-12)
    # The reported face and weights reproduce the reported distance.
    hit = (vertices[faces[face]] * bary[:, :, None]).sum(axis=1)
    np.testing.assert_allclose(np.linalg.norm(hit - points, axis=1), distance, rtol=1e-9, atol=1e-12)
    assert (bary >= -1e-12).all()
    np.testing.assert_allclose(bary.sum(axis=1), 1, atol=1e-12)


def test_points_on_the_surface_have_zero_distance():
    rng = np.random.default_rng(1)
    vertices, faces = random_mesh(rng, 100)
    w = rng.dirichlet(np.ones(3), size=len(faces))
    points = (vertices[faces] * w[:, :, None]).sum(axis=1)
    distance, _, _ = BVH(vertices, faces).closest_point(points)
    assert distance.max() < 1e-12


def test_ray_crossings_count_parity_inside_a_cube():
    import trimesh

    box = trimesh.creation.box()
    bvh = BVH(box.vertices, box.faces)
    origins = np.array([[0.1, 0.05, -0.2], [2.0, 0.0, 0.0]])
    dirs = np.array([[0.3, 0.7, 0.64], [0.3, 0.7, 0.64]])
    np.testing.assert_array_equal(bvh.count_crossings(origins, dirs), [1, 0])


def test_bad_queries_raise():
    bvh = BVH(np.eye(3), [[0, 1, 2]])
    with pytest.raises(ValueError, match="NaN"):
        bvh.closest_point([[np.nan, 0, 0]])
    with pytest.raises(ValueError, match="shape"):
        bvh.closest_point(np.zeros((2, 2)))


def test_torch_queries_come_back_as_tensors():
    torch = pytest.importorskip("torch")
    bvh = BVH(torch.eye(3), torch.tensor([[0, 1, 2]]))
    distance, face, bary = bvh.closest_point(torch.tensor([[0.0, 0.0, 0.0]]))
    assert isinstance(distance, torch.Tensor) and face.dtype == torch.int64
    assert distance.item() == pytest.approx(1 / np.sqrt(3))
    np.testing.assert_allclose(bary.numpy(), [[1 / 3, 1 / 3, 1 / 3]], atol=1e-12)


def test_ties_go_to_the_lowest_face_id_whatever_the_batch():
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(3)
    vertices, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    # A vertex is at distance exactly 0 from every face around it: the lowest of their ids must win.
    lowest = np.full(len(vertices), len(faces))
    np.minimum.at(lowest, faces.reshape(-1), np.repeat(np.arange(len(faces)), 3))
    bvh = BVH(vertices, faces)
    distance, face, _ = bvh.closest_point(vertices)
    assert distance.max() == 0
    np.testing.assert_array_equal(face, lowest)
    # Queries are answered in a spatial order internally: each answer equals the answer to that query alone.
    rng = np.random.default_rng(3)
    points = rng.normal(size=(300, 3)) * 0.7
    batch = bvh.closest_point(points)
    for i in rng.choice(len(points), 20, replace=False):
        single = bvh.closest_point(points[i : i + 1])
        assert batch[0][i] == single[0][0] and batch[1][i] == single[1][0]
        np.testing.assert_array_equal(batch[2][i], single[2][0])


def test_tiny_meshes_and_empty_queries():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    for faces in ([[0, 1, 2]], [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]):
        bvh = BVH(vertices, faces)
        distance, face, _ = bvh.closest_point([[0.2, 0.2, -1.0]])
        assert distance[0] == pytest.approx(1.0) and face[0] == 0
        assert bvh.closest_point(np.zeros((0, 3)))[0].shape == (0,)
