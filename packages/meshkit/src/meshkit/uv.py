"""UV unwrapping: normal-cone charts, per-chart orthographic projection, shape-aware packing with a texel gutter.

Charts are edge-connected faces whose normals lie closest to the same one of six axis directions (so every normal is
within ~55 degrees of its chart's direction); each chart is projected onto the plane of its area-weighted mean
normal (falling back to its axis plane if that would flip a triangle), rotated to its principal axes, then to its
smallest bounding box, and packed by its shape (the native bitmap packer in ``_geometry``, in one of four quarter
turns). The row arithmetic is written once for numpy and torch (``xp`` below is either
module), so that ``uv_torch``, the device path, computes the same numbers; only sums, components and sorting differ
between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import _geometry
from .mesh import face_normals
from .row_math import cross_rows, divide, dot_rows, pairwise_sums, unit_rows
from .topology import edge_table
from .validation import check_mesh, is_torch_tensor

_AXES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)


class UVUnwrap(NamedTuple):
    """Result of :func:`unwrap_uv`: per-new-vertex ``uvs`` (V', 2) in [0, 1], re-indexed ``faces`` (F, 3), the input
    vertex each new vertex copies (``vertex_map`` (V',)) and each face's chart id (``chart_of_face`` (F,)); numpy
    arrays, or torch tensors on the input's device for input on an accelerator."""

    uvs: Any
    faces: Any
    vertex_map: Any
    chart_of_face: Any


class ChartOps(NamedTuple):
    """What the shared chart arithmetic needs from a backend: its array module, per-chart sums of per-face rows in
    a fixed order, per-chart "any" of per-face flags, per-chart minima and maxima of per-face rows, the six axis
    directions (6, 3) and the (cos, sin) of ``TURNS`` (8, 2) on its device."""

    xp: Any
    chart_sum: Callable[[Any], Any]
    chart_any: Callable[[Any], Any]
    chart_min: Callable[[Any], Any]
    chart_max: Callable[[Any], Any]
    axes: Any
    turns: Any


# Turns tried on top of the principal axes, as (cos, sin): eighths of a right angle.
TURNS = np.stack([np.cos(np.arange(8) * (np.pi / 16)), np.sin(np.arange(8) * (np.pi / 16))], 1)


def sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Rows of ``values`` (N,) or (N, K) summed per ``index`` into ``size`` rows, in row order (the same sums as
    ``np.add.at`` into zeros, through the much faster ``np.bincount``)."""
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=size)
    return np.stack([np.bincount(index, weights=values[:, k], minlength=size) for k in range(values.shape[1])], 1)


def axis_scores(xp: Any, normals: Any) -> Any:
    """(N, 6) dot products of each normal with the six axis directions (exactly ``normals @ _AXES.T``)."""
    return xp.stack([normals[:, 0], -normals[:, 0], normals[:, 1], -normals[:, 1], normals[:, 2], -normals[:, 2]], 1)


def smoothing_links(xp: Any, faces: Any, pairs: Any) -> tuple[Any, Any]:
    """(target, source) of the normal smoothing over face ids ``faces`` (0..F-1): each face's own normal first,
    then its neighbours' in ``pairs`` order (the order in which ``np.add.at`` would accumulate them)."""
    return (xp.concatenate([faces, pairs[:, 0], pairs[:, 1]]), xp.concatenate([faces, pairs[:, 1], pairs[:, 0]]))


def chart_directions(normals: np.ndarray, pairs: np.ndarray, smoothing: int = 4) -> np.ndarray:
    """Axis index per face, chosen from normals averaged over edge neighbours (``smoothing`` rounds) so that surface
    noise does not shatter charts; a face keeps its own best axis when the smoothed one is not clearly in front."""
    target, source = smoothing_links(np, np.arange(len(normals)), pairs)
    smoothed = normals
    for _ in range(smoothing):
        smoothed = unit_rows(np, sum_by(target, smoothed[source], len(normals)))
    direction = np.argmax(axis_scores(np, smoothed), axis=1)
    own_scores = axis_scores(np, normals)
    facing = np.take_along_axis(own_scores, direction[:, None], 1)[:, 0]
    return np.where(facing > 0.2, direction, np.argmax(own_scores, axis=1))


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


def _plane_bases(xp: Any, normals: Any) -> tuple[Any, Any]:
    """Two unit vectors spanning the plane orthogonal to each (unit) normal, right-handed with it: the first is
    the normal crossed with x (with y where the normal is near x)."""
    n0, n1, n2 = normals[:, 0], normals[:, 1], normals[:, 2]
    near_x = xp.abs(n0) >= 0.9
    first = xp.stack([xp.where(near_x, -n2, 0.0), xp.where(near_x, 0.0, n2), xp.where(near_x, n0, -n1)], 1)
    first = first / xp.sqrt(dot_rows(first, first))[:, None]
    return first, cross_rows(xp, normals, first)


def chart_coordinates(ops: ChartOps, vertices: Any, faces: Any, chart: Any, chart_axis: Any) -> Any:
    """Per-corner 2-D chart coordinates (F, 3, 2) in mesh units, each chart rotated to its principal axes."""
    xp = ops.xp
    corners = vertices[faces]  # (F, 3, 3)
    weighted = cross_rows(xp, corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    mean = unit_rows(xp, ops.chart_sum(weighted))
    # A mean normal that leaves some face facing away would flip it: use the chart's axis direction there.
    bad = ops.chart_any(dot_rows(weighted, mean[chart]) <= 0)
    mean = xp.where(bad[:, None], ops.axes[chart_axis], mean)
    u_axis, v_axis = _plane_bases(xp, mean)
    coords = xp.stack([dot_rows(corners, u_axis[chart][:, None]), dot_rows(corners, v_axis[chart][:, None])], -1)
    coords = _align_principal_axes(ops, coords, chart, 0.5 * xp.sqrt(dot_rows(weighted, weighted)))
    return _tighten_boxes(ops, coords, chart)


def _turn(xp: Any, coords: Any, cos: Any, sin: Any) -> Any:
    return xp.stack([coords[..., 0] * cos + coords[..., 1] * sin, -coords[..., 0] * sin + coords[..., 1] * cos], -1)


def _tighten_boxes(ops: ChartOps, coords: Any, chart: Any) -> Any:
    """Turn each chart by the one of ``TURNS`` (eighths of a right angle) that gives it the smallest axis-aligned
    bounding box: principal axes alone leave square-ish charts at any angle, boxes up to twice their area."""
    xp = ops.xp
    areas = []
    for cos, sin in TURNS.tolist():
        turned = _turn(xp, coords, cos, sin)
        low = ops.chart_min(xp.minimum(xp.minimum(turned[:, 0], turned[:, 1]), turned[:, 2]))
        high = ops.chart_max(xp.maximum(xp.maximum(turned[:, 0], turned[:, 1]), turned[:, 2]))
        extent = high - low
        areas.append(extent[:, 0] * extent[:, 1])
    turn = ops.turns[xp.argmin(xp.stack(areas, 1), 1)][chart]
    return _turn(xp, coords, turn[:, 0:1], turn[:, 1:2])


def _align_principal_axes(ops: ChartOps, coords: Any, chart: Any, areas: Any) -> Any:
    """Rotate each chart so its area-weighted principal axis lies along u (tighter bounding boxes for packing)."""
    xp = ops.xp
    centroid = divide(coords[:, 0] + coords[:, 1] + coords[:, 2], 3)
    sums = ops.chart_sum(xp.stack([areas, centroid[:, 0] * areas, centroid[:, 1] * areas], 1))
    first = sums[:, 1:] / xp.where(sums[:, 0] > 1e-300, sums[:, 0], 1e-300)[:, None]
    offset = centroid - first[chart]
    second = ops.chart_sum(xp.stack([offset[:, 0] ** 2, offset[:, 0] * offset[:, 1], offset[:, 1] ** 2], 1)
                           * areas[:, None])
    # Terms within rounding of zero (mirror-symmetric charts) are set to zero, so that the layout does not hinge on
    # their last bits: a principal axis along v turns by +90 degrees (not -90 on the sign of noise), an isotropic
    # chart not at all.
    y, x, noise = 2 * second[:, 1], second[:, 0] - second[:, 2], 1e-9 * (second[:, 0] + second[:, 2])
    isotropic = xp.abs(y) + xp.abs(x) <= noise
    cos, sin = half_angle(xp, xp.where(xp.abs(y) <= noise, 0.0, y), xp.where(isotropic, 1.0, x))
    cos, sin = cos[chart, None], sin[chart, None]
    return _turn(xp, coords, cos, sin)


def half_angle(xp: Any, y: Any, x: Any) -> tuple[Any, Any]:
    """(cos, sin) of half the angle ``atan2(y, x)`` from square roots and divisions only (correctly rounded in numpy
    and torch on every device, unlike the trigonometric functions); (1, 0) where x = y = 0."""
    scale = xp.maximum(xp.abs(x), xp.abs(y))
    safe = xp.where(scale > 0, scale, 1.0)
    up = y >= 0
    y, x = xp.where(scale > 0, y / safe, 0.0), xp.where(scale > 0, x / safe, 1.0)
    radius = xp.sqrt(x * x + y * y)
    # The larger of |cos| and |sin| from the half-angle formula (>= 1/sqrt(2)), the other from sin(2a) / 2.
    larger = xp.sqrt((1 + xp.abs(x / radius)) / 2)
    other = y / radius / (2 * larger)
    cos = xp.where(x >= 0, larger, xp.abs(other))
    sin = xp.where(x >= 0, other, xp.where(up, larger, -larger))
    return cos, sin


def _numpy_ops(chart: np.ndarray, num_charts: int) -> ChartOps:
    # Every chart has faces: minima and maxima reduce each chart's run of faces in chart order.
    order = np.argsort(chart, kind="stable")
    starts = np.searchsorted(chart[order], np.arange(num_charts))
    return ChartOps(np, lambda values: pairwise_sums(chart, values, num_charts),
                    lambda flags: np.bincount(chart[flags], minlength=num_charts) > 0,
                    lambda values: np.minimum.reduceat(values[order], starts, axis=0),
                    lambda values: np.maximum.reduceat(values[order], starts, axis=0), _AXES, TURNS)


def project_charts(vertices: np.ndarray, faces: np.ndarray, chart: np.ndarray, chart_axis: np.ndarray) -> np.ndarray:
    """Per-corner 2-D chart coordinates (F, 3, 2) in mesh units, each chart rotated to its principal axes."""
    return chart_coordinates(_numpy_ops(chart, len(chart_axis)), vertices, faces, chart, chart_axis)


def _placement(local: np.ndarray, chart_start: np.ndarray, extent: np.ndarray, scale: float, gutter: int,
               texture_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(texel offsets (C, 2), quarter turns (C,), box sizes (C, 2), rows used or -1) of the charts at ``scale``:
    each chart's box spans ``ceil(extent * scale) + 1`` texels, its triangles at ``local * scale + 0.5`` in it."""
    sizes = np.ceil(extent * scale).astype(np.int64) + 1
    offsets, turns, height = _geometry.pack_chart_bitmaps(local, chart_start, sizes, scale, gutter, texture_size)
    return offsets, turns, sizes, int(height)


def pack_layout(coords: np.ndarray, chart: np.ndarray, low: np.ndarray, high: np.ndarray, texture_size: int,
                gutter: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(scale, texel offsets (C, 2), quarter turns (C,), box sizes (C, 2)) placing the charts of ``coords`` (F, 3, 2),
    faces of chart ``chart`` spanning ``low``..``high`` (C, 2), without overlap and a gutter apart: the largest
    uniform scale (within 0.2%) at which the native bitmap packer fits their shapes in the texture: guesses from the
    rows the last layouts used until one fits, then, between the largest fit and the smallest failure, the scale
    whose rows would fill the texture (interpolated, kept off both ends) until the two are 0.2% apart."""
    order = np.argsort(chart, kind="stable")
    chart_start = np.searchsorted(chart[order], np.arange(len(low) + 1))
    local = np.ascontiguousarray(coords[order] - low[chart[order]][:, None])
    extent = high - low
    edges = local[:, 1:] - local[:, :1]
    area = 0.5 * float(np.abs(edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]).sum())
    usable = texture_size - 2 * gutter
    fits, fails = 0.0, (usable - 1) / max(float(extent.max()), 1e-300) * (1 + 1e-9)
    # First guess: the scale at which the charts, each grown by half a gutter (and half a texel) around its box's
    # outline, would cover the texture.
    pad = 0.5 * (gutter + 1)
    corners = len(extent) * (2 * pad) ** 2
    a, b, c = area, 2 * pad * float(extent.sum()), corners - float(texture_size - gutter) ** 2
    cover = (2 * -c) / (b + np.sqrt(b * b - 4 * a * c)) if b > 0 and c < 0 else 0.0
    guess = min(fails / (1 + 1e-9), cover) if cover > 0 else 0.5 * fails
    # How fast that covered area grows with the scale there (d log area / d log scale: 2 for charts much larger than
    # the gutter, towards 0 for tiny ones): the rows used grow alike until two layouts give a measured rate.
    grown = a * guess * guess + b * guess + corners
    power = min(max((2 * a * guess * guess + b * guess) / grown, 0.5), 4.0) if grown > 0 else 2.0
    best, last, fail_rows = None, None, None
    for _ in range(64 if fails > 0 else 0):
        packing = _placement(local, chart_start, extent, guess, gutter, texture_size)
        height = packing[3]
        rows = np.log(max(height - gutter, 1) if height > 0 else 4 * texture_size)
        if 0 <= height <= texture_size:
            fits, fit_rows, best = guess, rows, packing
        else:
            fails, fail_rows = guess, rows
        if fits > 0 and fails <= fits * 1.002:
            break
        if fits > 0:  # bracketed: heights jump with the layout, so the interpolation stays off both ends
            share = 0.5
            if fail_rows is not None and fail_rows > fit_rows:
                share = (np.log(texture_size - gutter) - fit_rows) / (fail_rows - fit_rows)
            guess = fits + min(max(share, 0.0), 0.9) * (fails - fits)
            guess = max(guess, min(fits * 1.002, 0.5 * (fits + fails)))
            continue
        # The scale at which the rows used would just fill the texture, with rows taken as growing like scale^k,
        # k from the last two guesses (at first the covered area's rate), aimed a little below, kept below the
        # failed guess.
        if last is not None:
            power = min(max((rows - last[1]) / (np.log(guess) - last[0]), 0.5), 4.0)
        last = (np.log(guess), rows)
        guess = float(guess * min(0.995 * np.exp((np.log(texture_size - gutter) - rows) / power), 0.99))
    if best is None:
        raise ValueError("charts cannot be packed: raise texture_size or lower gutter")
    return fits, best[0], best[1], best[2]


def place_corners(xp: Any, flat: Any, low: Any, offsets: Any, turns: Any, sizes: Any, corner_chart: Any,
                  scale: float, texture_size: int) -> Any:
    """UVs of chart coordinates ``flat`` (3F, 2) of charts with lower corners ``low`` (C, 2) in boxes of ``sizes``
    texels at ``offsets``, each turned counter-clockwise by ``turns`` (C,) quarter turns inside its box: a chart
    spans [0.5, n - 0.5] texel units of its box of n texels, so the box edges hold no chart area."""
    texel = (flat - low[corner_chart]) * scale + 0.5
    mirror = sizes[corner_chart] - texel
    turn = turns[corner_chart]
    u = xp.where(turn == 0, texel[:, 0], xp.where(turn == 1, mirror[:, 1], xp.where(turn == 2, mirror[:, 0],
                                                                                      texel[:, 1])))
    v = xp.where(turn == 0, texel[:, 1], xp.where(turn == 1, texel[:, 0], xp.where(turn == 2, mirror[:, 1],
                                                                                     mirror[:, 0])))
    return divide(xp.stack([u, v], 1) + offsets[corner_chart], texture_size)


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
    scale, offsets, turns, sizes = pack_layout(coords, chart, low, high, texture_size, gutter)
    return place_corners(np, flat, low, offsets, turns, sizes, corner_chart, scale, texture_size).reshape(-1, 3, 2)


def check_options(texture_size: Any, gutter: Any) -> tuple[int, int]:
    """``texture_size`` (an int >= 8) and ``gutter`` (an int >= 0) checked, as ints."""
    if int(texture_size) != texture_size or texture_size < 8:
        raise ValueError(f"texture_size must be an int >= 8, got {texture_size!r}")
    if int(gutter) != gutter or gutter < 0:
        raise ValueError(f"gutter must be a non-negative int, got {gutter!r}")
    return int(texture_size), int(gutter)


def unwrap_uv(vertices: Any, faces: Any, texture_size: int = 1024, gutter: int = 2) -> UVUnwrap:
    """Cut the mesh into charts, flatten and pack them into [0, 1]^2 so that, at ``texture_size``, charts are at
    least ``gutter`` texels apart; vertices on chart seams are split (``vertex_map`` points back to the input).
    Torch tensors on an accelerator are unwrapped there (``uv_torch``) and the result stays on that device; any
    other input gives numpy arrays."""
    if is_torch_tensor(vertices) and is_torch_tensor(faces) and vertices.device.type != "cpu":
        from .uv_torch import unwrap_uv_torch

        return unwrap_uv_torch(vertices, faces, texture_size, gutter)
    v, f = check_mesh(vertices, faces)
    texture_size, gutter = check_options(texture_size, gutter)
    chart, chart_axis = segment_charts(v, f)
    corner_uv = pack_charts(project_charts(v, f, chart, chart_axis), chart, texture_size, gutter)
    # One output vertex per (input vertex, chart) pair: seam vertices are duplicated, one copy per chart.
    keys = f.reshape(-1) * (int(chart.max()) + 1) + np.repeat(chart, 3)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    uvs = corner_uv.reshape(-1, 2)[first]
    return UVUnwrap(uvs=uvs, faces=inverse.reshape(-1, 3), vertex_map=f.reshape(-1)[first], chart_of_face=chart)
