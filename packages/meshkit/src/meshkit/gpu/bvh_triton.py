"""BVH closest-point queries in Triton: the native tree (built on the CPU) uploaded as flat arrays and walked on the
tensors' device with the native code's float64 arithmetic, nearest-child-first order and lowest-face-id tie rule.

Each lane keeps a small stack in registers (one entry per tree level at most) of pending child slots, packed as
``child << 3 | count`` with the slot's box distance rounded down to float32, which may only keep a slot the native
walk would skip (its triangles are then farther than the best and change nothing). A leaf's triangles are tested
one per step so that lanes stay in step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import triton
import triton.language as tl

_BLOCK = 64
_LEAF_SIZE = 4  # the native tree's largest leaf
_MAX_FACES = 1 << 28  # packed slots hold child << 3 in an int32


@triton.jit
def _closest_on_triangle(px, py, pz, t, mask):
    """Barycentric weights (u, v, w) of the point of triangle `t` (9 float64s) nearest p, and its squared distance:
    the native Voronoi-region walk, with NaN where the native code divides 0 by 0 (degenerate triangles)."""
    ax = tl.load(t, mask=mask, other=0.0)
    ay = tl.load(t + 1, mask=mask, other=0.0)
    az = tl.load(t + 2, mask=mask, other=0.0)
    bx = tl.load(t + 3, mask=mask, other=0.0)
    by = tl.load(t + 4, mask=mask, other=0.0)
    bz = tl.load(t + 5, mask=mask, other=0.0)
    cx = tl.load(t + 6, mask=mask, other=0.0)
    cy = tl.load(t + 7, mask=mask, other=0.0)
    cz = tl.load(t + 8, mask=mask, other=0.0)
    abx, aby, abz = bx - ax, by - ay, bz - az
    acx, acy, acz = cx - ax, cy - ay, cz - az
    apx, apy, apz = px - ax, py - ay, pz - az
    bpx, bpy, bpz = px - bx, py - by, pz - bz
    cpx, cpy, cpz = px - cx, py - cy, pz - cz
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    # Inside the triangle (or, with a zero denominator, its first corner).
    denom = va + vb + vc
    flat = ~(tl.abs(denom) > 0)
    safe = tl.where(flat, 1.0, denom)
    v = tl.where(flat, 0.0, vb / safe)
    w = tl.where(flat, 0.0, vc / safe)
    u = 1.0 - v - w
    # Edge and corner regions, latest first so that the native code's first matching test wins.
    e_bc_num = d4 - d3
    e_bc_den = (d4 - d3) + (d5 - d6)
    t_bc = tl.where(e_bc_den != 0, e_bc_num / tl.where(e_bc_den != 0, e_bc_den, 1.0), float("nan"))
    on = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
    u, v, w = tl.where(on, 0.0, u), tl.where(on, 1.0 - t_bc, v), tl.where(on, t_bc, w)
    t_ac = tl.where(d2 - d6 != 0, d2 / tl.where(d2 - d6 != 0, d2 - d6, 1.0), float("nan"))
    on = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    u, v, w = tl.where(on, 1.0 - t_ac, u), tl.where(on, 0.0, v), tl.where(on, t_ac, w)
    t_ab = tl.where(d1 - d3 != 0, d1 / tl.where(d1 - d3 != 0, d1 - d3, 1.0), float("nan"))
    on = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    u, v, w = tl.where(on, 1.0 - t_ab, u), tl.where(on, t_ab, v), tl.where(on, 0.0, w)
    on = (d6 >= 0) & (d5 <= d6)
    u, v, w = tl.where(on, 0.0, u), tl.where(on, 0.0, v), tl.where(on, 1.0, w)
    on = (d3 >= 0) & (d4 <= d3)
    u, v, w = tl.where(on, 0.0, u), tl.where(on, 1.0, v), tl.where(on, 0.0, w)
    on = (d1 <= 0) & (d2 <= 0)
    u, v, w = tl.where(on, 1.0, u), tl.where(on, 0.0, v), tl.where(on, 0.0, w)
    qx = u * ax + v * bx + w * cx
    qy = u * ay + v * by + w * cy
    qz = u * az + v * bz + w * cz
    dx, dy, dz = px - qx, py - qy, pz - qz
    return u, v, w, qx, qy, qz, dx * dx + dy * dy + dz * dz


@triton.jit
def _box_distance_sq(box, slot, px, py, pz, mask):
    """Squared distance from p to child `slot`'s float box (infinite for the empty slot of a small tree's root)."""
    lox = tl.load(box + 3 * slot, mask=mask, other=0.0).to(tl.float64)
    loy = tl.load(box + 3 * slot + 1, mask=mask, other=0.0).to(tl.float64)
    loz = tl.load(box + 3 * slot + 2, mask=mask, other=0.0).to(tl.float64)
    hix = tl.load(box + 6 + 3 * slot, mask=mask, other=0.0).to(tl.float64)
    hiy = tl.load(box + 7 + 3 * slot, mask=mask, other=0.0).to(tl.float64)
    hiz = tl.load(box + 8 + 3 * slot, mask=mask, other=0.0).to(tl.float64)
    dx = tl.maximum(tl.maximum(lox - px, px - hix), 0.0)
    dy = tl.maximum(tl.maximum(loy - py, py - hiy), 0.0)
    dz = tl.maximum(tl.maximum(loz - pz, pz - hiz), 0.0)
    return dx * dx + dy * dy + dz * dz


@triton.jit
def _round_down_f32(x):
    """The largest float32 not above the float64 `x` (x >= 0)."""
    f = x.to(tl.float32)
    bits = f.to(tl.int32, bitcast=True)
    return tl.where(f.to(tl.float64) > x, (bits - 1).to(tl.float32, bitcast=True), f)


@triton.jit
def _closest_kernel(points_ptr, boxes_ptr, links_ptr, tri_ptr, faces_ptr, n, distance_ptr, face_ptr, bary_ptr,
                    point_ptr, BLOCK: tl.constexpr, DEPTH: tl.constexpr):
    lane = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    valid = lane < n
    px = tl.load(points_ptr + 3 * lane, mask=valid, other=0.0)
    py = tl.load(points_ptr + 3 * lane + 1, mask=valid, other=0.0)
    pz = tl.load(points_ptr + 3 * lane + 2, mask=valid, other=0.0)
    levels = tl.arange(0, DEPTH)[None, :]
    stack_slot = tl.zeros([BLOCK, DEPTH], tl.int32)
    stack_dist = tl.zeros([BLOCK, DEPTH], tl.float32)
    top = tl.zeros([BLOCK], tl.int32)
    child = tl.zeros([BLOCK], tl.int32)  # current slot: inner node (count 0), leaf triangles, or skipped (-1)
    count = tl.zeros([BLOCK], tl.int32)
    active = valid
    best_dsq = tl.full([BLOCK], float("inf"), tl.float64)
    best_face = tl.full([BLOCK], -1, tl.int64)
    best_tri = tl.zeros([BLOCK], tl.int32)
    while tl.max(active.to(tl.int32), 0) > 0:
        # A leaf step tests its next triangle; ties (equal squared distances) go to the lowest face id.
        at_leaf = active & (count > 0)
        face = tl.load(faces_ptr + child, mask=at_leaf, other=0)
        _, _, _, _, _, _, dsq = _closest_on_triangle(px, py, pz, tri_ptr + 9 * child.to(tl.int64), at_leaf)
        better = at_leaf & ((dsq < best_dsq) | ((dsq == best_dsq) & (best_face >= 0) & (face < best_face)))
        best_dsq = tl.where(better, dsq, best_dsq)
        best_face = tl.where(better, face, best_face)
        best_tri = tl.where(better, child, best_tri)
        # An inner step goes on to the nearer child slot and pushes the farther one, each if within the bound.
        at_node = active & (count == 0)
        box = boxes_ptr + 12 * child.to(tl.int64)
        link = links_ptr + 4 * child.to(tl.int64)
        d0 = _box_distance_sq(box, 0, px, py, pz, at_node)
        d1 = _box_distance_sq(box, 1, px, py, pz, at_node)
        near1 = d1 < d0
        c0 = tl.load(link, mask=at_node, other=-1)
        c1 = tl.load(link + 1, mask=at_node, other=-1)
        n0 = tl.load(link + 2, mask=at_node, other=0)
        n1 = tl.load(link + 3, mask=at_node, other=0)
        near_child, near_count = tl.where(near1, c1, c0), tl.where(near1, n1, n0)
        far_child, far_count = tl.where(near1, c0, c1), tl.where(near1, n0, n1)
        near_ok = at_node & (tl.where(near1, d1, d0) <= best_dsq) & ((near_count > 0) | (near_child >= 0))
        far_dsq = tl.where(near1, d0, d1)
        push = at_node & (far_dsq <= best_dsq) & ((far_count > 0) | (far_child >= 0))
        here = push[:, None] & (levels == top[:, None])
        stack_slot = tl.where(here, ((far_child << 3) | far_count)[:, None], stack_slot)
        stack_dist = tl.where(here, _round_down_f32(far_dsq)[:, None], stack_dist)
        top += push.to(tl.int32)
        more = at_leaf & (count > 1)
        child = tl.where(more, child + 1, tl.where(near_ok, near_child, child))
        count = tl.where(more, count - 1, tl.where(near_ok, near_count, count))
        # Otherwise pop; a popped slot farther than the bound is skipped at the next step.
        pop = active & ~more & ~near_ok
        active = active & ~(pop & (top == 0))
        pop = pop & (top > 0)
        taken = levels == (top - 1)[:, None]
        packed = tl.sum(tl.where(taken, stack_slot, 0), 1)
        popped_dsq = tl.sum(tl.where(taken, stack_dist, 0.0), 1).to(tl.float64)
        top -= pop.to(tl.int32)
        child = tl.where(pop, packed >> 3, child)
        count = tl.where(pop, tl.where(popped_dsq <= best_dsq, packed & 7, -1), count)
    # Weights and point of the winning triangle, recomputed exactly as when it won.
    found = valid & (best_face >= 0)
    u, v, w, qx, qy, qz, _ = _closest_on_triangle(px, py, pz, tri_ptr + 9 * best_tri.to(tl.int64), found)
    tl.store(distance_ptr + lane, tl.sqrt(best_dsq), mask=valid)  # float64 sqrt is correctly rounded
    tl.store(face_ptr + lane, best_face, mask=valid)
    tl.store(bary_ptr + 3 * lane, tl.where(found, u, 0.0), mask=valid)
    tl.store(bary_ptr + 3 * lane + 1, tl.where(found, v, 0.0), mask=valid)
    tl.store(bary_ptr + 3 * lane + 2, tl.where(found, w, 0.0), mask=valid)
    tl.store(point_ptr + 3 * lane, tl.where(found, qx, 0.0), mask=valid)
    tl.store(point_ptr + 3 * lane + 1, tl.where(found, qy, 0.0), mask=valid)
    tl.store(point_ptr + 3 * lane + 2, tl.where(found, qz, 0.0), mask=valid)


def _stack_depth(num_faces: int) -> int:
    """Stack entries a walk can need (one per inner level of the median-split tree), as a power of two."""
    levels, size = 0, num_faces
    while size > _LEAF_SIZE:
        size, levels = (size + 1) // 2, levels + 1
    return max(4, triton.next_power_of_2(levels + 1))


def _spread_bits(x: torch.Tensor) -> torch.Tensor:
    x = (x | (x << 16)) & 0x030000FF
    x = (x | (x << 8)) & 0x0300F00F
    x = (x | (x << 4)) & 0x030C30C3
    return (x | (x << 2)) & 0x09249249


def _morton_order(points: torch.Tensor) -> torch.Tensor:
    """Order of points along a 30-bit Morton curve over their bounding box, so neighbouring lanes walk similar
    paths (results do not depend on the order)."""
    lo, hi = points.amin(0), points.amax(0)
    cells = ((points - lo) / torch.where(hi > lo, hi - lo, 1.0) * 1023).long().clamp(0, 1023)
    keys = _spread_bits(cells[:, 0]) | (_spread_bits(cells[:, 1]) << 1) | (_spread_bits(cells[:, 2]) << 2)
    return torch.argsort(keys)


class DeviceBVH:
    """A native ``_geometry.TriangleBVH``'s arrays on a torch device, queried by a Triton kernel."""

    def __init__(self, arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], device: Any) -> None:
        boxes, links, triangles, faces = arrays
        if len(faces) >= _MAX_FACES:
            raise ValueError(f"GPU closest-point queries support fewer than {_MAX_FACES} faces, got {len(faces)}")
        self.boxes = torch.from_numpy(boxes).to(device)
        self.links = torch.from_numpy(links).to(device)
        self.triangles = torch.from_numpy(triangles).to(device)
        self.faces = torch.from_numpy(faces).to(device)
        self.depth = _stack_depth(len(faces))

    def closest_point(self, points: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(distance (N,) float64, face (N,) int64, barycentric (N, 3), closest point (N, 3)) for checked float64
        points (N, 3) on this tree's device; as the native query, including -1/inf/zeros where nothing is found."""
        n = len(points)
        device = self.boxes.device
        distance = torch.empty(n, dtype=torch.float64, device=device)
        face = torch.empty(n, dtype=torch.int64, device=device)
        bary = torch.empty((n, 3), dtype=torch.float64, device=device)
        closest = torch.empty((n, 3), dtype=torch.float64, device=device)
        if n:
            order = _morton_order(points)
            sorted_points = points[order].contiguous()
            _closest_kernel[(triton.cdiv(n, _BLOCK),)](
                sorted_points, self.boxes, self.links, self.triangles, self.faces, n, distance, face, bary, closest,
                BLOCK=_BLOCK, DEPTH=self.depth, num_warps=max(1, _BLOCK // 32), enable_fp_fusion=False)
            inverse = torch.empty_like(order)
            inverse[order] = torch.arange(n, device=device)
            distance, face, bary, closest = distance[inverse], face[inverse], bary[inverse], closest[inverse]
        return distance, face, bary, closest
