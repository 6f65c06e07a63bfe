"""Torch counterparts of ``topology``: half-edges grouped by undirected edge and connected components, vectorised
so that they run on the GPU with few host syncs (the device-side cleanup passes in ``cleanup_torch`` use them)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .gpu import cuda_device

_CHECK_EVERY = 2  # component rounds between convergence checks (each check is one host sync)


@dataclass(frozen=True)
class EdgeRuns:
    """Half-edges ``h = 3 * face + corner`` stably sorted by undirected edge key ``min * V + max`` of their ends:
    each edge is a run of consecutive sorted positions, its half-edges in increasing order (as in ``EdgeTable``)."""

    order: torch.Tensor  # (3F,) half-edge at each sorted position
    first: torch.Tensor  # (3F,) bool: the position starts a run (a new edge)
    count: torch.Tensor  # (3F,) half-edges on the edge of each sorted position

    @classmethod
    def of_keys(cls, keys: torch.Tensor, items: torch.Tensor | None = None) -> EdgeRuns:
        """Runs of equal int64 ``keys``, each run's ``items`` (default: the key positions) in their given order."""
        keys, order = torch.sort(keys, stable=True)
        first = torch.ones_like(keys, dtype=torch.bool)
        first[1:] = keys[1:] != keys[:-1]
        run = torch.cumsum(first, 0) - 1
        count = torch.zeros_like(keys).scatter_add_(0, run, torch.ones_like(keys))[run]
        return cls(order if items is None else items[order], first, count)

    def rank(self) -> torch.Tensor:
        """Place of each sorted position within its run (0 for the first half-edge of an edge)."""
        position = torch.arange(len(self.order), device=self.order.device)
        return position - torch.cummax(torch.where(self.first, position, 0), 0).values

    def pair_starts(self) -> torch.Tensor:
        """(3F - 1,) bool: the sorted position starts a run of exactly two half-edges (an edge two faces share),
        whose second half-edge is at the next position."""
        return self.first[:-1] & (self.count[:-1] == 2)

    def pair_positions(self) -> torch.Tensor:
        """Sorted positions starting the runs of exactly two half-edges (edges two faces share), increasing."""
        return torch.nonzero(self.pair_starts()).squeeze(1)


def half_edge_ends(faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, end) vertex of every half-edge, indexed by ``3 * face + corner``."""
    return faces.reshape(-1), faces.roll(-1, 1).reshape(-1)  # roll, not a list index: no host-to-device copy


def edge_runs(faces: torch.Tensor, num_vertices: int) -> EdgeRuns:
    """Group the half-edges of int64 ``faces`` by undirected edge (an edge {a, a} for faces repeating a)."""
    start, end = half_edge_ends(faces)
    return EdgeRuns.of_keys(edge_keys(start, end, num_vertices))


def edge_keys(start: torch.Tensor, end: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """Undirected key ``min * num_vertices + max`` of the int64 edges (start, end)."""
    return torch.minimum(start, end) * num_vertices + torch.maximum(start, end)


def next_corner(half_edge: torch.Tensor) -> torch.Tensor:
    """Half-edge (corner) after each ``3 * face + corner`` in its face: the one starting where it ends."""
    return torch.where(half_edge % 3 == 2, half_edge - 2, half_edge + 1)


def face_links(runs: EdgeRuns) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) face pairs linking consecutive half-edges of each edge (self-links where a run ends), whose components
    are the edge-connected face components."""
    a, b = runs.order[:-1] // 3, runs.order[1:] // 3
    return a, torch.where(runs.first[1:], a, b)


def component_roots(num_nodes: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smallest node of each node's connected component, the graph's edges being ``(a[i], b[i])``.

    Parent pointers hooked towards smaller grandparents across every edge and shortened by pointer jumping (the
    FastSV rounds); pointers only ever decrease and stay inside their component, so when every edge joins equal
    pointers and every pointer is a root, each root is its component's smallest node. Converges in a number of
    rounds that grows with the log of the component diameter, checked every ``_CHECK_EVERY`` rounds. CUDA tensors
    go to the Triton union-find of ``gpu.components_triton`` when Triton is installed (same labels, no sync)."""
    if cuda_device(a) is not None:
        from .gpu.components_triton import component_roots as union_find

        return union_find(num_nodes, a, b)
    parent = torch.arange(num_nodes, device=a.device)
    if a.numel() == 0:
        return parent
    source, target = torch.cat([a, b]), torch.cat([b, a])
    while True:
        for _ in range(_CHECK_EVERY):
            grand = parent[parent]
            reach = grand[target]
            parent.scatter_reduce_(0, parent[source], reach, "amin")  # hook the source's parent
            parent.scatter_reduce_(0, source, reach, "amin")  # and the source itself
            parent = torch.minimum(parent, grand)
            parent = parent[parent]
        unsettled = (parent[source] != parent[target]).any() | (parent[parent] != parent).any()
        if not bool(unsettled):
            return parent


def rank_roots(roots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, first nodes): components numbered by their smallest node (as the native union-find numbers them)
    and that node per label, from ``component_roots``."""
    is_root = roots == torch.arange(len(roots), device=roots.device)
    return (torch.cumsum(is_root, 0) - 1)[roots], torch.nonzero(is_root).squeeze(1)


def component_sums(roots: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Per-node array holding, at each root, the sum of ``values`` over that root's component (added in node order
    on the CPU, as ``np.bincount`` adds; by atomics, so in any order, on the GPU, where the Triton sums of
    ``gpu.components_triton`` send one atomic per block and component instead of one per value)."""
    if cuda_device(roots) is not None:
        from .gpu.components_triton import component_sums as block_sums

        return block_sums(roots, values)
    return torch.zeros(len(roots), dtype=values.dtype, device=roots.device).index_add_(0, roots, values)
