"""Edge tables and face connectivity shared by the cleanup, hole-filling and orientation code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _geometry


@dataclass(frozen=True)
class EdgeTable:
    """Undirected edges of a triangle mesh and the half-edges (face, corner) that use them.

    Half-edge ``h = 3 * face + corner`` runs from ``faces[face, corner]`` to ``faces[face, (corner + 1) % 3]``.
    """

    edges: np.ndarray  # (E, 2) sorted vertex pairs
    edge_of_half_edge: np.ndarray  # (3F,) edge id of each half-edge
    face_count: np.ndarray  # (E,) number of half-edges on each edge

    @property
    def boundary_half_edges(self) -> np.ndarray:
        """Half-edges whose edge belongs to exactly one face."""
        return np.flatnonzero(self.face_count[self.edge_of_half_edge] == 1)

    def manifold_pairs(self) -> np.ndarray:
        """(P, 2) half-edge pairs sharing an edge that exactly two faces use."""
        order = np.argsort(self.edge_of_half_edge, kind="stable")
        sorted_edges = self.edge_of_half_edge[order]
        run_start = np.r_[True, sorted_edges[1:] != sorted_edges[:-1]]
        first = np.flatnonzero(run_start & (self.face_count[sorted_edges] == 2))
        return np.stack([order[first], order[first + 1]], axis=1)


def half_edge_ends(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) vertex of every half-edge, indexed by ``3 * face + corner``."""
    return faces.reshape(-1), faces[:, [1, 2, 0]].reshape(-1)


def edge_table(faces: np.ndarray) -> EdgeTable:
    """Build the undirected edge table of ``faces`` (edges sorted by (smaller, larger) vertex)."""
    start, end = half_edge_ends(faces)
    lo, hi = np.minimum(start, end), np.maximum(start, end)
    base = int(hi.max()) + 1 if len(hi) else 1
    keys, inverse, counts = np.unique(lo * base + hi, return_inverse=True, return_counts=True)
    edges = np.stack([keys // base, keys % base], axis=1)
    return EdgeTable(edges=edges, edge_of_half_edge=inverse.reshape(-1), face_count=counts)


def face_components(faces: np.ndarray, table: EdgeTable | None = None) -> np.ndarray:
    """Component label per face, faces being connected when they share an edge; labels follow first face order."""
    table = table or edge_table(faces)
    order = np.argsort(table.edge_of_half_edge, kind="stable")
    same_edge = table.edge_of_half_edge[order[1:]] == table.edge_of_half_edge[order[:-1]]
    pairs = np.stack([order[:-1][same_edge] // 3, order[1:][same_edge] // 3], axis=1)
    return _geometry.connected_components(len(faces), np.ascontiguousarray(pairs, dtype=np.int64))
