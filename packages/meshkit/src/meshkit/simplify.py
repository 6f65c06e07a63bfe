"""Quadric-error edge-collapse simplification to an exact face count: native CPU code, and for CUDA tensors a
vectorised torch port of the same rounds (``simplify_torch``) that runs on the device."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _geometry
from .topology import edge_table
from .validation import check_mesh, check_positive, float_dtype_of, is_torch_tensor, like, to_numpy

DEVICE_TYPES = ("cuda",)  # torch device types whose vertex tensors are simplified there by simplify_torch


@dataclass(frozen=True)
class SimplifyResult:
    """Simplified mesh plus how it got there.

    ``vertex_source[i]`` is the input vertex that output vertex ``i`` descends from; ``stop_reason`` is empty when
    the target was reached and otherwise says why the collapse stopped early.
    """

    vertices: Any
    faces: Any
    attributes: Any | None
    vertex_source: np.ndarray
    stop_reason: str

    @property
    def reached_target(self) -> bool:
        """True when the requested face count was reached."""
        return not self.stop_reason


def simplify(
    vertices: Any,
    faces: Any,
    target_faces: int,
    *,
    preserve_boundary: bool = False,
    attributes: Any | None = None,
    locked_vertices: Any | None = None,
    min_normal_cos: float = 0.1,
    boundary_weight: float = 1e3,
    round_fraction: float = 0.1,
) -> SimplifyResult:
    """Collapse edges, cheapest quadric error first, until at most ``target_faces`` faces remain.

    Works in rounds: all edges are costed and, of the cheapest ``round_fraction`` of them, the legal ones whose
    surrounding faces do not overlap are collapsed together (a parallel-friendly schedule whose result does not
    depend on the thread count). Each collapse removes two faces (one on an open boundary), so the count lands on
    the target or one below. A collapse is refused when it would flip or fold a face (normal turning by more than
    acos(``min_normal_cos``)), break manifoldness (link condition), pinch a boundary, or move a vertex that must
    stay: boundary vertices when ``preserve_boundary`` is set and any vertex flagged in ``locked_vertices``. Open
    boundaries are otherwise held by planes of weight ``boundary_weight``. Per-vertex ``attributes`` (V, K) are
    interpolated along collapsed edges. Deterministic; warns (and fills ``stop_reason``) if legal collapses run
    out before the target. CUDA ``vertices`` go to ``simplify_torch.simplify_torch``, which runs the same rounds on
    the device (same rules and face count; equal costs are ordered by an edge hash, so the collapses can differ) and
    returns tensors there; numpy arrays and tensors on other devices run the native code (tensors come back on
    their device).
    """
    if runs_on_device(vertices):
        from .simplify_torch import simplify_torch

        return simplify_torch(vertices, faces, target_faces, preserve_boundary=preserve_boundary,
                              attributes=attributes, locked_vertices=locked_vertices, min_normal_cos=min_normal_cos,
                              boundary_weight=boundary_weight, round_fraction=round_fraction)
    v, f = check_mesh(vertices, faces)
    if isinstance(target_faces, bool) or not isinstance(target_faces, int | np.integer) or target_faces < 0:
        raise ValueError(f"target_faces must be a non-negative integer, got {target_faces!r}")
    given = np.zeros((len(v), 0)) if attributes is None else to_numpy(attributes, "attributes")
    attr = given[:, None] if given.ndim == 1 else given
    if attr.ndim != 2 or attr.shape[0] != len(v):
        raise ValueError(f"attributes must have shape (V, K) with V = {len(v)}, got {tuple(attr.shape)}")
    if not np.isfinite(attr).all():
        raise ValueError("attributes contain NaN or infinite values")
    locked = np.zeros(len(v), dtype=bool)
    if locked_vertices is not None:
        mask = to_numpy(locked_vertices, "locked_vertices")
        if mask.shape != (len(v),) or mask.dtype != bool:
            raise ValueError(f"locked_vertices must be a boolean array of shape ({len(v)},)")
        locked |= mask
    if preserve_boundary:
        table = edge_table(f)
        locked[table.edges[table.face_count == 1].reshape(-1)] = True
    out_v, out_f, out_attr, source, reason = _geometry.simplify(
        v, f, int(target_faces), attr, locked.astype(np.uint8), float(min_normal_cos), float(boundary_weight),
        check_positive(round_fraction, "round_fraction"),
    )
    if reason:
        warnings.warn(f"simplify: target of {target_faces} faces not reached, {reason}", stacklevel=2)
    kept_attributes = None if attributes is None else out_attr.astype(given.dtype).reshape(-1, *given.shape[1:])
    return SimplifyResult(
        vertices=like(out_v.astype(float_dtype_of(vertices)), vertices),
        faces=like(out_f, faces),
        attributes=None if kept_attributes is None else like(kept_attributes, attributes),
        vertex_source=source,
        stop_reason=reason,
    )


def runs_on_device(vertices: Any) -> bool:
    """Whether ``simplify`` hands these vertices to the torch port: a tensor on a device type in ``DEVICE_TYPES``."""
    return is_torch_tensor(vertices) and vertices.device.type in DEVICE_TYPES
