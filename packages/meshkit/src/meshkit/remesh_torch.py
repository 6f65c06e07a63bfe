"""Narrow-band dual-contouring remesh in torch: the native algorithm (remesh.cpp) step for step on the tensors'
device, with the same float64 arithmetic in the same order, so it returns the same vertices and faces.

Grid points are int64 keys, linear in their coordinates and sorted as the native key lists are; sets of points are
sorted key tensors searched with ``torch.searchsorted``. Distances come from a closest-point tree queried on the
device (``meshkit.BVH``: the native walk for CPU tensors, the Triton one for CUDA tensors). Only the sign repair,
whose passes are sequential in key order, walks its few unsound voxels in Python.
"""

from __future__ import annotations

import heapq
from typing import Any, Protocol

import numpy as np
import torch

CORNERS = [(c & 1, (c >> 1) & 1, (c >> 2) & 1) for c in range(8)]  # corner c of a voxel, as in remesh.cpp
DIRECTIONS = [(axis, step) for axis in range(3) for step in (1, -1)]  # the face loop's order
RING = [(-1, -1), (0, -1), (0, 0), (-1, 0)]  # voxels around a grid edge, counter-clockwise about +axis
COARSEST_BLOCKS = 32  # the band search starts from at most this many blocks per axis


class ClosestPointTree(Protocol):
    """What the remesh needs from a closest-point tree: queries taking and returning float64 tensors."""

    def unsigned_distance(self, points: torch.Tensor) -> torch.Tensor: ...

    def closest_surface_point(self, points: torch.Tensor) -> torch.Tensor: ...


def sound_configurations() -> list[bool]:
    """For each inside-corner mask of a voxel, whether it contours to a single disc: inside and outside corners each
    connected along cube edges and no face with a checkerboard pattern."""

    def connected(mask: int) -> bool:
        if mask == 0:
            return True
        seen = frontier = mask & -mask
        while frontier:
            step = 0
            for c in range(8):
                if frontier >> c & 1:
                    step |= sum(1 << (c ^ (1 << axis)) for axis in range(3))
            frontier = step & mask & ~seen
            seen |= frontier
        return seen == mask

    def checkerboard(mask: int) -> bool:
        for axis in range(3):
            b, c = 1 << (axis + 1) % 3, 1 << (axis + 2) % 3
            for base in (0, 1 << axis):
                p0, p1 = mask >> base & 1, mask >> (base | b) & 1
                p2, p3 = mask >> (base | b | c) & 1, mask >> (base | c) & 1
                if p0 == p2 and p1 == p3 and p0 != p1:
                    return True
        return False

    return [connected(m) and connected(~m & 0xFF) and not checkerboard(m) for m in range(256)]


SOUND = sound_configurations()


def contains(sorted_keys: torch.Tensor, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(found, index): whether each query is in ``sorted_keys`` and where (clamped into range when absent)."""
    index = torch.searchsorted(sorted_keys, queries).clamp_(max=max(len(sorted_keys) - 1, 0))
    if len(sorted_keys) == 0:
        return torch.zeros_like(queries, dtype=torch.bool), index
    return sorted_keys[index] == queries, index


class Grid:
    """The remesh grid: (resolution + 1)³ points of spacing ``scale / resolution`` from ``center - scale / 2``, keyed
    ``((i + 1) * s + j + 1) * s + k + 1`` with ``s = resolution + 3`` so that one layer outside keys too."""

    def __init__(self, tree: ClosestPointTree, center: tuple[float, float, float], scale: float, resolution: int,
                 band: float, device: torch.device) -> None:
        self.tree, self.res, self.device = tree, resolution, device
        self.voxel = scale / resolution
        self.iso = band * scale / resolution
        self.stride = resolution + 3
        self.origin = torch.tensor([c - scale / 2 for c in center], dtype=torch.float64, device=device)

    def offset(self, di: int, dj: int, dk: int) -> int:
        """Key difference of a move by (di, dj, dk)."""
        return (di * self.stride + dj) * self.stride + dk

    def offsets(self, moves: list[tuple[int, int, int]]) -> torch.Tensor:
        return torch.tensor([self.offset(*m) for m in moves], dtype=torch.int64, device=self.device)

    def key(self, ijk: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return ((ijk[..., 0] + 1) * s + ijk[..., 1] + 1) * s + ijk[..., 2] + 1

    def unkey(self, keys: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return torch.stack([keys // (s * s), keys // s % s, keys % s], -1) - 1

    def position(self, ijk: torch.Tensor) -> torch.Tensor:
        """Positions of (fractional) grid coordinates: origin + coordinate * voxel, rounded as the native code."""
        return self.origin + ijk.to(torch.float64) * self.voxel

    def in_domain(self, ijk: torch.Tensor) -> torch.Tensor:
        return ((ijk >= 0) & (ijk <= self.res)).all(-1)

    def distance(self, ijk: torch.Tensor) -> torch.Tensor:
        """Unsigned distance from grid coordinates (N, 3) to the input."""
        if len(ijk) == 0:
            return torch.zeros(0, dtype=torch.float64, device=self.device)
        return self.tree.unsigned_distance(self.position(ijk)).to(self.device)

    def exact_values(self, keys: torch.Tensor) -> torch.Tensor:
        """Distance minus the iso level at the keyed points; +1 voxel outside the domain (the surface closes)."""
        ijk = self.unkey(keys)
        inside_domain = self.in_domain(ijk)
        values = torch.full(keys.shape, self.voxel, dtype=torch.float64, device=self.device)
        values[inside_domain] = self.distance(ijk[inside_domain]) - self.iso
        return values


def find_inside_points(grid: Grid) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted keys and values of the grid points closer than the iso level, found coarse to fine: a block of 2^L
    points per axis is split while its centre lies within iso + its half diagonal of the input (as remesh.cpp)."""
    res, device = grid.res, grid.device
    top = 0
    while (res + 1 + (1 << top) - 1) >> top > COARSEST_BLOCKS:
        top += 1
    n = (res + 1 + (1 << top) - 1) >> top
    axis = torch.arange(n, device=device)
    cells = torch.cartesian_prod(axis, axis, axis).reshape(-1, 3)
    children = torch.tensor(CORNERS, dtype=torch.int64, device=device)
    for level in range(top, 0, -1):
        size = 1 << level
        reach = grid.iso + 0.8661 * (size - 1) * grid.voxel
        centres = (cells * size).to(torch.float64) + 0.5 * (size - 1)
        near = grid.distance(centres) < reach
        cells = (2 * cells[near, None, :] + children).reshape(-1, 3)
        cells = cells[(cells * (size // 2) <= res).all(1)]
    keys, order = torch.sort(grid.key(cells))
    values = grid.distance(cells[order]) - grid.iso
    inside = values < 0
    return keys[inside], values[inside]


def voxel_masks(grid: Grid, inside_keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted keys of the voxels touching an inside point and each one's inside-corner mask (bit c: corner c)."""
    below = grid.offsets(CORNERS)
    voxels, inverse = torch.unique((inside_keys[:, None] - below).reshape(-1), return_inverse=True)
    bits = (1 << torch.arange(8, device=grid.device)).repeat(len(inside_keys))
    return voxels, torch.zeros(len(voxels), dtype=torch.int64, device=grid.device).index_add_(0, inverse, bits)


class RepairPass:
    """One pass of the sign repair over the voxels in key order, as remesh.cpp runs it, visiting only the voxels
    that can be unsound when reached: those unsound at the start and those sharing a corner flipped before them.

    Inside-ness at the pass start and values are fetched from the device for whole neighbourhoods at once."""

    def __init__(self, grid: Grid, inside_keys: torch.Tensor) -> None:
        self.grid, self.inside_keys = grid, inside_keys
        self.corner = [grid.offset(*o) for o in CORNERS]
        self.block = grid.offsets([(i, j, k) for i in (-1, 0, 1, 2) for j in (-1, 0, 1, 2) for k in (-1, 0, 1, 2)])
        self.start: dict[int, bool] = {}  # inside at the pass start, by key
        self.values: dict[int, float] = {}
        self.flipped: set[int] = set()

    def fetch_start(self, voxels: list[int]) -> None:
        """Inside-ness at the pass start of every corner of the voxels sharing a corner with these."""
        keys = torch.unique((torch.tensor(voxels, device=self.grid.device)[:, None] + self.block).reshape(-1))
        found, _ = contains(self.inside_keys, keys)
        self.start.update(zip(keys.tolist(), found.tolist(), strict=True))

    def fetch_values(self, keys: list[int]) -> None:
        values = self.grid.exact_values(torch.tensor(keys, dtype=torch.int64, device=self.grid.device))
        self.values.update(zip(keys, values.tolist(), strict=True))

    def at_start(self, key: int, near: int) -> bool:
        """Whether the point was inside at the pass start (fetched with the neighbourhood of voxel ``near``)."""
        if key not in self.start:
            self.fetch_start([near])
        return self.start[key]

    def mask(self, voxel: int) -> int:
        """The voxel's inside-corner mask now."""
        return sum(1 << c for c, o in enumerate(self.corner)
                   if self.at_start(voxel + o, voxel) or voxel + o in self.flipped)

    def listed(self, voxel: int) -> bool:
        """Whether the voxel touched an inside point at the pass start (so it is in the pass's voxel list)."""
        return any(self.at_start(voxel + o, voxel) for o in self.corner)

    def run(self, unsound: list[int]) -> list[int]:
        """Flip corners of the voxels unsound when reached; returns the flipped keys."""
        self.fetch_start(unsound)
        grid = self.grid
        ijk = grid.unkey(torch.tensor(unsound, device=grid.device))
        corners = ijk[:, None, :] + torch.tensor(CORNERS, device=grid.device)
        keys = grid.key(corners)
        wanted = grid.in_domain(corners) & ~contains(self.inside_keys, keys)[0]
        self.fetch_values(keys[wanted].tolist())
        queue, queued = list(unsound), set(unsound)
        heapq.heapify(queue)
        s = grid.stride
        while queue:
            voxel = heapq.heappop(queue)
            mask = self.mask(voxel)
            if SOUND[mask]:
                continue
            g = (voxel // (s * s) - 1, voxel // s % s - 1, voxel % s - 1)
            flippable = [not mask >> c & 1 and all(0 <= g[a] + CORNERS[c][a] <= grid.res for a in range(3))
                         for c in range(8)]
            best, best_value = -1, 0.0
            for c in range(8):
                if flippable[c] and SOUND[mask | 1 << c]:
                    key = voxel + self.corner[c]
                    if key not in self.values:
                        self.fetch_values([key])
                    if best < 0 or self.values[key] < best_value:
                        best, best_value = c, self.values[key]
            for c in range(8):
                if not flippable[c] or (best >= 0 and c != best):
                    continue
                key = voxel + self.corner[c]
                self.flipped.add(key)
                for o in self.corner:
                    neighbour = key - o
                    if neighbour > voxel and neighbour not in queued and self.listed(neighbour):
                        queued.add(neighbour)
                        heapq.heappush(queue, neighbour)
        return sorted(self.flipped)


def repair(grid: Grid, inside_keys: torch.Tensor, inside_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Grow the inside set (forced points get -1e-3 voxel) until every voxel touching it is sound, or no pass can
    change anything; returns (inside keys, their values, voxel keys, voxel masks)."""
    sound = torch.tensor(SOUND, device=grid.device)
    while True:
        voxels, masks = voxel_masks(grid, inside_keys)
        unsound = voxels[~sound[masks]]
        if len(unsound) == 0:
            break
        flipped = RepairPass(grid, inside_keys).run(unsound.tolist())
        if not flipped:
            break
        forced = torch.tensor(flipped, dtype=torch.int64, device=grid.device)
        inside_keys, order = torch.sort(torch.cat([inside_keys, forced]))
        inside_values = torch.cat([inside_values, torch.full_like(forced, -1e-3 * grid.voxel, dtype=torch.float64)])
        inside_values = inside_values[order]
    return inside_keys, inside_values, voxels, masks


def dual_vertices(grid: Grid, value_keys: torch.Tensor, values: torch.Tensor, voxels: torch.Tensor,
                  masks: torch.Tensor) -> torch.Tensor:
    """One vertex per crossed voxel (key order): the mean of the interpolated crossings on its edges."""
    ijk = grid.unkey(voxels)
    corner_values = values[contains(value_keys, voxels[:, None] + grid.offsets(CORNERS))[1]]
    total = torch.zeros((len(voxels), 3), dtype=torch.float64, device=grid.device)
    count = torch.zeros(len(voxels), dtype=torch.int64, device=grid.device)
    for a in range(8):
        for axis in range(3):
            b = a | 1 << axis
            if b == a:
                continue
            crossed = (masks >> a & 1) != (masks >> b & 1)
            va, vb = corner_values[:, a], corner_values[:, b]
            t = (va / torch.where(crossed, va - vb, 1.0)).clamp(0.0, 1.0)
            point = torch.tensor(CORNERS[a], dtype=torch.float64, device=grid.device).expand(len(voxels), 3).clone()
            point[:, axis] = t
            total += torch.where(crossed[:, None], point, 0.0)
            count += crossed
    return grid.position(ijk.to(torch.float64) + total / count[:, None])


def quad_faces(grid: Grid, inside_keys: torch.Tensor, vertex_keys: torch.Tensor,
               vertices: torch.Tensor) -> torch.Tensor:
    """Two triangles per crossed grid edge (inside point to outside neighbour), in the native order: by inside key,
    then direction; wound from inside to outside and split along the diagonal with the closer-to-coplanar halves."""
    steps = grid.offsets([tuple(step if a == axis else 0 for a in range(3)) for axis, step in DIRECTIONS])
    crossed = ~contains(inside_keys, inside_keys[:, None] + steps)[0]
    point, direction = torch.nonzero(crossed, as_tuple=True)
    low = inside_keys[point] + torch.where(steps[direction] > 0, 0, steps[direction])
    ring = torch.stack([grid.offsets([_ring_move(axis, r) for r in RING]) for axis, _ in DIRECTIONS])
    quads = contains(vertex_keys, low[:, None] + ring[direction])[1]
    backward = (direction % 2 == 1)[:, None]
    quads = torch.where(backward, quads[:, [0, 3, 2, 1]], quads)
    first = _alignment(vertices, quads) >= _alignment(vertices, quads[:, [1, 2, 3, 0]])
    quads = torch.where(first[:, None], quads, quads[:, [1, 2, 3, 0]])
    return quads[:, [0, 1, 2, 0, 2, 3]].reshape(-1, 3)


def _ring_move(axis: int, ring: tuple[int, int]) -> tuple[int, int, int]:
    move = [0, 0, 0]
    move[(axis + 1) % 3], move[(axis + 2) % 3] = ring
    return tuple(move)


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square root, as C++ ``std::sqrt``: torch's CPU kernel may be off by one ulp (measured), so
    CPU tensors go through numpy; CUDA's float64 sqrt is correctly rounded."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sqrt(x.numpy()))
    return torch.sqrt(x)


def _alignment(vertices: torch.Tensor, quads: torch.Tensor) -> torch.Tensor:
    """Cosine between the normals of triangles (q0, q1, q2) and (q0, q2, q3), computed as remesh.cpp does."""
    p = [vertices[quads[:, r]] for r in range(4)]

    def normal(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
        u, w = y - x, z - x
        return [u[:, 1] * w[:, 2] - u[:, 2] * w[:, 1], u[:, 2] * w[:, 0] - u[:, 0] * w[:, 2],
                u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0]]

    n1, n2 = normal(p[0], p[1], p[2]), normal(p[0], p[2], p[3])
    l1 = _sqrt(n1[0] * n1[0] + n1[1] * n1[1] + n1[2] * n1[2])
    l2 = _sqrt(n2[0] * n2[0] + n2[1] * n2[1] + n2[2] * n2[2])
    return (n1[0] * n2[0] + n1[1] * n2[1] + n1[2] * n2[2]) / torch.clamp(l1 * l2, min=1e-300)


def remesh_on_device(tree: ClosestPointTree, center: tuple[float, float, float], scale: float, resolution: int,
                     band: float, project_back: float, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The native ``remesh_narrow_band_dc`` (checked arguments, no ``outer_only``) on ``device``: float64 vertices
    and int64 faces there, equal to the native result."""
    grid = Grid(tree, center, scale, resolution, band, torch.device(device))
    inside_keys, inside_values = find_inside_points(grid)
    inside_keys, inside_values, voxels, masks = repair(grid, inside_keys, inside_values)
    steps = grid.offsets([tuple(step if a == axis else 0 for a in range(3)) for axis, step in DIRECTIONS])
    neighbours = torch.unique(inside_keys[:, None] + steps)
    neighbours = neighbours[~contains(inside_keys, neighbours)[0]]
    value_keys, order = torch.sort(torch.cat([inside_keys, neighbours]))
    values = torch.cat([inside_values, grid.exact_values(neighbours)])[order]
    crossed = (masks > 0) & (masks < 255)
    vertex_keys = voxels[crossed]
    vertices = dual_vertices(grid, value_keys, values, vertex_keys, masks[crossed])
    faces = quad_faces(grid, inside_keys, vertex_keys, vertices)
    if project_back > 0 and len(vertices):
        vertices = vertices + project_back * (tree.closest_surface_point(vertices).to(grid.device) - vertices)
    return vertices, faces
