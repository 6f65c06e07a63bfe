"""Triton connected components for ``meshkit.topology_torch`` (ECL-CC style): every node's parent starts at its
smallest smaller neighbour, one pass over the edges hooks roots onto smaller roots by compare-and-swap (a lock-free
union-find whose finds re-point each node they pass at its grandparent, so that walkers running side by side
shorten long chains like pointer jumping), and a last pass finds every node's root. Parents only ever move to
smaller nodes of the same component, so each root is its component's smallest node: the labels equal the FastSV
ones of the torch code, whatever order the atomics land in, in three launches and no host sync.

With parities, each edge also says whether its ends differ in a two-valued state (a face flipped or not), and each
parent word packs ``2 * parent + parity to the parent``: every word ever written is a true relation when the edges
agree, so each node ends with its parity to the root; ``parity_roots`` leaves checking that the edges agree to the
caller. Sums per component add each block's values of its smallest root before one atomic, not one atomic per
value: a large component otherwise serialises millions of atomics on one address.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

_BLOCK = 256


@triton.jit(do_not_specialize=["n"])
def _init_kernel(parent, a_ptr, b_ptr, parity_ptr, n, PARITY: tl.constexpr, BLOCK: tl.constexpr):
    """parent[max(a, b)] = min over the edges of min(a, b) (parent starts as the identity), with the edge's parity."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    a = tl.load(a_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    b = tl.load(b_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    word = tl.minimum(a, b) << PARITY
    if PARITY:
        word = word | tl.load(parity_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    tl.atomic_min(parent + tl.maximum(a, b), word, mask=mask & (a != b), sem="relaxed")


@triton.jit
def _root(parent, x, mask, PARITY: tl.constexpr):
    """(root, parity to the root) of each node ``x`` (where ``mask``), each node on the way re-pointed at its
    grandparent with the parity of the two steps."""
    previous = x
    word = tl.load(parent + x, mask=mask, other=0, volatile=True)
    current = word >> PARITY
    step = word & PARITY  # parity from previous to current
    total = step  # parity from x to current
    word = tl.load(parent + current, mask=mask, other=0, volatile=True)
    following = word >> PARITY
    walking = mask & (current > following)
    while tl.max(walking.to(tl.int32), 0) > 0:
        after = word & PARITY  # parity from current to following
        # never a root: their parents only ever shrink
        tl.store(parent + previous, (following << PARITY) | (step ^ after), mask=walking)
        total = tl.where(walking, total ^ after, total)
        step = tl.where(walking, after, step)
        previous = tl.where(walking, current, previous)
        current = tl.where(walking, following, current)
        word = tl.load(parent + current, mask=walking, other=0, volatile=True)
        following = word >> PARITY
        walking = walking & (current > following)
    return current, total


@triton.jit(do_not_specialize=["n"])
def _hook_kernel(parent, a_ptr, b_ptr, parity_ptr, n, PARITY: tl.constexpr, BLOCK: tl.constexpr):
    """Join the trees of each edge's ends: the larger root is swapped to the smaller one; when another edge
    hooked it first, the swap returns its new parent, and the join is retried from there."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    a = tl.load(a_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    b = tl.load(b_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    mask = mask & (a != b)
    low, low_parity = _root(parent, a, mask, PARITY)
    high, high_parity = _root(parent, b, mask, PARITY)
    link = low_parity ^ high_parity  # parity between the two roots
    if PARITY:
        link = link ^ tl.load(parity_ptr + i, mask=mask, other=0).to(parent.dtype.element_ty)
    joining = mask & (low != high)
    while tl.max(joining.to(tl.int32), 0) > 0:
        low, high = tl.minimum(low, high), tl.maximum(low, high)
        root_word = high << PARITY
        # Idle lanes compare their own node against -1, which no parent holds: they write nothing.
        seen = tl.atomic_cas(parent + tl.where(joining, high, a), tl.where(joining, root_word, -1),
                             (low << PARITY) | link)
        seen_parent = seen >> PARITY
        joining = joining & (seen != root_word) & (seen_parent != low)  # hooked, or already joined by others
        link = tl.where(joining, link ^ (seen & PARITY), link)
        high = tl.where(joining, seen_parent, high)


@triton.jit(do_not_specialize=["n"])
def _flatten_kernel(parent, roots, parities, n, PARITY: tl.constexpr, BLOCK: tl.constexpr):
    """roots[x] = the root of x (int64) and, with parities, parities[x] = x's parity to it (int8)."""
    x = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = x < n
    root, parity = _root(parent, x.to(parent.dtype.element_ty), mask, PARITY)
    tl.store(roots + x, root.to(tl.int64), mask=mask)
    if PARITY:
        tl.store(parities + x, parity.to(tl.int8), mask=mask)


@triton.jit
def add_by_root(sums, root, value, mask, n):
    """sums[root] += value where ``mask`` (roots below ``n``), the lanes of the block's smallest root added first
    and sent in one atomic."""
    smallest = tl.min(tl.where(mask, root, n), 0)
    shared = mask & (root == smallest)
    tl.atomic_add(sums + smallest, tl.sum(tl.where(shared, value, 0), 0), mask=smallest < n, sem="relaxed")
    tl.atomic_add(sums + root, value, mask=mask & ~shared, sem="relaxed")


@triton.jit(do_not_specialize=["n"])
def _sum_kernel(roots, values, sums, n, BLOCK: tl.constexpr):
    """sums[roots[i]] += values[i]."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    add_by_root(sums, tl.load(roots + i, mask=mask, other=0), tl.load(values + i, mask=mask, other=0), mask, n)


def _union_find(num_nodes: int, a: Any, b: Any, parity: Any | None) -> tuple[Any, Any]:
    """(roots, parities or None) of the three-launch union-find; parent words are int32 while they fit."""
    shift = 0 if parity is None else 1
    dtype = torch.int32 if num_nodes << shift < 2**31 else torch.int64
    parent = torch.arange(num_nodes, dtype=dtype, device=a.device) << shift
    roots = torch.empty(num_nodes, dtype=torch.int64, device=a.device)
    parities = None if parity is None else torch.empty(num_nodes, dtype=torch.int8, device=a.device)
    a, b, n = a.contiguous(), b.contiguous(), len(a)
    parity = a if parity is None else parity.contiguous()  # an unread stand-in without parities
    if n:
        grid = (triton.cdiv(n, _BLOCK),)
        _init_kernel[grid](parent, a, b, parity, n, PARITY=shift, BLOCK=_BLOCK)
        _hook_kernel[grid](parent, a, b, parity, n, PARITY=shift, BLOCK=_BLOCK)
    if num_nodes:
        grid = (triton.cdiv(num_nodes, _BLOCK),)
        _flatten_kernel[grid](parent, roots, roots if parities is None else parities, num_nodes, PARITY=shift,
                              BLOCK=_BLOCK)
    return roots, parities


def component_roots(num_nodes: int, a: Any, b: Any) -> Any:
    """int64 (num_nodes,): the smallest node of each node's component, the edges being (a[i], b[i]) (integer
    tensors on one device, values in [0, num_nodes)); parents are int32 below 2**31 nodes."""
    return _union_find(num_nodes, a, b, None)[0]


def parity_roots(num_nodes: int, a: Any, b: Any, parity: Any) -> tuple[Any, Any]:
    """(roots as ``component_roots``, int8 parity of each node to its root), ``parity[i]`` (0 or 1) being the
    parity between a[i] and b[i]. Where the parities of a cycle do not add up to an even number, some edge
    disagrees with the returned parities; checking them is the caller's job."""
    return _union_find(num_nodes, a, b, parity)


def component_sums(roots: Any, values: Any) -> Any:
    """Per-node tensor holding, at each root, the sum of the int64 or float64 ``values`` over its component (in an
    order that depends on the atomics for floats)."""
    sums = torch.zeros(len(roots), dtype=values.dtype, device=roots.device)
    if len(roots):
        _sum_kernel[(triton.cdiv(len(roots), _BLOCK),)](roots.contiguous(), values.contiguous(), sums, len(roots),
                                                         BLOCK=_BLOCK)
    return sums
