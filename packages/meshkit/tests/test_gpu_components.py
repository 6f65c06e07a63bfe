"""The Triton connected components of ``gpu.components_triton`` (compiled on a GPU, else in Triton's interpreter)
against the torch FastSV code on CPU tensors, on their own and inside the cleanup passes."""

import numpy as np
import pytest
from test_cleanup_torch import mobius, orientable_damage, soup_damage
from triton_device import DEVICE, needs_cuda, torch

components_triton = pytest.importorskip("meshkit.gpu.components_triton")  # after triton_device chose the interpreter
from meshkit import cleanup, cleanup_torch, topology_torch  # noqa: E402


def union_find(num_nodes, pairs):
    """Triton labels of the (E, 2) numpy edge list, on the host."""
    a, b = (torch.from_numpy(np.ascontiguousarray(column)).to(DEVICE) for column in pairs.T)
    roots = components_triton.component_roots(num_nodes, a, b)
    assert roots.dtype == torch.int64 and roots.device.type == DEVICE.type
    return roots.cpu()


def fastsv(num_nodes, pairs):
    """The torch code's labels (CPU tensors take FastSV)."""
    return topology_torch.component_roots(num_nodes, *torch.from_numpy(pairs).T)


def star(num_nodes, center):
    """Every node joined to ``center``, the edges in a shuffled order."""
    leaves = np.random.default_rng(center).permutation(np.delete(np.arange(num_nodes), center))
    return np.stack([np.full(len(leaves), center), leaves], 1)


def shuffled_path(num_nodes, seed):
    """One path through all nodes in a random order."""
    order = np.random.default_rng(seed).permutation(num_nodes)
    return np.stack([order[:-1], order[1:]], 1)


GRAPHS = {
    "random": lambda: (3000, np.random.default_rng(0).integers(0, 3000, size=(2500, 2))),  # small and large parts
    "dense": lambda: (400, np.random.default_rng(1).integers(0, 400, size=(4000, 2))),  # one part, many joins
    "long path": lambda: (3003, shuffled_path(3000, 2)),  # and three isolated nodes
    "path from the top": lambda: (600, np.stack([np.arange(599, 0, -1), np.arange(598, -1, -1)], 1)),
    "star at the top": lambda: (1500, star(1500, 1499)),
    "star in the middle": lambda: (1500, star(1500, 700)),
    "self-links and repeats": lambda: (50, np.array([[3, 3], [7, 5], [5, 7], [7, 5], [49, 0], [20, 20]])),
    "no edges": lambda: (7, np.zeros((0, 2), dtype=np.int64)),
}


@pytest.mark.parametrize("name", GRAPHS)
def test_labels_equal_the_torch_components(name):
    num_nodes, pairs = GRAPHS[name]()
    expected = fastsv(num_nodes, pairs)
    assert torch.equal(union_find(num_nodes, pairs), expected)
    assert torch.equal(union_find(num_nodes, pairs[:, ::-1]), expected)  # either end may be the larger one
    if name != "no edges":
        assert 1 <= len(torch.unique(expected)) < num_nodes  # there is something to join


def test_labels_are_the_smallest_nodes_of_known_parts():
    pairs = np.array([[9, 4], [4, 6], [2, 8], [8, 5], [11, 10]])
    np.testing.assert_array_equal(union_find(12, pairs).numpy(), [0, 1, 2, 3, 4, 2, 4, 7, 2, 4, 10, 10])
    assert union_find(0, np.zeros((0, 2), dtype=np.int64)).shape == (0,)


@pytest.mark.parametrize(("name", "options", "mesh"), [
    ("repair_non_manifold", {}, soup_damage), ("remove_small_components", {"min_faces": 30}, soup_damage),
    ("unify_orientation", {}, orientable_damage)])
def test_cleanup_passes_with_the_kernels_equal_the_native_ones(name, options, mesh, monkeypatch):
    v, f = mesh()
    monkeypatch.setattr(cleanup_torch, "component_roots", lambda num_nodes, a, b: components_triton.component_roots(
        num_nodes, a.to(DEVICE), b.to(DEVICE)).cpu())
    if name == "unify_orientation":
        monkeypatch.setattr(cleanup, "unify_orientation", None)  # no native fallback is needed here
    vertices, faces = torch.from_numpy(v), torch.from_numpy(f)
    ours = getattr(cleanup_torch, name)(vertices, faces, **options)
    monkeypatch.undo()
    expected = getattr(cleanup, name)(vertices, faces, **options)
    assert not np.array_equal(expected[1].numpy(), f)  # the pass changed something
    for got, want in zip(ours, expected, strict=True):
        assert torch.equal(got, want)


@needs_cuda
def test_cuda_tensors_take_the_kernels_on_a_large_graph(monkeypatch):
    rng = np.random.default_rng(4)
    side = 400  # a grid graph with a sixth of its links gone, shuffled: long paths and many racing joins
    node = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate([np.stack([node[:, :-1].ravel(), node[:, 1:].ravel()], 1),
                            np.stack([node[:-1].ravel(), node[1:].ravel()], 1)])
    pairs = rng.permutation(pairs[rng.random(len(pairs)) > 1 / 6])
    expected = fastsv(side * side, pairs)
    monkeypatch.setattr(topology_torch, "_CHECK_EVERY", None)  # the FastSV loop must not run on the device
    a, b = (torch.from_numpy(np.ascontiguousarray(column)).cuda() for column in pairs.T)
    assert torch.equal(topology_torch.component_roots(side * side, a, b).cpu(), expected)


def sorted_links(faces):
    """(b, parity, count) per half-edge from the torch code's sorted edge runs, as ``half_edge_links`` gives them:
    the partner of a two-face edge's lower numbered half-edge, else the half-edge itself."""
    runs = topology_torch.edge_runs(faces, int(faces.max()) + 1)
    h1, h2 = runs.order[:-1], runs.order[1:]
    paired = runs.pair_starts()
    low, high = torch.minimum(h1[paired], h2[paired]), torch.maximum(h1[paired], h2[paired])
    partner = torch.arange(faces.numel())
    partner[low] = high
    start = faces.reshape(-1)
    count = torch.zeros_like(partner).scatter_(0, runs.order, runs.count)
    return partner // 3, ((partner != torch.arange(len(partner))) & (start == start[partner])).long(), count


def test_hashed_edge_links_equal_the_sorted_runs():
    edges_triton = pytest.importorskip("meshkit.gpu.edges_triton")
    faces = torch.from_numpy(soup_damage()[1])  # edges of 1, 2 and many faces, repeated vertices
    a, b, parity, count = (t.cpu().long() for t in edges_triton.half_edge_links(faces.int().to(DEVICE),
                                                                                int(faces.max()) + 1))
    want_b, want_parity, want_count = sorted_links(faces)
    assert torch.equal(a, torch.arange(faces.numel()) // 3)
    assert torch.equal(b, want_b) and torch.equal(parity, want_parity)
    assert torch.equal(count, want_count.clamp(max=3))
    assert {1, 2, 3} <= set(count.tolist()) and 0 < int(parity.sum()) < int((b != a).sum())
    with pytest.raises(ValueError, match="fewer than"):
        edges_triton.half_edge_links(faces[:1].expand(2**29, 3), 300)  # a view: no memory


@pytest.mark.parametrize("seed", range(2))
def test_parity_roots_equal_the_doubled_graph(seed):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, 2000, size=(1800, 2))
    flip = rng.integers(0, 2, size=2000)
    parity = flip[pairs[:, 0]] ^ flip[pairs[:, 1]]  # agrees with a flip per node
    a, b, p = (torch.from_numpy(np.ascontiguousarray(c)) for c in (pairs[:, 0], pairs[:, 1], parity))
    doubled = topology_torch.component_roots(4000, torch.cat([2 * a, 2 * a + 1]), torch.cat([2 * b + p, 2 * b + 1 - p]))
    roots, parities = (t.cpu() for t in components_triton.parity_roots(2000, a.to(DEVICE), b.to(DEVICE),
                                                                       p.to(torch.int8).to(DEVICE)))
    assert torch.equal(roots, doubled[0::2] // 2) and torch.equal(parities.long(), doubled[0::2] % 2)
    assert torch.equal(parities.long(), torch.from_numpy(flip ^ flip[roots.numpy()]))
    assert 1 < len(torch.unique(roots)) < 1000 and 0 < int(parities.sum()) < 2000


def test_oriented_faces_equal_the_native_ones():
    orientation_triton = pytest.importorskip("meshkit.gpu.orientation_triton")
    v, f = orientable_damage(seed=3)
    vertices, faces = torch.from_numpy(v).float(), torch.from_numpy(f).int()
    expected = cleanup.unify_orientation(vertices, faces)[1]
    oriented, orientable = orientation_triton.orient_faces(vertices.to(DEVICE), faces.to(DEVICE))
    assert bool(orientable) and oriented.dtype == torch.int64
    assert torch.equal(oriented.cpu(), expected) and not torch.equal(expected, faces.long())
    strip = torch.from_numpy(mobius()[1])  # one component that cannot be oriented
    assert not bool(orientation_triton.orient_faces(torch.from_numpy(mobius()[0]).to(DEVICE), strip.to(DEVICE))[1])


@pytest.mark.parametrize("dtype", [torch.int64, torch.float64])
def test_block_sums_equal_the_torch_sums(dtype):
    rng = np.random.default_rng(7)
    roots = torch.from_numpy(np.sort(rng.integers(0, 40, size=1500)))  # long runs of one root, as in meshes
    roots = torch.where(torch.from_numpy(rng.random(1500) < 0.1), torch.from_numpy(rng.integers(0, 1500, 1500)),
                        roots)
    values = torch.from_numpy(rng.integers(-50, 50, size=1500)).to(dtype)
    expected = torch.zeros(1500, dtype=dtype).index_add_(0, roots, values)
    got = components_triton.component_sums(roots.to(DEVICE), values.to(DEVICE)).cpu()
    assert got.dtype == dtype and torch.equal(got, expected) and int((expected != 0).sum()) > 40
