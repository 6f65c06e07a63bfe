"""Triton connected components for ``meshkit.topology_torch`` (ECL-CC style): every node's parent starts at its
smallest smaller neighbour, one pass over the edges hooks roots onto smaller roots by compare-and-swap (a lock-free
union-find whose finds re-point each node they pass at its grandparent, so that walkers running side by side
shorten long chains like pointer jumping), and a last pass finds every node's root. Parents only ever move to
smaller nodes of the same component, so each root is its component's smallest node: the labels equal the FastSV
ones of the torch code, whatever order the atomics land in, in three launches and no host sync.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

_BLOCK = 256


@triton.jit(do_not_specialize=["n"])
def _init_kernel(parent, a_ptr, b_ptr, n, BLOCK: tl.constexpr):
    """parent[max(a, b)] = min over the edges of min(a, b) (parent starts as the identity)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    a = tl.load(a_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    b = tl.load(b_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    tl.atomic_min(parent + tl.maximum(a, b), tl.minimum(a, b), mask=mask & (a != b))


@triton.jit
def _root(parent, x, mask):
    """Root of each node ``x`` (where ``mask``), each node on the way re-pointed at its grandparent."""
    previous = x
    current = tl.load(parent + x, mask=mask, other=0, volatile=True)
    following = tl.load(parent + current, mask=mask, other=0, volatile=True)
    walking = mask & (current > following)
    while tl.max(walking.to(tl.int32), 0) > 0:
        tl.store(parent + previous, following, mask=walking)  # never a root: their parents only ever shrink
        previous = tl.where(walking, current, previous)
        current = tl.where(walking, following, current)
        following = tl.load(parent + current, mask=walking, other=0, volatile=True)
        walking = walking & (current > following)
    return current


@triton.jit(do_not_specialize=["n"])
def _hook_kernel(parent, a_ptr, b_ptr, n, BLOCK: tl.constexpr):
    """Join the trees of each edge's ends: the larger root is swapped to the smaller one; when another edge
    hooked it first, the swap returns its new parent, and the join is retried from there."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    a = tl.load(a_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    b = tl.load(b_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    mask = mask & (a != b)
    low = _root(parent, a, mask)
    high = _root(parent, b, mask)
    joining = mask & (low != high)
    while tl.max(joining.to(tl.int32), 0) > 0:
        low, high = tl.minimum(low, high), tl.maximum(low, high)
        # Idle lanes compare their own node against -1, which no parent holds: they write nothing.
        seen = tl.atomic_cas(parent + tl.where(joining, high, a), tl.where(joining, high, -1), low)
        joining = joining & (seen != high) & (seen != low)  # hooked, or already joined by others
        high = tl.where(joining, seen, high)


@triton.jit(do_not_specialize=["n"])
def _flatten_kernel(parent, roots, n, BLOCK: tl.constexpr):
    """roots[x] = the root of x (int64), after all hooking."""
    x = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = x < n
    tl.store(roots + x, _root(parent, x.to(parent.dtype.element_ty), mask).to(tl.int64), mask=mask)


def component_roots(num_nodes: int, a: Any, b: Any) -> Any:
    """int64 (num_nodes,): the smallest node of each node's component, the edges being (a[i], b[i]) (integer
    tensors on one device, values in [0, num_nodes)); parents are int32 below 2**31 nodes."""
    dtype = torch.int32 if num_nodes < 2**31 else torch.int64
    parent = torch.arange(num_nodes, dtype=dtype, device=a.device)
    roots = torch.empty(num_nodes, dtype=torch.int64, device=a.device)
    a, b, n = a.contiguous(), b.contiguous(), len(a)
    if n:
        grid = (triton.cdiv(n, _BLOCK),)
        _init_kernel[grid](parent, a, b, n, BLOCK=_BLOCK)
        _hook_kernel[grid](parent, a, b, n, BLOCK=_BLOCK)
    if num_nodes:
        _flatten_kernel[(triton.cdiv(num_nodes, _BLOCK),)](parent, roots, num_nodes, BLOCK=_BLOCK)
    return roots
