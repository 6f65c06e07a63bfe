"""UV unwrapping: normal-cone charts, per-chart orthographic projection, shelf packing with a texel gutter.

Charts are edge-connected faces whose normals lie closest to the same one of six axis directions (so every normal is
within ~55 degrees of its chart's direction); each chart is projected onto the plane of its area-weighted mean
normal (falling back to its axis plane if that would flip a triangle), rotated to its principal axes and packed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _geometry
from .mesh import face_areas, face_normals
from .topology import edge_table
from .validation import check_mesh

_AXES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)


class UVUnwrap(NamedTuple):
    """Result of :func:`unwrap_uv`: per-new-vertex ``uvs`` (V', 2) in [0, 1], re-indexed ``faces`` (F, 3), the input
    vertex each new vertex copies (``vertex_map`` (V',)) and each face's chart id (``chart_of_face`` (F,))."""

    uvs: np.ndarray
    faces: np.ndarray
    vertex_map: np.ndarray
    chart_of_face: np.ndarray


def sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Rows of ``values`` (N,) or (N, K) summed per ``index`` into ``size`` rows, in row order (the same sums as
    ``np.add.at`` into zeros, through the much faster ``np.bincount``)."""
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=size)
    return np.stack([np.bincount(index, weights=values[:, k], minlength=size) for k in range(values.shape[1])], 1)


def chart_directions(normals: np.ndarray, pairs: np.ndarray, smoothing: int = 4) -> np.ndarray:
    """Axis index per face, chosen from normals averaged over edge neighbours (``smoothing`` rounds) so that surface
    noise does not shatter charts; a face keeps its own best axis when the smoothed one is not clearly in front."""
    smoothed = normals.copy()
    # Each face's own normal first, then its neighbours': the order in which np.add.at would accumulate them.
    target = np.concatenate([np.arange(len(normals)), pairs[:, 0], pairs[:, 1]])
    source = np.concatenate([np.arange(len(normals)), pairs[:, 1], pairs[:, 0]])
    for _ in range(smoothing):
        summed = sum_by(target, smoothed[source], len(normals))
        smoothed = summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-300)
    direction = np.argmax(smoothed @ _AXES.T, axis=1)
    own = np.argmax(normals @ _AXES.T, axis=1)
    facing = np.einsum("ij,ij->i", normals, _AXES[direction])
    return np.where(facing > 0.2, direction, own)


def segment_charts(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chart id per face, axis index per chart): charts are edge-connected faces that picked the same axis, and
    every face of a chart faces its axis (so projecting along it flips nothing)."""
    pairs = edge_table(faces).manifold_pairs() // 3
    direction = chart_directions(face_normals(vertices, faces), pairs)
    pairs = pairs[direction[pairs[:, 0]] == direction[pairs[:, 1]]]
    chart = _geometry.connected_components(len(faces), np.ascontiguousarray(pairs, dtype=np.int64))
    chart_axis = np.zeros(int(chart.max()) + 1, np.int64)
    chart_axis[chart] = direction
    return chart, chart_axis


def _plane_bases(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane orthogonal to each (unit) normal, right-handed with it."""
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    first = np.cross(normals, helper)
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    return first, np.cross(normals, first)


def project_charts(vertices: np.ndarray, faces: np.ndarray, chart: np.ndarray, chart_axis: np.ndarray) -> np.ndarray:
    """Per-corner 2-D chart coordinates (F, 3, 2) in mesh units, each chart rotated to its principal axes."""
    num_charts = len(chart_axis)
    weighted = face_normals(vertices, faces, normalize=False)
    mean = sum_by(chart, weighted, num_charts)
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-300)
    # A mean normal that leaves some face facing away would flip it: use the chart's axis direction there.
    bad = np.bincount(chart[np.einsum("ij,ij->i", weighted, mean[chart]) <= 0], minlength=num_charts) > 0
    mean[bad] = _AXES[chart_axis[bad]]
    u_axis, v_axis = _plane_bases(mean)
    corners = vertices[faces]  # (F, 3, 3)
    coords = np.stack([np.einsum("fkc,fc->fk", corners, u_axis[chart]),
                       np.einsum("fkc,fc->fk", corners, v_axis[chart])], axis=-1)
    return _align_principal_axes(coords, chart, num_charts, face_areas(vertices, faces))


def _align_principal_axes(coords: np.ndarray, chart: np.ndarray, num_charts: int, areas: np.ndarray) -> np.ndarray:
    """Rotate each chart so its area-weighted principal axis lies along u (tighter bounding boxes for packing)."""
    centroid = coords.mean(axis=1)
    weight = sum_by(chart, areas, num_charts)
    first = sum_by(chart, centroid * areas[:, None], num_charts)
    first /= np.maximum(weight, 1e-300)[:, None]
    offset = centroid - first[chart]
    second = sum_by(chart, np.stack([offset[:, 0] ** 2, offset[:, 0] * offset[:, 1], offset[:, 1] ** 2], 1)
                    * areas[:, None], num_charts)
    angle = 0.5 * np.arctan2(2 * second[:, 1], second[:, 0] - second[:, 2])
    cos, sin = np.cos(angle)[chart, None], np.sin(angle)[chart, None]
    return np.stack([coords[..., 0] * cos + coords[..., 1] * sin, -coords[..., 0] * sin + coords[..., 1] * cos], -1)


def _shelf_pack(sizes: np.ndarray, gutter: int, texture_size: int) -> np.ndarray | None:
    """Integer texel offsets for boxes of ``sizes`` (N, 2) (width, height) on shelves, tallest first; None if they
    do not fit in ``texture_size`` with ``gutter`` empty texels between boxes and around the border."""
    order = np.argsort(-sizes[:, 1], kind="stable")
    offsets = np.zeros_like(sizes)
    x = y = gutter
    shelf_height = 0
    for index in order:
        width, height = sizes[index]
        if x + width + gutter > texture_size:
            x, y = gutter, y + shelf_height + gutter
            shelf_height = 0
        if x + width + gutter > texture_size or y + height + gutter > texture_size:
            return None
        offsets[index] = (x, y)
        x += width + gutter
        shelf_height = max(shelf_height, height)
    return offsets


def pack_charts(coords: np.ndarray, chart: np.ndarray, texture_size: int, gutter: int) -> np.ndarray:
    """Scale all charts uniformly and place them without overlap in the unit square; returns per-corner UVs."""
    num_charts = int(chart.max()) + 1
    flat = coords.reshape(-1, 2)
    corner_chart = np.repeat(chart, 3)
    # Every chart has faces: reduce each chart's run of corners in chart order.
    order = np.argsort(corner_chart, kind="stable")
    starts = np.searchsorted(corner_chart[order], np.arange(num_charts))
    low = np.minimum.reduceat(flat[order], starts, axis=0)
    high = np.maximum.reduceat(flat[order], starts, axis=0)
    extent = high - low
    usable = texture_size - 2 * gutter
    largest = max(extent.max(), 1e-300)

    def placement(scale: float) -> np.ndarray | None:
        return _shelf_pack(np.ceil(extent * scale).astype(np.int64) + 1, gutter, texture_size)

    # Bracket the largest uniform scale that packs (starting from an area estimate), then bisect it.
    fits = 0.0
    fails = (usable - 1) / largest * (1 + 1e-9)
    guess = min(usable / np.sqrt(np.sum((extent[:, 0] + 1e-12) * (extent[:, 1] + 1e-12))), (usable - 1) / largest)
    for _ in range(100):
        if placement(guess) is not None:
            fits = guess
            break
        fails, guess = guess, guess * 0.8
    if fits == 0.0:
        raise ValueError("charts cannot be packed: raise texture_size or lower gutter")
    for _ in range(8):
        middle = 0.5 * (fits + fails)
        fits, fails = (middle, fails) if placement(middle) is not None else (fits, middle)
    scale, offsets = fits, placement(fits)
    # Inside its box of n texels a chart spans [0.5, n - 0.5] texel units, so the box edges hold no chart area.
    texel = (flat - low[corner_chart]) * scale + offsets[corner_chart] + 0.5
    return (texel / texture_size).reshape(-1, 3, 2)


def unwrap_uv(vertices: Any, faces: Any, texture_size: int = 1024, gutter: int = 2) -> UVUnwrap:
    """Cut the mesh into charts, flatten and pack them into [0, 1]^2 so that, at ``texture_size``, charts are at
    least ``gutter`` texels apart; vertices on chart seams are split (``vertex_map`` points back to the input)."""
    v, f = check_mesh(vertices, faces)
    if int(texture_size) != texture_size or texture_size < 8:
        raise ValueError(f"texture_size must be an int >= 8, got {texture_size!r}")
    if int(gutter) != gutter or gutter < 0:
        raise ValueError(f"gutter must be a non-negative int, got {gutter!r}")
    chart, chart_axis = segment_charts(v, f)
    corner_uv = pack_charts(project_charts(v, f, chart, chart_axis), chart, int(texture_size), int(gutter))
    # One output vertex per (input vertex, chart) pair: seam vertices are duplicated, one copy per chart.
    keys = f.reshape(-1) * (int(chart.max()) + 1) + np.repeat(chart, 3)
    unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    uvs = corner_uv.reshape(-1, 2)[first]
    return UVUnwrap(uvs=uvs, faces=inverse.reshape(-1, 3), vertex_map=f.reshape(-1)[first], chart_of_face=chart)
