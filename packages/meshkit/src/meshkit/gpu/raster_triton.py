"""UV rasterization in Triton: the native rasterizer's function (same coverage rule, highest face id wins, same
float64 barycentrics) computed on the tensors' device.

Work is split into (triangle, texel of its bounding box) items so that large and small triangles balance: one pass
marks each covered texel with the highest covering face id (atomic max), a second computes the winner's weights.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

_EPS = 1e-9  # the native rasterizer's slack for bounding boxes and edge tests
_ITEMS_PER_LAUNCH = 1 << 22  # bounds the per-item index tensors (~64 MB)
_BLOCK = 256


@triton.jit
def _weights(corners_ptr, area_ptr, face, i, j, mask):
    """Barycentric weights (wa, wb, wc) of texel centre (i, j) in `face`, as the native code computes them."""
    c = corners_ptr + 6 * face
    ax = tl.load(c, mask=mask, other=0.0)
    ay = tl.load(c + 1, mask=mask, other=0.0)
    bx = tl.load(c + 2, mask=mask, other=0.0)
    by = tl.load(c + 3, mask=mask, other=0.0)
    cx = tl.load(c + 4, mask=mask, other=0.0)
    cy = tl.load(c + 5, mask=mask, other=0.0)
    area = tl.load(area_ptr + face, mask=mask, other=1.0)
    x = j.to(tl.float64)
    y = i.to(tl.float64)
    wa = ((bx - x) * (cy - y) - (by - y) * (cx - x)) / area
    wb = ((cx - x) * (ay - y) - (cy - y) * (ax - x)) / area
    wc = 1.0 - wa - wb
    return wa, wb, wc


@triton.jit
def _cover_kernel(corners_ptr, area_ptr, box_ptr, item_face_ptr, item_local_ptr, face_id_ptr, num_items, width,
                  EPS: tl.constexpr, BLOCK: tl.constexpr):
    """Each (face, bounding-box texel) item whose texel centre the face covers raises that texel's face id."""
    item = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    valid = item < num_items
    face = tl.load(item_face_ptr + item, mask=valid, other=0)
    local = tl.load(item_local_ptr + item, mask=valid, other=0)
    i0 = tl.load(box_ptr + 3 * face, mask=valid, other=0)
    j0 = tl.load(box_ptr + 3 * face + 1, mask=valid, other=0)
    box_width = tl.load(box_ptr + 3 * face + 2, mask=valid, other=1)
    i = i0 + local // box_width
    j = j0 + local % box_width
    wa, wb, wc = _weights(corners_ptr, area_ptr, face, i, j, valid)
    covered = valid & (wa >= -EPS) & (wb >= -EPS) & (wc >= -EPS)
    tl.atomic_max(face_id_ptr + i * width + j, face.to(tl.int32), mask=covered)


@triton.jit
def _barycentric_kernel(corners_ptr, area_ptr, face_id_ptr, bary_ptr, num_texels, width, BLOCK: tl.constexpr):
    """Clamped, renormalised float32 weights of each texel's winning face (zeros where no face covers it)."""
    texel = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    valid = texel < num_texels
    face = tl.load(face_id_ptr + texel, mask=valid, other=-1).to(tl.int64)
    hit = face >= 0
    wa, wb, wc = _weights(corners_ptr, area_ptr, tl.maximum(face, 0), texel // width, texel % width, hit)
    wa = tl.where(wa < 0.0, 0.0, wa)
    wb = tl.where(wb < 0.0, 0.0, wb)
    wc = tl.where(wc < 0.0, 0.0, wc)
    total = wa + wb + wc
    total = tl.where(hit, total, 1.0)
    tl.store(bary_ptr + 3 * texel, (wa / total).to(tl.float32), mask=hit)
    tl.store(bary_ptr + 3 * texel + 1, (wb / total).to(tl.float32), mask=hit)
    tl.store(bary_ptr + 3 * texel + 2, (wc / total).to(tl.float32), mask=hit)


def _bounding_boxes(corners: torch.Tensor, area: torch.Tensor, height: int, width: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per face (i0, j0, box width) int64 (F, 3) and texel count (F,) of the centres its box may cover (0 for
    faces the native code skips: zero or non-finite area)."""
    x, y = corners[:, 0::2], corners[:, 1::2]
    i0 = torch.ceil(y.amin(1) - _EPS).clamp(0, height).long()
    i1 = torch.floor(y.amax(1) + _EPS).clamp(-1, height - 1).long()
    j0 = torch.ceil(x.amin(1) - _EPS).clamp(0, width).long()
    j1 = torch.floor(x.amax(1) + _EPS).clamp(-1, width - 1).long()
    box_width = (j1 - j0 + 1).clamp(min=0)
    count = (i1 - i0 + 1).clamp(min=0) * box_width
    count = torch.where(area.abs() > 1e-18, count, 0)
    return torch.stack([i0, j0, box_width.clamp(min=1)], 1).contiguous(), count


def rasterize_uv_triton(uvs: torch.Tensor, faces: torch.Tensor, height: int, width: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """``meshkit.rasterize_uv`` for checked tensors ``uvs`` (V, 2) float64 and ``faces`` (F, 3) int64 on one
    device: returns face_id (H, W) int32 (-1 = empty) and barycentric (H, W, 3) float32 on that device."""
    device = uvs.device
    scale = torch.tensor([width, height], dtype=torch.float64, device=device)
    texel_uv = uvs.to(torch.float64) * scale - 0.5  # texel units: centre (i, j) sits at (j, i)
    corners = texel_uv[faces.long()].reshape(-1, 6).contiguous()  # ax, ay, bx, by, cx, cy
    ax, ay, bx, by, cx, cy = corners.unbind(1)
    area = ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)).contiguous()
    boxes, count = _bounding_boxes(corners, area, height, width)
    ends = torch.cumsum(count, 0)
    starts = ends - count
    face_id = torch.full((height, width), -1, dtype=torch.int32, device=device)
    total = int(ends[-1]) if len(ends) else 0
    for first in range(0, total, _ITEMS_PER_LAUNCH):
        items = torch.arange(first, min(first + _ITEMS_PER_LAUNCH, total), device=device)
        item_face = torch.searchsorted(ends, items, right=True)
        item_local = items - starts[item_face]
        _cover_kernel[(triton.cdiv(len(items), _BLOCK),)](
            corners, area, boxes, item_face, item_local, face_id, len(items), width, EPS=_EPS, BLOCK=_BLOCK,
            enable_fp_fusion=False)
    bary = torch.zeros((height, width, 3), dtype=torch.float32, device=device)
    _barycentric_kernel[(triton.cdiv(height * width, _BLOCK),)](
        corners, area, face_id, bary, height * width, width, BLOCK=_BLOCK, enable_fp_fusion=False)
    return face_id, bary
