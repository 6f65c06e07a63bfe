"""Behaviour of mesh <-> flexible dual grid: validation, thread determinism, torch path, round-trip fidelity."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import ovoxel
import pytest
import trimesh
from scipy.spatial import cKDTree

ASSETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "assets"
AABB = [[-0.5] * 3, [0.5] * 3]


def _round_trip(mesh: trimesh.Trimesh, grid: int):
    coords, duals, flags = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=grid, aabb=AABB)
    offsets = duals * grid - coords
    verts, faces = ovoxel.flexible_dual_grid_to_mesh(coords, offsets, flags, aabb=AABB, grid_size=grid)
    return trimesh.Trimesh(verts, faces, process=False)


def _samples(mesh: trimesh.Trimesh, spacing: float):
    """Surface samples about `spacing` apart (count from the area), with their face normals."""
    count = int(mesh.area / spacing**2) + 1
    points, face_idx = trimesh.sample.sample_surface(mesh, count, seed=0)
    return points, mesh.face_normals[face_idx]


def _chamfer_and_normals(a: trimesh.Trimesh, b: trimesh.Trimesh, voxel: float):
    """Symmetric Chamfer in voxels (mean of both directions) and orientation-free normal consistency |n_a . n_b|;
    samples are a quarter voxel apart so that sampling adds little to the distance."""
    pa, na = _samples(a, voxel / 4)
    pb, nb = _samples(b, voxel / 4)
    da, ia = cKDTree(pb).query(pa)
    db, ib = cKDTree(pa).query(pb)
    chamfer = 0.5 * (da.mean() + db.mean()) / voxel
    consistency = 0.5 * (np.abs((na * nb[ia]).sum(1)).mean() + np.abs((nb * na[ib]).sum(1)).mean())
    return chamfer, consistency


def _open_surface():
    x, y = np.meshgrid(np.linspace(-0.4, 0.4, 40), np.linspace(-0.4, 0.4, 40), indexing="ij")
    z = 0.15 * np.sin(4 * x) * np.cos(3 * y)
    verts = np.stack([x, y, z], -1).reshape(-1, 3)
    i = np.arange(39)[:, None] * 40 + np.arange(39)[None, :]
    quads = np.stack([i, i + 40, i + 41, i + 1], -1).reshape(-1, 4)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return trimesh.Trimesh(verts, faces, process=False)


def _normalised(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(0.9 / (hi - lo).max())
    return mesh


PROCEDURAL = {
    "sphere": lambda: trimesh.creation.icosphere(subdivisions=4, radius=0.4),
    "torus": lambda: trimesh.creation.torus(major_radius=0.3, minor_radius=0.1),
    "open_surface": _open_surface,
}


@pytest.mark.parametrize("name", sorted(PROCEDURAL))
@pytest.mark.parametrize("grid", [64, 128])
def test_round_trip_procedural(name, grid):
    mesh = PROCEDURAL[name]()
    chamfer, consistency = _chamfer_and_normals(mesh, _round_trip(mesh, grid), 1 / grid)
    assert chamfer < 0.5
    assert consistency > 0.95


@pytest.mark.parametrize("asset", ["Duck.glb", "DamagedHelmet/DamagedHelmet.gltf"])
def test_round_trip_assets(asset):
    path = ASSETS / asset
    if not path.exists():
        pytest.skip(f"asset {path} not found (needs ../shared/assets beside the repo)")
    mesh = _normalised(trimesh.load(path, force="mesh"))
    chamfer, consistency = _chamfer_and_normals(mesh, _round_trip(mesh, 96), 1 / 96)
    assert chamfer < 0.5
    assert consistency > 0.95


def _open_unwelded_torus() -> trimesh.Trimesh:
    """Half a torus with one vertex triple per face: every edge is a boundary edge (as in unwelded assets)."""
    mesh = trimesh.creation.torus(major_radius=0.3, minor_radius=0.12)
    half = mesh.submesh([np.nonzero(mesh.triangles_center[:, 0] > 0.02)[0]], append=True)
    return trimesh.Trimesh(half.triangles.reshape(-1, 3), np.arange(3 * len(half.faces)).reshape(-1, 3), process=False)


@pytest.mark.parametrize("mesh,weights", [
    (trimesh.creation.torus(major_radius=0.3, minor_radius=0.12), {}),
    (_open_unwelded_torus(), {"boundary_weight": 0.2, "regularization_weight": 0.01}),
], ids=["closed", "open-unwelded"])
def test_same_output_for_any_thread_count(mesh, weights):
    one = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=96, aabb=AABB, num_threads=1,
                                            **weights)
    assert len(one[0]) > 1000
    for threads in (2, 7):
        many = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=96, aabb=AABB,
                                                 num_threads=threads, **weights)
        for a, b in zip(one, many, strict=True):
            np.testing.assert_array_equal(a, b)


def test_same_output_with_wide_voxel_keys():
    """Grids up to 1024 cells a side key voxels in 32 bits, larger ones in 64: the same mesh and voxel size in a box
    stretched to 1100 cells along x (nothing there) must give the same voxels in the same order."""
    mesh = _open_unwelded_torus()
    weights = {"boundary_weight": 0.2, "regularization_weight": 0.01}
    narrow = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, voxel_size=1 / 64, aabb=AABB, **weights)
    wide_box = [[-0.5] * 3, [-0.5 + 1100 / 64, 0.5, 0.5]]
    wide = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, voxel_size=1 / 64, aabb=wide_box, num_threads=1,
                                             **weights)
    assert len(narrow[0]) > 500 and narrow[0][:, 0].max() < 64
    for a, b in zip(narrow, wide, strict=True):
        np.testing.assert_array_equal(a, b)


def test_omp_num_threads_subprocess_matches():
    code = (
        "import numpy as np, trimesh, ovoxel;"
        "m = trimesh.creation.icosphere(3, radius=0.4);"
        "c, d, f = ovoxel.mesh_to_flexible_dual_grid(m.vertices, m.faces, grid_size=48, aabb=[[-0.5]*3, [0.5]*3]);"
        "import sys; sys.stdout.buffer.write(c.tobytes() + d.tobytes() + f.tobytes())"
    )
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                           env={**__import__("os").environ, "OMP_NUM_THREADS": t}).stdout for t in ("1", "3")]
    assert len(outs[0]) > 0 and outs[0] == outs[1]


@pytest.mark.parametrize("vertices,faces,message", [
    (np.array([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]]), np.array([[0, 1, 2]]), "NaN or inf"),
    (np.zeros((3, 3)), np.array([[0, 1, 3]]), "face indices"),
    (np.zeros((4, 3)), np.array([[0, 1, 2, 3]]), "triangles"),
    (np.zeros((0, 3)), np.zeros((0, 3), int), "empty"),
    (np.zeros((3, 2)), np.array([[0, 1, 2]]), "vertices must have shape"),
])
def test_bad_mesh_is_rejected(vertices, faces, message):
    with pytest.raises(ValueError, match=message):
        ovoxel.mesh_to_flexible_dual_grid(vertices, faces, grid_size=8, aabb=AABB)


def test_outside_aabb_warns_and_clips():
    mesh = trimesh.creation.icosphere(2, radius=0.7)
    with pytest.warns(UserWarning, match="outside the given aabb"):
        coords, _, _ = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=16, aabb=AABB)
    assert coords.min() >= 0 and coords.max() < 16


def test_auto_aabb_pads_half_a_voxel():
    mesh = trimesh.creation.box(extents=(0.5, 0.5, 0.5))
    coords, duals, _ = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=16)
    assert coords.min() >= 0 and coords.max() <= 15 and len(coords) > 0
    voxel = 0.5 / 15
    assert np.all(duals >= -1e-6) and np.all(duals <= 16 * voxel + 1e-6)


def test_extraction_from_voxel_size_equals_grid_size():
    mesh = trimesh.creation.icosphere(3, radius=0.4)
    c, d, f = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=32, aabb=AABB)
    a = ovoxel.flexible_dual_grid_to_mesh(c, d * 32 - c, f, aabb=AABB, grid_size=32)
    b = ovoxel.flexible_dual_grid_to_mesh(c, d * 32 - c, f, aabb=AABB, voxel_size=1 / 32)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)


def _split_alignment(p, tris):
    n0 = np.cross(p[tris[1]] - p[tris[0]], p[tris[2]] - p[tris[0]])
    n1 = np.cross(p[tris[4]] - p[tris[3]], p[tris[5]] - p[tris[3]])
    return n0 @ n1 / np.linalg.norm(n0) / np.linalg.norm(n1)


@pytest.mark.parametrize("lifted", [0, 1])
def test_intended_unweighted_split_prefers_aligned_normals(lifted):
    # One x-edge quad with a single corner lifted; the diagonal through that corner keeps one triangle flat.
    coords = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]], np.int32)
    offsets = np.full((4, 3), 0.5, np.float32)
    offsets[lifted, 0] = 0.95
    flags = np.zeros((4, 3), bool)
    flags[0, 0] = True
    verts, faces = ovoxel.flexible_dual_grid_to_mesh(coords, offsets, flags, aabb=AABB, grid_size=4)
    split_02, split_13 = [0, 1, 2, 0, 2, 3], [0, 1, 3, 3, 1, 2]
    best = max((split_02, split_13), key=lambda t: _split_alignment(verts.astype(np.float64), t))
    expected = sorted(sorted(best[i:i + 3]) for i in (0, 3))
    assert sorted(map(sorted, faces.tolist())) == expected
    assert (best is split_13) == (lifted == 0)


def test_torch_path_matches_numpy():
    torch = pytest.importorskip("torch")
    mesh = trimesh.creation.torus(major_radius=0.3, minor_radius=0.1)
    c, d, f = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=48, aabb=AABB)
    tc, td, tf = ovoxel.mesh_to_flexible_dual_grid(torch.tensor(mesh.vertices), torch.tensor(mesh.faces),
                                                   grid_size=48, aabb=AABB)
    assert isinstance(tc, torch.Tensor)
    np.testing.assert_array_equal(tc.numpy(), c)
    offsets = d * 48 - c
    weights = np.random.default_rng(0).uniform(0.1, 2, (len(c), 1)).astype(np.float32)
    for w in (None, weights):
        v_np, f_np = ovoxel.flexible_dual_grid_to_mesh(c, offsets, f, w, aabb=AABB, grid_size=48)
        v_t, f_t = ovoxel.flexible_dual_grid_to_mesh(tc, torch.tensor(offsets), tf,
                                                     None if w is None else torch.tensor(w), aabb=AABB, grid_size=48)
        assert isinstance(f_t, torch.Tensor)
        np.testing.assert_allclose(v_t.numpy(), v_np, atol=1e-6)
        np.testing.assert_array_equal(f_t.numpy(), f_np)
