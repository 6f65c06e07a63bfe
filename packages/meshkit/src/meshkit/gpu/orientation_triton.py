"""``cleanup_torch.unify_orientation`` for CUDA meshes in a few Triton launches: half-edges linked through the hashed
edge table of ``edges_triton``, faces joined with their flip parities by the union-find of ``components_triton``
(roots are each component's first face, which keeps its orientation as in the native breadth-first walk), then
one pass that checks every two-face edge against the parities and marks components with a boundary edge, one that
adds the signed volumes of the flipped faces per component, and one that writes the faces turned outward."""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from .components_triton import add_by_root, parity_roots
from .edges_triton import half_edge_links

_BLOCK = 256


@triton.jit(do_not_specialize=["n"])
def _check_kernel(a_ptr, b_ptr, parity_ptr, count_ptr, roots, flips, bad, open_part, n, BLOCK: tl.constexpr):
    """bad[0] = 1 where a two-face edge joins faces whose flips disagree with its parity; open_part[root] = 1 for
    the component of each boundary half-edge."""
    h = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = h < n
    a = tl.load(a_ptr + h, mask=mask, other=0)
    b = tl.load(b_ptr + h, mask=mask, other=0)
    parity = tl.load(parity_ptr + h, mask=mask, other=0)
    wrong = mask & ((tl.load(flips + a, mask=mask, other=0) ^ tl.load(flips + b, mask=mask, other=0)) != parity)
    tl.store(bad, 1, mask=tl.max(wrong.to(tl.int32), 0) > 0)
    boundary = mask & (tl.load(count_ptr + h, mask=mask, other=0) == 1)
    tl.store(open_part + tl.load(roots + a, mask=boundary, other=0), 1, mask=boundary)


@triton.jit
def _corner(vertices, faces, f, corner, mask):
    """float64 (x, y, z) of each face's ``corner``."""
    v = tl.load(faces + 3 * f + corner, mask=mask, other=0).to(tl.int64)
    return (tl.load(vertices + 3 * v, mask=mask, other=0).to(tl.float64),
            tl.load(vertices + 3 * v + 1, mask=mask, other=0).to(tl.float64),
            tl.load(vertices + 3 * v + 2, mask=mask, other=0).to(tl.float64))


@triton.jit(do_not_specialize=["n"])
def _volume_kernel(vertices, faces, roots, flips, volume, n, BLOCK: tl.constexpr):
    """volume[root] += p0 . (p1 x p2) of each face once flipped (corners reversed)."""
    f = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = f < n
    flip = tl.load(flips + f, mask=mask, other=0) != 0
    x0, y0, z0 = _corner(vertices, faces, f, tl.where(flip, 2, 0), mask)
    x1, y1, z1 = _corner(vertices, faces, f, 1, mask)
    x2, y2, z2 = _corner(vertices, faces, f, tl.where(flip, 0, 2), mask)
    signed = x0 * (y1 * z2 - z1 * y2) + y0 * (z1 * x2 - x1 * z2) + z0 * (x1 * y2 - y1 * x2)
    add_by_root(volume, tl.load(roots + f, mask=mask, other=0), signed, mask, n)


@triton.jit(do_not_specialize=["n"])
def _write_kernel(faces, roots, flips, volume, open_part, out, n, BLOCK: tl.constexpr):
    """Each face reversed when its flip and its closed component's inward (negative) volume disagree."""
    f = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = f < n
    root = tl.load(roots + f, mask=mask, other=0)
    inward = (tl.load(volume + root, mask=mask, other=0) < 0) & (tl.load(open_part + root, mask=mask, other=0) == 0)
    reverse = (tl.load(flips + f, mask=mask, other=0) != 0) ^ inward
    for corner in tl.static_range(3):
        source = tl.where(reverse, 2 - corner, corner)
        tl.store(out + 3 * f + corner, tl.load(faces + 3 * f + source, mask=mask, other=0).to(tl.int64), mask=mask)


def orient_faces(vertices: Any, faces: Any) -> tuple[Any, Any]:
    """(int64 faces oriented as ``cleanup.unify_orientation`` orients them, 0-d bool tensor: every component was
    orientable) for a checked mesh on one device; where the tensor is False the faces are not the native result."""
    vertices, faces = vertices.contiguous(), faces.contiguous()
    num_faces = len(faces)
    a, b, parity, count = half_edge_links(faces, len(vertices))
    roots, flips = parity_roots(num_faces, a, b, parity)
    bad = torch.zeros(1, dtype=torch.int32, device=faces.device)
    open_part = torch.zeros(num_faces, dtype=torch.int8, device=faces.device)
    volume = torch.zeros(num_faces, dtype=torch.float64, device=faces.device)
    out = torch.empty((num_faces, 3), dtype=torch.int64, device=faces.device)
    if num_faces:
        _check_kernel[(triton.cdiv(3 * num_faces, _BLOCK),)](a, b, parity, count, roots, flips, bad, open_part,
                                                             3 * num_faces, BLOCK=_BLOCK)
        grid = (triton.cdiv(num_faces, _BLOCK),)
        # no FMA contraction: each face's volume rounds after every product and sum, as the torch and numpy code do
        _volume_kernel[grid](vertices, faces, roots, flips, volume, num_faces, BLOCK=_BLOCK, enable_fp_fusion=False)
        _write_kernel[grid](faces, roots, flips, volume, open_part, out, num_faces, BLOCK=_BLOCK)
    return out, bad[0] == 0
