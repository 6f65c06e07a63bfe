"""Triton building blocks for open-addressing hash tables of 64-bit keys (shared by GPU lookups in this and
downstream packages)."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def splitmix64_slot(keys, slot_mask):
    """Start slot of linear probing for int64 `keys` in a power-of-two table (`slot_mask` = size - 1): the
    splitmix64 finaliser, so neighbouring keys scatter over the table."""
    h = keys.to(tl.uint64, bitcast=True)
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9
    h = (h ^ (h >> 27)) * 0x94D049BB133111EB
    h = h ^ (h >> 31)
    return h.to(tl.int64, bitcast=True) & slot_mask
