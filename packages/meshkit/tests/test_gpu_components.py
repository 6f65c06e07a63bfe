"""The Triton connected components of ``gpu.components_triton`` (compiled on a GPU, else in Triton's interpreter)
against the torch FastSV code on CPU tensors, on their own and inside the cleanup passes."""

import numpy as np
import pytest
from test_cleanup_torch import orientable_damage, soup_damage
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
