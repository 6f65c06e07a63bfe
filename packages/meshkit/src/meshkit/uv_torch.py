"""``unwrap_uv`` on torch tensors of any device (the GPU path): the same charts, projection, principal axes, turns,
packing and seam splitting as the numpy code in ``uv``, with the same numbers.

Every sum is taken in a fixed order, so results do not depend on the device's scheduling: the normal smoothing adds
each face's (at most four) terms in ``np.bincount``'s order through a dense gather table, per-chart sums follow
``uv.pairwise_sums``' tree, minima/maxima and integer counts are order-free. The row arithmetic is ``uv``'s own
(correctly rounded operations only), so on CPU tensors the result equals the numpy path's bit for bit. Only the
bitmap packing runs on the host (natively), from one transfer of the chart coordinates and extents. Host syncs: the
input checks, the component rounds, the chart count, the chart coordinates and extents and the seam split's vertex
count.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from . import uv
from .holes import _check_tensors
from .topology_torch import component_roots, edge_runs, rank_roots


def _sqrt(values: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square roots: torch's vectorised CPU kernel is off by one ulp for ~1% of float64 inputs
    (which would move near-isotropic charts' principal axes), so CPU tensors take numpy's; CUDA's is exact."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.sqrt(values.numpy()))
    return torch.sqrt(values)


# The array namespace ``uv``'s shared row arithmetic gets for tensors.
TORCH_XP = SimpleNamespace(stack=torch.stack, where=torch.where, sqrt=_sqrt, abs=torch.abs, maximum=torch.maximum,
                           minimum=torch.minimum, argmin=torch.argmin, concatenate=torch.cat)


class SegmentSums:
    """Sums of per-row values per ``index`` (N,) into ``size`` rows in ``uv.pairwise_sums``' order: rows sorted
    stably by index, then log2(longest run) rounds in which each block start adds the block after it."""

    def __init__(self, index: torch.Tensor, size: int) -> None:
        device = index.device
        self.order = torch.sort(index, stable=True).indices
        counts = torch.zeros(size, dtype=torch.long, device=device).index_add_(0, index, torch.ones_like(index))
        self.starts = torch.cumsum(counts, 0) - counts
        segment = index[self.order]
        rank = torch.arange(len(index), device=device) - self.starts[segment]
        length = counts[segment]
        self.empty = counts == 0
        self.masks = []
        step, longest = 1, int(counts.max()) if size else 0
        while step < longest:
            self.masks.append((step, (rank % (2 * step) == 0) & (rank + step < length)))
            step *= 2

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        x = values[self.order]
        for step, mask in self.masks:
            shape = (-1,) + (1,) * (x.ndim - 1)
            x = torch.where(mask.view(shape), x + torch.roll(x, -step, 0), x)
        sums = x[self.starts.clamp(max=max(len(x) - 1, 0))]
        return torch.where(self.empty.view((-1,) + (1,) * (x.ndim - 1)), torch.zeros_like(sums), sums)


def _smoothing_table(num_faces: int, pairs: torch.Tensor) -> torch.Tensor:
    """(F, 4) source faces of each face's smoothing sum in ``np.bincount``'s order (own face, then neighbours in
    pair order), ``num_faces`` (a zero row) where a face has fewer: each half-edge is in at most one pair."""
    target, source = uv.smoothing_links(TORCH_XP, torch.arange(num_faces, device=pairs.device), pairs)
    order = torch.sort(target, stable=True).indices
    target, source = target[order], source[order]
    counts = torch.zeros(num_faces, dtype=torch.long, device=pairs.device).index_add_(0, target,
                                                                                        torch.ones_like(target))
    slot = torch.arange(len(target), device=pairs.device) - (torch.cumsum(counts, 0) - counts)[target]
    table = torch.full((num_faces, 4), num_faces, dtype=torch.long, device=pairs.device)
    table[target, slot] = source
    return table


def _directions(normals: torch.Tensor, pairs: torch.Tensor, smoothing: int = 4) -> torch.Tensor:
    """``uv.chart_directions`` with the smoothing sums gathered through ``_smoothing_table``."""
    table = _smoothing_table(len(normals), pairs)
    smoothed = normals
    for _ in range(smoothing):
        terms = torch.cat([smoothed, smoothed.new_zeros(1, 3)])[table]
        smoothed = uv.unit_rows(TORCH_XP, ((terms[:, 0] + terms[:, 1]) + terms[:, 2]) + terms[:, 3])
    direction = torch.argmax(uv.axis_scores(TORCH_XP, smoothed), 1)
    own_scores = uv.axis_scores(TORCH_XP, normals)
    facing = own_scores.gather(1, direction[:, None])[:, 0]
    return torch.where(facing > 0.2, direction, torch.argmax(own_scores, 1))


def segment_charts_torch(vertices: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(chart id per face, axis index per chart) as ``uv.segment_charts``: charts numbered by their first face."""
    runs = edge_runs(faces, len(vertices))
    position = runs.pair_positions()
    pairs = torch.stack([runs.order[position], runs.order[position + 1]], 1) // 3
    corners = vertices[faces]
    normals = uv.cross_rows(TORCH_XP, corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = _sqrt(uv.dot_rows(normals, normals))
    normals = torch.where(length[:, None] > 0, normals / length[:, None], torch.zeros_like(normals))
    direction = _directions(normals, pairs)
    # Pairs across different directions become self-links, so no pair has to be dropped (no sync).
    same = direction[pairs[:, 0]] == direction[pairs[:, 1]]
    chart, first_faces = rank_roots(component_roots(len(faces), pairs[:, 0], torch.where(same, pairs[:, 1],
                                                                                          pairs[:, 0])))
    return chart, direction[first_faces]


def _chart_ops(chart: torch.Tensor, num_charts: int) -> uv.ChartOps:
    sums = SegmentSums(chart, num_charts)

    def chart_any(flags: torch.Tensor) -> torch.Tensor:
        return torch.zeros(num_charts, dtype=torch.long, device=chart.device).scatter_reduce_(
            0, chart, flags.long(), "amax") > 0

    def chart_extreme(values: torch.Tensor, reduce: str) -> torch.Tensor:
        index = chart.view((-1,) + (1,) * (values.ndim - 1)).expand_as(values)
        return values.new_zeros((num_charts,) + values.shape[1:]).scatter_reduce_(0, index, values, reduce,
                                                                                 include_self=False)

    return uv.ChartOps(TORCH_XP, sums, chart_any, lambda values: chart_extreme(values, "amin"),
                       lambda values: chart_extreme(values, "amax"), torch.as_tensor(uv._AXES, device=chart.device),
                       torch.as_tensor(uv.TURNS, device=chart.device))


def unwrap_uv_torch(vertices: Any, faces: Any, texture_size: int = 1024, gutter: int = 2) -> uv.UVUnwrap:
    """``unwrap_uv`` of torch tensors on their device; the ``UVUnwrap`` holds tensors there (uvs float64, faces,
    vertex_map and chart_of_face int64), equal to the numpy path's arrays."""
    _check_tensors(torch, vertices, faces)
    if faces.device != vertices.device:
        raise ValueError(f"vertices and faces must be on one device, got {vertices.device} and {faces.device}")
    texture_size, gutter = uv.check_options(texture_size, gutter)
    vertices, faces = vertices.to(torch.float64), faces.long()
    chart, chart_axis = segment_charts_torch(vertices, faces)
    num_charts = len(chart_axis)
    coords = uv.chart_coordinates(_chart_ops(chart, num_charts), vertices, faces, chart, chart_axis)
    flat, corner_chart = coords.reshape(-1, 2), chart.repeat_interleave(3)
    index = corner_chart[:, None].expand(-1, 2)
    low = flat.new_full((num_charts, 2), torch.inf).scatter_reduce_(0, index, flat, "amin")
    high = flat.new_full((num_charts, 2), -torch.inf).scatter_reduce_(0, index, flat, "amax")
    scale, offsets, turns, sizes = uv.pack_layout(coords.cpu().numpy(), chart.cpu().numpy(), low.cpu().numpy(),
                                                  high.cpu().numpy(), texture_size, gutter)
    offsets, sizes = (torch.from_numpy(x.astype(np.float64)).to(flat.device) for x in (offsets, sizes))
    turns = torch.from_numpy(turns).to(flat.device)
    corner_uv = uv.place_corners(TORCH_XP, flat, low, offsets, turns, sizes, corner_chart, scale, texture_size)
    # One output vertex per (input vertex, chart) pair, numbered in key order; each takes its first corner's UV.
    keys = faces.reshape(-1) * num_charts + corner_chart
    unique_keys, inverse = torch.unique(keys, sorted=True, return_inverse=True)
    corner = torch.arange(len(keys), device=keys.device)
    first = torch.full_like(unique_keys, len(keys)).scatter_reduce_(0, inverse, corner, "amin")
    return uv.UVUnwrap(uvs=corner_uv[first], faces=inverse.reshape(-1, 3), vertex_map=faces.reshape(-1)[first],
                       chart_of_face=chart)
