import numpy as np
import pytest
from mesh_checks import (
    ASSETS,
    combine,
    directed_edges_unique,
    hausdorff,
    is_edge_manifold,
    is_watertight,
    load_asset,
    signed_volume,
    sphere,
)
from meshkit import Mesh, cleanup


def canonical_faces(vertices, faces):
    """Faces as sorted rows of vertex coordinates, comparable across re-indexing."""
    tri = np.round(vertices[faces], 9)
    rolled = [np.roll(tri, -k, axis=1) for k in range(3)]
    keys = np.stack([r.reshape(len(r), -1) for r in rolled], axis=1)
    best = np.array([k[np.lexsort(k.T[::-1])[0]] for k in keys])
    return best[np.lexsort(best.T[::-1])]


def test_weld_reconnects_a_triangle_soup_with_noise():
    v, f = sphere(2)
    soup_v = v[f].reshape(-1, 3) + np.random.default_rng(0).uniform(-1e-7, 1e-7, size=(3 * len(f), 3))
    soup_f = np.arange(3 * len(f)).reshape(-1, 3)
    assert not is_watertight(soup_f)
    wv, wf = cleanup.weld_vertices(soup_v, soup_f, tolerance=1e-4)
    assert len(wv) == len(v) and is_watertight(wf)
    assert hausdorff((wv, wf), (v, f)) < 1e-6


def test_exact_weld_leaves_distinct_vertices_alone():
    v, f = sphere(1)
    wv, wf = cleanup.weld_vertices(v, f)
    np.testing.assert_array_equal(wv, v)
    np.testing.assert_array_equal(wf, f)


def test_degenerate_faces_are_removed_and_the_rest_kept():
    v, f = sphere(1)
    v = np.vstack([v, (v[0] + v[1]) / 2])  # a point on an edge: a collinear, zero-area triangle
    bad = np.array([[0, 0, 5], [3, 7, 3], [0, 1, len(v) - 1]])
    out_v, out_f = cleanup.remove_degenerate_faces(v, np.vstack([f[:10], bad, f[10:]]))
    np.testing.assert_array_equal(out_f, f)


def test_duplicate_faces_keep_first_copy_and_opposite_copies_are_optional():
    v, f = sphere(1)
    rng = np.random.default_rng(1)
    picks = rng.choice(len(f), 15, replace=False)
    rotated = np.roll(f[picks], 1, axis=1)  # same face, different starting corner
    flipped = f[picks[:5], ::-1]
    damaged = np.vstack([f, rotated, flipped])
    _, same_only = cleanup.remove_duplicate_faces(v, damaged)
    np.testing.assert_array_equal(same_only, np.vstack([f, flipped]))
    _, both = cleanup.remove_duplicate_faces(v, damaged, remove_opposite=True)
    np.testing.assert_array_equal(both, f)


def test_fin_is_split_off_then_dropped_as_a_small_component():
    v, f = sphere(2)
    a, b = f[0, 0], f[0, 1]
    fin_tip = (v[a] + v[b]) / 2 * 1.5
    v2 = np.vstack([v, fin_tip])
    damaged = np.vstack([f, [[a, b, len(v)]]])
    assert not is_edge_manifold(damaged)
    rv, rf = cleanup.repair_non_manifold(v2, damaged)
    assert is_edge_manifold(rf) and len(rf) == len(damaged)
    assert hausdorff((rv, rf), (v2, damaged)) < 1e-12
    cv, cf = cleanup.remove_small_components(rv, rf, min_faces=2)
    assert is_watertight(cf) and len(cf) == len(f)
    assert hausdorff((cv, cf), (v, f)) < 1e-12


def test_vertex_shared_by_two_closed_parts_is_split():
    v1, f1 = sphere(1, center=(0, 0, 0))
    top = int(np.argmax(v1[:, 2]))
    v2 = v1.copy()
    v2[:, 2] += 2 * v1[top, 2]
    bottom = int(np.argmin(v2[:, 2]))
    v, f = combine((v1, f1), (v2, f1))
    f[f == len(v1) + bottom] = top  # glue the two spheres at one vertex
    mv, mf = cleanup.remove_unreferenced_vertices(v, f)
    rv, rf = cleanup.repair_non_manifold(mv, mf)
    assert is_watertight(rf)
    vertex_faces = np.bincount(rf.reshape(-1))
    assert vertex_faces.max() == np.bincount(f1.reshape(-1)).max()
    assert hausdorff((rv, rf), (mv, mf)) < 1e-12


def test_small_components_by_area_and_face_count():
    big, small = sphere(2), sphere(1, radius=0.05, center=(3, 0, 0))
    v, f = combine(big, small)
    for kwargs in ({"min_area": 0.1}, {"min_faces": 100}):
        out_v, out_f = cleanup.remove_small_components(v, f, **kwargs)
        np.testing.assert_array_equal(out_f, big[1])
        np.testing.assert_array_equal(out_v, big[0])
    with pytest.raises(ValueError, match="min_area"):
        cleanup.remove_small_components(v, f)


def test_orientation_is_unified_and_closed_parts_face_outward():
    a, b = sphere(2), sphere(1, radius=0.5, center=(3, 0, 0))
    v, f = combine(a, b)
    f = f.copy()
    rng = np.random.default_rng(2)
    flip = rng.random(len(f)) < 0.3
    flip[len(a[1]):] = True  # the second sphere entirely inside out
    f[flip] = f[flip, ::-1]
    out_v, out_f = cleanup.unify_orientation(v, f)
    assert directed_edges_unique(out_f)
    np.testing.assert_array_equal(np.sort(out_f, axis=1), np.sort(f, axis=1))  # same triangles, only rewound
    n = len(a[1])
    assert signed_volume(out_v, out_f[:n]) > 0 and signed_volume(out_v, out_f[n:] - len(a[0])) > 0


def test_inner_shell_is_removed_and_outer_parts_are_kept():
    outer, inner, beside = sphere(2), sphere(1, radius=0.4), sphere(1, radius=0.3, center=(2.5, 0, 0))
    v, f = combine(outer, inner, beside)
    out_v, out_f = Mesh(v, f).remove_inner_shells().numpy()
    assert len(out_f) == len(outer[1]) + len(beside[1])
    assert hausdorff((out_v, out_f), combine(outer, beside)) < 1e-12


def test_mesh_methods_follow_torch_inputs():
    torch = pytest.importorskip("torch")
    v, f = sphere(1)
    mesh = Mesh(torch.from_numpy(v).float(), torch.from_numpy(f))
    out = mesh.remove_duplicate_faces().weld_vertices(1e-6).unify_orientation()
    assert isinstance(out.vertices, torch.Tensor) and out.vertices.dtype == torch.float32
    assert out.num_faces == len(f)


@pytest.mark.parametrize("name", ASSETS)
def test_cleanup_chain_on_assets_keeps_the_surface(name):
    v, f = load_asset(name)
    mesh = (
        Mesh(v, f)
        .remove_degenerate_faces()
        .remove_duplicate_faces(remove_opposite=True)
        .repair_non_manifold()
        .unify_orientation()
    )
    out_v, out_f = mesh.numpy()
    assert is_edge_manifold(out_f)
    assert directed_edges_unique(out_f)
    diag = np.linalg.norm(np.ptp(v, axis=0))
    assert hausdorff((out_v, out_f), (v, f)) <= 1e-9 * diag


def test_native_face_components_match_the_edge_table_version():
    from meshkit import _geometry
    from meshkit.topology import face_components

    rng = np.random.default_rng(4)
    v, f = sphere(2)
    # Spheres, a fin on one edge, random soup faces and faces repeating a vertex (which share edge {a, a}).
    soup = rng.integers(0, 60, size=(200, 3))
    repeated = np.array([[3, 3, 7], [3, 9, 3], [5, 5, 5], [8, 2, 8]]) + len(v)
    faces = np.vstack([f, f[:3] + len(v), soup + 2 * len(v), repeated, [[f[0, 0], f[0, 1], 3 * len(v)]]])
    labels = _geometry.face_components(faces, 3 * len(v) + 1)
    np.testing.assert_array_equal(labels, face_components(faces))


def test_native_manifold_pairs_match_the_edge_table():
    from meshkit import _geometry
    from meshkit.topology import edge_table

    rng = np.random.default_rng(7)
    v, f = sphere(2)
    # Sphere edges (two faces each), a fin (three faces on one edge), random soup and faces repeating a vertex.
    faces = np.vstack([f, [[f[0, 0], f[0, 1], len(v)]], rng.integers(0, 40, size=(300, 3)), [[2, 2, 9], [9, 2, 2]]])
    table = edge_table(faces)
    pairs, most = _geometry.manifold_half_edge_pairs(faces, len(v) + 1)
    np.testing.assert_array_equal(pairs, table.manifold_pairs())
    assert most == table.face_count.max() >= 3


@pytest.mark.parametrize("scale", [1, 2**22])
def test_duplicate_rows_found_with_and_without_packing(scale):
    from meshkit.cleanup import _first_of_each_row

    rows = np.random.default_rng(5).integers(0, 6, size=(500, 3)) * scale
    _, first = np.unique(rows, axis=0, return_index=True)
    np.testing.assert_array_equal(_first_of_each_row(rows), np.sort(first))
