"""Half-edges grouped by undirected edge with an open-addressing hash instead of a sort, for the device cleanup
passes that only need each edge's half-edge count and, for two-face edges, the other half-edge.

Every half-edge inserts its edge key (compare-and-swap on the key word) and adds ``2**32 + half-edge`` to the
slot's second word: the high half counts the half-edges, the low half sums them, so an edge of two gives each one
the other as ``sum - itself``. Which slot a key lands in depends on the order of the atomics, what a slot holds does
not: the links are the same on every run. Half-edges are numbered ``3 * face + corner`` below 2**30.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

_BLOCK = 256
_HASH = tl.constexpr(-0x61C8864680B583EB)  # 2**64 / golden ratio (odd), as int64: Fibonacci hashing
_COUNT = tl.constexpr(2**32)  # one half-edge in the slot's count-and-sum word
MAX_HALF_EDGES = 2**30  # sums of two half-edges stay below the count bits; counts times 2**32 below 2**63


@triton.jit
def _half_edge_keys(faces, h, mask, num_vertices):
    """Undirected key ``min * V + max + 1`` (0 marks a free slot) and start vertex of each half-edge ``h``."""
    start = tl.load(faces + h, mask=mask, other=0).to(tl.int64)
    end = tl.load(faces + tl.where(h % 3 == 2, h - 2, h + 1), mask=mask, other=0).to(tl.int64)
    return tl.minimum(start, end) * num_vertices + tl.maximum(start, end) + 1, start


@triton.jit(do_not_specialize=["n", "num_vertices", "shift", "slot_mask"])
def _insert_kernel(faces, table, slots, n, num_vertices, shift, slot_mask, BLOCK: tl.constexpr):
    """Find or claim each half-edge's key slot (linear probing), count and sum the half-edge there."""
    h = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = h < n
    key, _ = _half_edge_keys(faces, h, mask, num_vertices)
    slot = ((key * _HASH) >> shift) & slot_mask
    pending = mask
    while tl.max(pending.to(tl.int32), 0) > 0:
        # Finished lanes compare against -1, which no key word holds: they write nothing.
        seen = tl.atomic_cas(table + 2 * slot, tl.where(pending, 0, -1).to(tl.int64), key, sem="relaxed")
        pending = pending & (seen != 0) & (seen != key)
        slot = tl.where(pending, (slot + 1) & slot_mask, slot)
    tl.atomic_add(table + 2 * slot + 1, h.to(tl.int64) + _COUNT, mask=mask, sem="relaxed")
    tl.store(slots + h, slot.to(tl.int32), mask=mask)


@triton.jit(do_not_specialize=["n", "num_vertices"])
def _link_kernel(faces, table, slots, a_out, b_out, parity_out, count_out, n, num_vertices, BLOCK: tl.constexpr):
    """Per half-edge: its face, the face across a two-face edge from the edge's first half-edge (else its own),
    whether those two half-edges start at one vertex (the faces disagree in orientation), and the half-edges on its
    edge (3 meaning 3 or more)."""
    h = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = h < n
    total = tl.load(table + 2 * tl.load(slots + h, mask=mask, other=0).to(tl.int64) + 1, mask=mask, other=0)
    count = total >> 32
    other = total - 2 * _COUNT - h
    paired = mask & (count == 2) & (h < other)  # each link once, from the edge's first half-edge
    other = tl.where(paired, other, h)
    _, start = _half_edge_keys(faces, h, mask, num_vertices)
    other_start = tl.load(faces + other, mask=paired, other=0).to(tl.int64)
    tl.store(a_out + h, h // 3, mask=mask)
    tl.store(b_out + h, (other // 3).to(tl.int32), mask=mask)
    tl.store(parity_out + h, (paired & (start == other_start)).to(tl.int8), mask=mask)
    tl.store(count_out + h, tl.minimum(count, 3).to(tl.int8), mask=mask)


def half_edge_links(faces: Any, num_vertices: int) -> tuple[Any, Any, Any, Any]:
    """(a, b, parity, count) per half-edge of the (F, 3) integer ``faces`` (3F below ``MAX_HALF_EDGES``): int32
    face ``a`` and the int32 face ``b`` across its edge when exactly two half-edges share it and this is the lower
    numbered one (else ``a``: each link is listed once), int8 parity 1 where those two start at the same vertex, and
    int8 half-edges on the edge (1, 2, or 3 for more)."""
    n = 3 * len(faces)
    if n >= MAX_HALF_EDGES:
        raise ValueError(f"the hashed edge table takes fewer than {MAX_HALF_EDGES // 3} faces, got {len(faces)}")
    faces = faces.contiguous()
    bits = max(4, (4 * n // 3).bit_length())  # load factor at most 3/4 when every half-edge is its own edge
    table = torch.zeros(2 << bits, dtype=torch.int64, device=faces.device)
    slots = torch.empty(n, dtype=torch.int32, device=faces.device)
    a, b = (torch.empty(n, dtype=torch.int32, device=faces.device) for _ in range(2))
    parity, count = (torch.empty(n, dtype=torch.int8, device=faces.device) for _ in range(2))
    if n:
        grid = (triton.cdiv(n, _BLOCK),)
        _insert_kernel[grid](faces, table, slots, n, num_vertices, 64 - bits, (1 << bits) - 1, BLOCK=_BLOCK)
        _link_kernel[grid](faces, table, slots, a, b, parity, count, n, num_vertices, BLOCK=_BLOCK)
    return a, b, parity, count
