"""The torch cleanup passes (``cleanup_torch``) against the native/numpy ones: same vertices and faces, same order,
on CPU tensors (and CUDA where present) for damaged meshes and the shared assets."""

import numpy as np
import pytest
from mesh_checks import combine, load_asset, sphere
from meshkit import cleanup
from test_holes_reference import damaged_torus

torch = pytest.importorskip("torch")
from meshkit import cleanup_torch, topology_torch  # noqa: E402 - needs torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
PASSES = [("remove_duplicate_faces", {}), ("remove_duplicate_faces", {"remove_opposite": True}),
          ("repair_non_manifold", {}), ("remove_small_components", {"min_area": 0.05}),
          ("remove_small_components", {"min_faces": 30}),
          ("remove_small_components", {"min_area": 0.5, "min_faces": 5}),
          ("remove_unreferenced_vertices", {})]


def orientable_damage(seed=0):
    """Orientable but messy: a damaged torus (holes, flipped faces, a duplicate, a degenerate face), a sphere with
    a fin (an edge of three faces) and a third of its faces flipped, two spheres glued at a vertex (one inside out),
    a tiny sphere, rotated and opposite duplicates, and vertices no face uses."""
    rng = np.random.default_rng(seed)
    torus = damaged_torus(rings=40, segments=20, seed=seed)
    v, f = sphere(2, center=(3, 0, 0))
    f = f.copy()
    flip = rng.random(len(f)) < 0.3
    f[flip] = f[flip, ::-1]
    finned = (np.vstack([v, (v[f[0, 0]] + v[f[0, 1]]) * 0.75]), np.vstack([f, [[f[0, 0], f[0, 1], len(v)]]]))
    low, high = sphere(1, center=(0, 3, 0)), sphere(1, center=(0, 3, 2))
    glued_v, glued_f = combine(low, (high[0], high[1][:, ::-1]))
    glued_f[glued_f == len(low[0]) + int(np.argmin(high[0][:, 2]))] = int(np.argmax(low[0][:, 2]))
    v, f = combine(torus, finned, (glued_v, glued_f), sphere(1, radius=0.05, center=(-3, 0, 0)))
    picks = rng.choice(len(f), 40, replace=False)
    f = np.vstack([f, np.roll(f[picks[:20]], 1, axis=1), f[picks[20:], ::-1]])
    v = np.vstack([v, rng.normal(size=(7, 3))])
    order = rng.permutation(len(f))
    return v, f[order]


def soup_damage(seed=0):
    """The orientable damage plus random triangles over its vertices (edges of many faces, repeated vertices)."""
    v, f = orientable_damage(seed)
    soup = np.random.default_rng(seed + 1).integers(0, 300, size=(200, 3))
    return v, np.vstack([f, soup, [[5, 5, 9], [9, 5, 5], [4, 4, 4]]])


def mobius(segments=24):
    """A Moebius strip: one component that cannot be oriented."""
    t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = [np.stack([(1 + s * np.cos(t / 2)) * np.cos(t), (1 + s * np.cos(t / 2)) * np.sin(t), s * np.sin(t / 2)],
                     1) for s in (-0.3, 0.3)]
    v = np.vstack(ring)
    i = np.arange(segments)
    j = (i + 1) % segments
    a, b = i, i + segments
    c = np.where(j == 0, segments, j)  # the strip rejoins itself with the two sides swapped
    d = np.where(j == 0, 0, j + segments)
    return v, np.vstack([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def assert_same(ours, theirs, device):
    assert ours[0].device.type == ours[1].device.type == device
    assert ours[0].dtype == theirs[0].dtype and ours[1].dtype == theirs[1].dtype == torch.int64
    np.testing.assert_array_equal(ours[1].cpu().numpy(), theirs[1].numpy())
    np.testing.assert_array_equal(ours[0].cpu().numpy(), theirs[0].numpy())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mesh", [orientable_damage, soup_damage])
@pytest.mark.parametrize(("name", "options"), PASSES)
def test_passes_equal_the_native_ones(device, mesh, name, options):
    v, f = mesh()
    vertices, faces = torch.from_numpy(v), torch.from_numpy(f)
    expected = getattr(cleanup, name)(vertices, faces, **options)  # CPU tensors take the native path
    ours = getattr(cleanup_torch, name)(vertices.to(device), faces.to(device), **options)
    assert_same(ours, expected, device)
    assert expected[1].shape != f.shape or expected[0].shape != v.shape  # each pass has something to do here


@pytest.mark.parametrize("device", DEVICES)
def test_orientation_equals_the_native_walk_without_falling_back(device, monkeypatch):
    v, f = orientable_damage(seed=3)
    vertices, faces = torch.from_numpy(v).float(), torch.from_numpy(f).int()
    expected = cleanup.unify_orientation(vertices, faces)
    assert (expected[1].numpy() != f).any()
    monkeypatch.setattr(cleanup, "unify_orientation", None)  # the torch code must not need the native walk here
    assert_same(cleanup_torch.unify_orientation(vertices.to(device), faces.to(device)), expected, device)


def test_non_orientable_parts_take_the_native_walk():
    v, f = combine(mobius(), sphere(1, center=(4, 0, 0)))
    f = np.vstack([f[1:], f[:1, ::-1]])
    vertices, faces = torch.from_numpy(v), torch.from_numpy(f)
    assert_same(cleanup_torch.unify_orientation(vertices, faces), cleanup.unify_orientation(vertices, faces), "cpu")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32])
def test_result_dtypes_follow_the_native_path(dtype):
    v, f = orientable_damage()
    vertices, faces = (torch.from_numpy(v) * (100 if dtype == torch.int32 else 1)).to(dtype), torch.from_numpy(f)
    for name, options in PASSES[2:4]:
        expected = getattr(cleanup, name)(vertices, faces, **options)
        assert_same(getattr(cleanup_torch, name)(vertices, faces, **options), expected, "cpu")


def test_the_chain_to_glb_runs_equals_the_native_chain():
    v, f = soup_damage(seed=5)
    ours = theirs = (torch.from_numpy(v), torch.from_numpy(f))
    for name, options in [("remove_duplicate_faces", {}), ("repair_non_manifold", {}),
                          ("remove_small_components", {"min_area": 1e-3}), ("remove_duplicate_faces", {}),
                          ("repair_non_manifold", {}), ("unify_orientation", {}),
                          ("remove_unreferenced_vertices", {})]:
        ours = getattr(cleanup_torch, name)(*ours, **options)
        theirs = getattr(cleanup, name)(*theirs, **options)
        assert_same(ours, theirs, "cpu")


def test_unpacked_row_keys_find_the_same_first_rows():
    rows = torch.from_numpy(np.random.default_rng(5).integers(0, 6, size=(500, 3)) * 2**22)
    _, first = np.unique(rows.numpy(), axis=0, return_index=True)
    mask = cleanup_torch._first_of_each_row(rows, 6 * 2**22)
    np.testing.assert_array_equal(torch.nonzero(mask).squeeze(1).numpy(), np.sort(first))
    np.testing.assert_array_equal(mask, cleanup_torch._first_of_each_row(rows // 2**22, 6))


def test_components_are_numbered_by_first_node_on_a_long_path():
    order = torch.from_numpy(np.random.default_rng(2).permutation(3000))
    a, b = order[:-1], order[1:]  # one shuffled path through nodes 0..2999, plus three isolated nodes
    roots = topology_torch.component_roots(3003, torch.cat([a, a[:1]]), torch.cat([b, b[:1]]))
    labels, first = topology_torch.rank_roots(roots)
    np.testing.assert_array_equal(roots.numpy(), [0] * 3000 + [3000, 3001, 3002])
    np.testing.assert_array_equal(labels.numpy(), [0] * 3000 + [1, 2, 3])
    np.testing.assert_array_equal(first.numpy(), [0, 3000, 3001, 3002])


def test_bad_input_gets_the_native_messages():
    v, f = (torch.from_numpy(a) for a in sphere(1))
    bad = v.clone()
    bad[3, 0] = float("inf")
    for function in (cleanup.repair_non_manifold, cleanup_torch.repair_non_manifold):
        with pytest.raises(ValueError, match="first at row 3"):
            function(bad, f)
        with pytest.raises(ValueError, match="first at row 3"):  # vertices are judged before faces
            function(bad, f[:, :2])
        with pytest.raises(ValueError, match="index out of range"):
            function(v, f + 1)
        with pytest.raises(TypeError, match="integer vertex indices"):
            function(v, f.double())
    for function in (cleanup.remove_small_components, cleanup_torch.remove_small_components):
        with pytest.raises(ValueError, match="needs min_area"):
            function(v, f)
        with pytest.raises(ValueError, match="min_faces must be a number >= 0"):
            function(v, f, min_faces=-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to check the dispatch")
def test_cuda_tensors_are_dispatched_and_stay_on_the_device(monkeypatch):
    v, f = (torch.from_numpy(a).cuda() for a in orientable_damage())
    monkeypatch.setattr(cleanup, "_compact", None)  # the numpy path would need it
    out_v, out_f = cleanup.repair_non_manifold(v, f)
    assert out_v.is_cuda and out_f.is_cuda


@pytest.mark.parametrize("name", ["Duck.glb", "rabbit.obj", "WaterBottle.glb", "DamagedHelmet/DamagedHelmet.gltf"])
def test_assets_give_the_native_results(name):
    v, f = load_asset(name)
    mesh = (torch.from_numpy(v), torch.from_numpy(f))
    for pass_name, options in [("remove_duplicate_faces", {"remove_opposite": True}), ("repair_non_manifold", {}),
                               ("remove_small_components", {"min_faces": 3}), ("unify_orientation", {})]:
        expected = getattr(cleanup, pass_name)(*mesh, **options)
        assert_same(getattr(cleanup_torch, pass_name)(*mesh, **options), expected, "cpu")
        mesh = expected


@pytest.mark.parametrize("seed", range(3))
def test_components_equal_the_native_union_find_on_random_graphs(seed):
    from meshkit import _geometry

    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, 3000, size=(2500, 2))  # many small components, some large, isolated nodes
    labels, first = topology_torch.rank_roots(topology_torch.component_roots(3000, *torch.from_numpy(pairs).T))
    expected = _geometry.connected_components(3000, pairs)
    np.testing.assert_array_equal(labels.numpy(), expected)
    np.testing.assert_array_equal(first.numpy(), np.unique(expected, return_index=True)[1])
