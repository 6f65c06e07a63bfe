"""The Triton neighbour-map hash table (CPU interpreter, or compiled on a GPU) against torch and brute force."""

import gc
import os
import sys
import weakref
from pathlib import Path

import pytest
import torch
from helpers import random_coords

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are decorated, i.e. at first import
pytest.importorskip("triton")

from sparsetensor.ops import build_neighbor_map, kernel_offsets  # noqa: E402
from sparsetensor.ops.conv import neighbor_map_backend  # noqa: E402
from sparsetensor.ops.conv_triton import submanifold_conv3d_triton  # noqa: E402
from sparsetensor.ops.lookup import key_extent  # noqa: E402
from sparsetensor.ops.neighbor_map_triton import build_neighbor_map_triton  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def both_backends(monkeypatch, coords, kernel_size, dilation=1):
    """(torch map, triton map) of the same coords, the triton one computed on DEVICE."""
    monkeypatch.setenv("SPARSETENSOR_NMAP_BACKEND", "torch")
    reference = build_neighbor_map(coords, kernel_size, dilation)
    monkeypatch.setenv("SPARSETENSOR_NMAP_BACKEND", "triton")
    got = build_neighbor_map(coords.to(DEVICE), kernel_size, dilation)
    assert got.device.type == DEVICE.type and got.dtype == reference.dtype == torch.int32
    return reference, got.cpu()


def brute_force(coords, kernel_size, dilation=1):
    """The map from a Python dict of voxels, independent of both implementations."""
    rows = {tuple(c): i for i, c in enumerate(coords.tolist())}
    offsets = kernel_offsets(kernel_size, dilation).tolist()
    return torch.tensor([[rows.get((b, x + dx, y + dy, z + dz), -1) for dx, dy, dz in offsets]
                         for b, x, y, z in coords.tolist()], dtype=torch.int32).reshape(-1, len(offsets))


@pytest.mark.parametrize(
    ("counts", "res", "offset", "kernel_size", "dilation"),
    [
        ([300, 0, 200], 10, 0, 3, 1),  # batch items, one empty; voxels touch the grid border at 0
        ([250, 120], 9, 5, 3, 2),
        ([160], 6, 0, 5, 1),
        ([80, 60], 5, 2, (3, 1, 5), 1),
        ([216], 6, 0, 3, 1),  # the full 6^3 cube: every interior neighbour exists, long probe chains
        ([50, 40], 5, 0, (1, 1, 3), 2),  # three offsets along z, padded to four lanes
        ([120, 90], 12, 1, 3, 6),  # offsets of 6 reach past the neighbouring 4^3 brick
    ],
)
def test_triton_map_equals_torch_and_brute_force(monkeypatch, counts, res, offset, kernel_size, dilation):
    coords = random_coords(counts, res, torch.Generator().manual_seed(sum(counts)), offset)
    reference, got = both_backends(monkeypatch, coords, kernel_size, dilation)
    assert torch.equal(got, reference)
    assert torch.equal(reference, brute_force(coords, kernel_size, dilation))
    assert 0 < (got >= 0).float().mean() < 1


@pytest.mark.parametrize("brick_bits", [0, 1, 2, 3])
@pytest.mark.parametrize("tile", [128, 1024])
def test_every_brick_size_and_tile_on_sorted_and_shuffled_coords(brick_bits, tile):
    shuffled = random_coords([90, 60], 7, torch.Generator().manual_seed(11), offset=3)
    keys = ((shuffled[:, 0] * 16 + shuffled[:, 1]) * 16 + shuffled[:, 2]) * 16 + shuffled[:, 3]
    for coords in (shuffled, shuffled[keys.argsort()]):  # sorted rows share bricks along a tile
        offsets = kernel_offsets(3)
        got = build_neighbor_map_triton(coords.to(DEVICE), offsets, key_extent(coords, 1), 1, tile=tile,
                                        brick_bits=brick_bits)
        assert torch.equal(got.cpu(), brute_force(coords, 3))


def test_benchmark_row_times_old_and_new_and_checks_equal_maps():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from bench_neighbor_map import bench_row
    finally:
        sys.path.pop(0)
    row = bench_row(6, 3, DEVICE, repeats=1, sweep=False)
    assert row[:2] == ["6", "27"] and int(row[2].replace(",", "")) > 50
    assert all(float(cell) > 0 for cell in row[3:7]) and row[7] == "yes"


def test_large_coordinates_and_int64_coords(monkeypatch):
    big = 2**20
    coords = torch.tensor([[0, big, 5, big], [0, big + 1, 5, big], [1, big, 5, big], [3, 0, 0, big + 1]])
    reference, got = both_backends(monkeypatch, coords, 3)
    assert torch.equal(got, reference) and torch.equal(got, brute_force(coords, 3))
    assert got[:, 13].tolist() == [0, 1, 2, 3] and got[0, 22].item() == 1 and (got[2:] >= 0).sum().item() == 2
    reference, got = both_backends(monkeypatch, coords.int(), 3)
    assert torch.equal(got, reference)


def test_empty_input(monkeypatch):
    for kernel_size, k in [(3, 27), (5, 125)]:
        reference, got = both_backends(monkeypatch, torch.zeros(0, 4, dtype=torch.int32), kernel_size)
        assert got.shape == reference.shape == (0, k)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_invalid_coords_raise_the_same_errors(monkeypatch, backend):
    monkeypatch.setenv("SPARSETENSOR_NMAP_BACKEND", backend)
    coords = random_coords([40, 30], 5, torch.Generator().manual_seed(3)).to(DEVICE)
    duplicated = torch.cat([coords, coords[17:18]])
    with pytest.raises(ValueError, match="duplicate voxels"):
        build_neighbor_map(duplicated, 3)
    with pytest.raises(ValueError, match="duplicate voxels"):
        build_neighbor_map(torch.cat([coords[:1], coords[:1]]), 3)
    negative = coords.clone()
    negative[5, 2] = -1
    with pytest.raises(ValueError, match="non-negative"):
        build_neighbor_map(negative, 3)
    huge = torch.tensor([[0, 2**31 - 1, 2**31 - 1, 2**31 - 1]], dtype=torch.int32, device=DEVICE)
    with pytest.raises(ValueError, match="64-bit voxel keys"):
        build_neighbor_map(huge, 3)
    with pytest.raises(ValueError, match=r"coords must be \[N, 4\]"):
        build_neighbor_map(coords[:, 1:], 3)


def test_int32_map_with_cached_conv_schedule_is_freed_without_the_cycle_collector():
    coords = random_coords([30], 4, torch.Generator().manual_seed(4)).to(DEVICE)
    nmap = build_neighbor_map(coords, 3)
    submanifold_conv3d_triton(torch.randn(30, 4, device=DEVICE), nmap, torch.randn(2, 3, 3, 3, 4, device=DEVICE))
    assert hasattr(nmap, "_sparsetensor_tile_schedules")
    alive = weakref.ref(nmap)
    gc.disable()
    try:
        del nmap
        assert alive() is None
    finally:
        gc.enable()


def test_backend_choice(monkeypatch):
    cpu = torch.zeros(1, 4, dtype=torch.int32)
    monkeypatch.delenv("SPARSETENSOR_NMAP_BACKEND", raising=False)
    assert neighbor_map_backend(cpu) == "torch"
    if torch.cuda.is_available():
        assert neighbor_map_backend(cpu.cuda()) == "triton"
    monkeypatch.setenv("SPARSETENSOR_NMAP_BACKEND", "triton")
    assert neighbor_map_backend(cpu) == "triton"
    monkeypatch.setenv("SPARSETENSOR_NMAP_BACKEND", "hash")
    with pytest.raises(ValueError, match="SPARSETENSOR_NMAP_BACKEND='hash'"):
        build_neighbor_map(cpu, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_default_cuda_path_is_triton_and_exact_at_scale(monkeypatch, kernel_size):
    monkeypatch.delenv("SPARSETENSOR_NMAP_BACKEND", raising=False)
    coords = random_coords([150_000, 0, 90_000], 96, torch.Generator().manual_seed(kernel_size), offset=7)
    got = build_neighbor_map(coords.cuda(), kernel_size)
    assert torch.equal(got.cpu(), build_neighbor_map(coords, kernel_size))
