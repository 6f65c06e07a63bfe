"""Triton implicit-GEMM submanifold convolution: each program computes a [BM, BN] output tile by reading neighbour
rows straight from `feats` through the cached neighbour map, so no [N, K, C] gather is ever materialised.

Rows are processed in an order grouped by their neighbour pattern (which kernel offsets exist), and every tile
carries the list of offsets present in any of its rows, so the GEMM skips offsets that are empty for the whole
tile: on surface-like voxel sets most of the 27 offsets are empty for most voxels.

`submanifold_conv3d_to_children_triton` fuses the conv with the channel-to-spatial step that follows it in the
decoders' up blocks: each output row's channels hold 8 children, and only the children that exist are computed and
written, straight to their own rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

CHILD_BLOCKS = 8  # a voxel's 2x2x2 children, as channel-to-spatial unpacks them


@triton.jit
def _implicit_gemm_kernel(
    feats_ptr, nmap_ptr, weight_ptr, bias_ptr, out_ptr, order_ptr, tile_offsets_ptr,
    child_rows_ptr, tile_active_ptr,
    n_rows, n_offsets, c_in, c_out, per_child,
    HAS_BIAS: tl.constexpr, IEEE: tl.constexpr, TO_CHILDREN: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    tile = tl.program_id(0)
    slots = tile * BM + tl.arange(0, BM)
    row_ok = slots < n_rows
    rows = tl.load(order_ptr + slots, mask=row_ok, other=0).to(tl.int64)
    cols = tl.program_id(1) * BN + tl.arange(0, BN)
    chans = tl.arange(0, BK)
    col_ok = cols < c_out
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    # with TO_CHILDREN, a column block whose children exist in no row of this tile writes nothing: skip its GEMM
    if TO_CHILDREN:
        offsets_to_run = tl.where(tl.load(tile_active_ptr + tile * tl.num_programs(1) + tl.program_id(1)) != 0,
                                  n_offsets, 0)
    else:
        offsets_to_run = n_offsets
    for k in range(offsets_to_run):
        if tl.load(tile_offsets_ptr + tile * n_offsets + k) != 0:
            src = tl.load(nmap_ptr + rows * n_offsets + k, mask=row_ok, other=-1).to(tl.int64)
            src_ok = src >= 0
            for c0 in range(0, c_in, BK):
                ch = c0 + chans
                a = tl.load(feats_ptr + src[:, None] * c_in + ch[None, :],
                            mask=src_ok[:, None] & (ch[None, :] < c_in), other=0.0)
                w = tl.load(weight_ptr + (k * c_in + ch[:, None]).to(tl.int64) * c_out + cols[None, :],
                            mask=(ch[:, None] < c_in) & col_ok[None, :], other=0.0)
                if IEEE:
                    acc += tl.dot(a, w, input_precision="ieee")
                else:
                    acc += tl.dot(a, w)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if TO_CHILDREN:  # column c belongs to child c // per_child, which has its own output row (or none: -1)
        mask = row_ok[:, None] & col_ok[None, :]
        target = tl.load(child_rows_ptr + rows[:, None] * (c_out // per_child) + cols[None, :] // per_child,
                         mask=mask, other=-1).to(tl.int64)
        out_offsets = target * per_child + cols[None, :] % per_child
        tl.store(out_ptr + out_offsets, acc.to(out_ptr.dtype.element_ty), mask=mask & (target >= 0))
    else:
        out_offsets = rows[:, None] * c_out + cols[None, :]
        tl.store(out_ptr + out_offsets, acc.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


@dataclass(frozen=True)
class TileSchedule:
    """Row order grouped by neighbour pattern, which offsets each tile of `rows_per_tile` rows needs, and the
    neighbour map as contiguous int32 (what the kernel reads)."""

    neighbor_map: torch.Tensor  # [N, K] int32
    order: torch.Tensor  # [N] int32, rows in processing order
    tile_offsets: torch.Tensor  # [tiles, K] int8, 1 where some row of the tile has that neighbour
    rows_per_tile: int


def _neighbour_patterns(present: torch.Tensor, rows_per_chunk: int = 1 << 20) -> torch.Tensor:
    """Per row, the int64 whose bit k says whether kernel offset k has a neighbour. Computed in row chunks: the
    vectorised product over all rows at once would hold two [N, K] int64 temporaries (2.9 GB at 6.7M voxels),
    which set the shape decoder's peak memory."""
    weights = torch.ones(present.shape[1], dtype=torch.int64, device=present.device) << torch.arange(
        present.shape[1], device=present.device)
    pattern = torch.empty(present.shape[0], dtype=torch.int64, device=present.device)
    for start in range(0, present.shape[0], rows_per_chunk):
        chunk = present[start:start + rows_per_chunk]
        pattern[start:start + rows_per_chunk] = (chunk.long() * weights).sum(1)
    return pattern


def tile_schedule(neighbor_map: torch.Tensor, rows_per_tile: int) -> TileSchedule:
    """Group rows with equal neighbour patterns (stable sort on the pattern's bits) and list each tile's offsets."""
    n, k = neighbor_map.shape
    present = neighbor_map >= 0
    if 0 < k <= 62:
        order = torch.sort(_neighbour_patterns(present), stable=True).indices
    else:  # patterns do not fit a 64-bit key: keep the given order (tiles still skip offsets absent in all rows)
        order = torch.arange(n, device=neighbor_map.device)
    # detach(): an int32 map comes back as itself, which would make a reference cycle with the cache on the map
    return TileSchedule(neighbor_map.to(torch.int32).contiguous().detach(), order.to(torch.int32).contiguous(),
                        _tile_offsets(present, order, rows_per_tile), rows_per_tile)


def _tile_offsets(present: torch.Tensor, order: torch.Tensor, rows_per_tile: int) -> torch.Tensor:
    """[tiles, K] int8: 1 where some row of the tile (rows taken in `order`) has a neighbour at offset k."""
    n, k = present.shape
    tiles = triton.cdiv(n, rows_per_tile)
    padded = torch.zeros(tiles * rows_per_tile, k, dtype=torch.bool, device=present.device)
    padded[:n] = present[order]
    return padded.view(tiles, rows_per_tile, k).any(1).to(torch.int8).contiguous()


def cached_tile_schedule(neighbor_map: torch.Tensor, rows_per_tile: int) -> TileSchedule:
    """`tile_schedule`, kept on the neighbour-map tensor itself so a cached map is analysed only once."""
    # Inference tensors keep no version counter (and cannot be changed in place outside inference mode).
    key = (None if neighbor_map.is_inference() else neighbor_map._version, rows_per_tile)
    cache = getattr(neighbor_map, "_sparsetensor_tile_schedules", None)
    if cache is None:
        cache = {}
        neighbor_map._sparsetensor_tile_schedules = cache
    if key not in cache:
        cache[key] = tile_schedule(neighbor_map, rows_per_tile)
    return cache[key]


def _tile(size: int, largest: int) -> int:
    """Power-of-two tile in [16, largest] covering `size` where possible (tl.dot needs >= 16)."""
    return max(16, min(largest, triton.next_power_of_2(size)))


def launch_config(n: int, c_in: int, c_out: int) -> dict[str, int]:
    """Tile sizes and warps picked from the problem shape (no autotuning, so a cold process runs at full speed).

    Derived from `benchmarks/tune_sparse_conv.py` on an H200 (fp16, sphere-shell rows C=64..1024): 128-row tiles,
    output tiles as wide as the channels up to 256, 32-channel K steps (64 at C >= 1024), deeper pipelining for wide
    inputs; for every benchmark row this picks the sweep's fastest configuration.
    """
    block_n = _tile(c_out, 256)
    return {"BM": 128, "BN": block_n, "BK": _tile(c_in, 64 if c_in >= 1024 else 32),
            "num_warps": 8 if block_n >= 128 else 4, "num_stages": 4 if c_in >= 512 else 3}


def submanifold_conv3d_triton(
    feats: torch.Tensor,
    neighbor_map: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    config: dict[str, int] | None = None,
) -> torch.Tensor:
    """Same function as `submanifold_conv3d_reference` (forward only), fp32 accumulation, output in feats' dtype."""
    n, c_in = feats.shape
    c_out = weight.shape[0]
    weight_kcc = weight.reshape(c_out, -1, c_in).permute(1, 2, 0).contiguous().to(feats.dtype)
    out = torch.empty(n, c_out, dtype=feats.dtype, device=feats.device)
    if n == 0:
        return out
    config = dict(config or launch_config(n, c_in, c_out))
    schedule = cached_tile_schedule(neighbor_map, config["BM"])
    grid = (schedule.tile_offsets.shape[0], triton.cdiv(c_out, config["BN"]))
    _implicit_gemm_kernel[grid](
        feats.contiguous(), schedule.neighbor_map, weight_kcc, bias if bias is not None else out, out,
        schedule.order, schedule.tile_offsets, out, out,
        n, schedule.neighbor_map.shape[1], c_in, c_out, 1,
        HAS_BIAS=bias is not None, IEEE=feats.dtype == torch.float32, TO_CHILDREN=False, **config,
    )
    return out


def submanifold_conv3d_to_children_triton(
    feats: torch.Tensor,
    neighbor_map: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    parent: torch.Tensor,
    child: torch.Tensor,
) -> torch.Tensor:
    """The conv's output channels split into `children` equal blocks, block `child[i]` of row `parent[i]` becoming
    output row i: only those blocks are written, and a column block that no row of a tile needs is not computed.

    Rows are ordered by (children present, neighbour pattern), so tiles are mostly uniform in the children they
    need; output tiles no wider than one child's channels make the skipping exact per child.
    """
    n, c_in = feats.shape
    c_out = weight.shape[0]
    children = CHILD_BLOCKS
    per_child = c_out // children
    out = torch.empty(len(parent), per_child, dtype=feats.dtype, device=feats.device)
    if n == 0 or len(parent) == 0:
        return out
    weight_kcc = weight.reshape(c_out, -1, c_in).permute(1, 2, 0).contiguous().to(feats.dtype)
    config = launch_config(n, c_in, c_out)
    if per_child >= 64:
        config["BN"] = min(config["BN"], per_child)
    child_rows = torch.full((n, children), -1, dtype=torch.int32, device=feats.device)
    child_rows[parent, child] = torch.arange(len(parent), dtype=torch.int32, device=feats.device)
    schedule = _children_schedule(neighbor_map, child_rows, config["BM"])
    col_blocks = triton.cdiv(c_out, config["BN"])
    tile_active = _active_column_blocks(schedule, child_rows, per_child, config["BN"], col_blocks)
    _implicit_gemm_kernel[(schedule.tile_offsets.shape[0], col_blocks)](
        feats.contiguous(), schedule.neighbor_map, weight_kcc, bias if bias is not None else out, out,
        schedule.order, schedule.tile_offsets, child_rows, tile_active,
        n, schedule.neighbor_map.shape[1], c_in, c_out, per_child,
        HAS_BIAS=bias is not None, IEEE=feats.dtype == torch.float32, TO_CHILDREN=True, **config,
    )
    return out


def _children_schedule(neighbor_map: torch.Tensor, child_rows: torch.Tensor, rows_per_tile: int) -> TileSchedule:
    """A tile schedule whose row order groups rows first by which children they need, then by neighbour pattern."""
    present = neighbor_map >= 0
    k = present.shape[1]
    needed = ((child_rows >= 0).long() << torch.arange(child_rows.shape[1], device=child_rows.device)).sum(1)
    key = needed if k > 55 else (needed << k) | _neighbour_patterns(present)
    order = torch.sort(key, stable=True).indices
    return TileSchedule(neighbor_map.to(torch.int32).contiguous().detach(), order.to(torch.int32).contiguous(),
                        _tile_offsets(present, order, rows_per_tile), rows_per_tile)


def _active_column_blocks(schedule: TileSchedule, child_rows: torch.Tensor, per_child: int, block_n: int,
                          col_blocks: int) -> torch.Tensor:
    """[tiles, col_blocks] int8: 1 where some row of the tile needs a child whose channels the column block covers."""
    tiles, rows_per_tile = schedule.tile_offsets.shape[0], schedule.rows_per_tile
    needed = torch.zeros(tiles * rows_per_tile, child_rows.shape[1], dtype=torch.bool, device=child_rows.device)
    needed[:len(schedule.order)] = child_rows[schedule.order.long()] >= 0
    per_tile = needed.view(tiles, rows_per_tile, -1).any(1)  # [tiles, children]
    first = torch.arange(col_blocks, device=child_rows.device) * block_n // per_child
    last = ((torch.arange(col_blocks, device=child_rows.device) + 1) * block_n - 1) // per_child
    covered = torch.arange(child_rows.shape[1], device=child_rows.device)
    covers = (covered[None, :] >= first[:, None]) & (covered[None, :] <= last[:, None])  # [col_blocks, children]
    return (per_tile.float() @ covers.float().T > 0).to(torch.int8).contiguous()
