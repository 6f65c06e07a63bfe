"""Sparse voxel octree byte stream: one child-occupancy byte per internal node, depth-first pre-order."""

from __future__ import annotations

import numpy as np


def encode_svo(codes: np.ndarray, depth: int) -> np.ndarray:
    """Encode strictly ascending Morton codes (3*depth bits each) as pre-order child masks (uint8)."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size == 0:
        return np.zeros(0, dtype=np.uint8)
    first_leaf_keys, levels, masks = [], [], []
    for level in range(depth):
        node_shift = 3 * (depth - level)
        prefixes = codes >> node_shift
        octants = (codes >> (node_shift - 3)) & 7
        unique_prefixes, group = np.unique(prefixes, return_inverse=True)
        node_masks = np.zeros(unique_prefixes.size, dtype=np.uint8)
        np.bitwise_or.at(node_masks, group, (1 << octants).astype(np.uint8))
        first_leaf_keys.append(unique_prefixes << node_shift)
        levels.append(np.full(unique_prefixes.size, level))
        masks.append(node_masks)
    # Pre-order: a node comes before everything under it and after every earlier subtree.
    order = np.lexsort((np.concatenate(levels), np.concatenate(first_leaf_keys)))
    return np.concatenate(masks)[order]


def decode_svo(stream: np.ndarray, depth: int) -> np.ndarray:
    """Decode a pre-order child-mask stream back to ascending int64 Morton codes; ValueError when malformed."""
    data = np.asarray(stream, dtype=np.uint8).tolist()
    if depth < 1:
        raise ValueError("octree depth must be at least 1")
    if not data:
        return np.zeros(0, dtype=np.int64)
    child_bits = [[bit for bit in range(8) if mask >> bit & 1] for mask in range(256)]
    leaves: list[int] = []
    stack = [(0, 0)]
    position = 0
    while stack:
        prefix, level = stack.pop()
        if position >= len(data):
            raise ValueError("octree stream is truncated")
        bits = child_bits[data[position]]
        position += 1
        if not bits:
            raise ValueError("octree stream has an empty node")
        base = prefix << 3
        if level == depth - 1:
            leaves.extend(base | bit for bit in bits)
        else:
            stack.extend((base | bit, level + 1) for bit in reversed(bits))
    if position != len(data):
        raise ValueError("octree stream has trailing bytes")
    return np.asarray(leaves, dtype=np.int64)
