"""The Triton kernel run by the Triton CPU interpreter against the torch reference (tiny sizes)."""

import os

import pytest
import torch
from helpers import random_sparse

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernel is decorated, i.e. at first import
pytest.importorskip("triton")

from sparsetensor.ops import build_neighbor_map, submanifold_conv3d  # noqa: E402
from sparsetensor.ops.conv import submanifold_conv3d_reference  # noqa: E402
from sparsetensor.ops.conv_triton import submanifold_conv3d_triton, tile_schedule  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(
    ("dtype", "c_in", "c_out", "tol"),
    [(torch.float32, 3, 5, 1e-5), (torch.float32, 70, 20, 1e-5), (torch.float16, 16, 33, 2e-2)],
)
def test_triton_matches_reference(dtype, c_in, c_out, tol):
    x = random_sparse([40, 0, 30], 5, c_in, seed=c_in)
    nmap = build_neighbor_map(x.coords, 3)
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(c_out, 3, 3, 3, c_in, generator=g) * 0.2, torch.randn(c_out, generator=g)
    ref = submanifold_conv3d_reference(x.feats, nmap, w.double(), b.double())
    w, b = w.to(DEVICE, dtype), b.to(DEVICE, dtype)
    got = submanifold_conv3d_triton(x.feats.to(DEVICE, dtype), nmap.to(DEVICE), w, b)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double().cpu(), ref, atol=tol * ref.abs().max().item(), rtol=tol)


def test_backend_env_selects_triton_and_handles_empty(monkeypatch):
    monkeypatch.setenv("SPARSETENSOR_CONV_BACKEND", "triton")
    x = random_sparse([12], 3, 4).float()
    w = torch.randn(6, 3, 3, 3, 4)
    ref = submanifold_conv3d_reference(x.feats, build_neighbor_map(x.coords, 3), w)
    got = submanifold_conv3d(x.feats.to(DEVICE), x.coords.to(DEVICE), w.to(DEVICE))
    torch.testing.assert_close(got.cpu(), ref, atol=1e-5, rtol=1e-5)
    empty = submanifold_conv3d(x.feats[:0].to(DEVICE), x.coords[:0].to(DEVICE), w.to(DEVICE))
    assert empty.shape == (0, 6)
    monkeypatch.setenv("SPARSETENSOR_CONV_BACKEND", "cuda-magic")
    with pytest.raises(ValueError, match="SPARSETENSOR_CONV_BACKEND"):
        submanifold_conv3d(x.feats, x.coords, w)


def test_tile_schedule_groups_patterns_and_lists_each_tiles_offsets():
    nmap = torch.tensor([[0, -1, 2], [1, 0, -1], [2, -1, 0], [-1, -1, 3], [4, 1, -1]])
    schedule = tile_schedule(nmap, rows_per_tile=2)
    order = schedule.order.long()
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
    patterns = [tuple((nmap[row] >= 0).tolist()) for row in order.tolist()]
    runs = [pattern for i, pattern in enumerate(patterns) if i == 0 or pattern != patterns[i - 1]]
    assert len(runs) == len(set(patterns)) == 3  # equal patterns are adjacent
    for tile, offsets in enumerate(schedule.tile_offsets.tolist()):
        rows = order[tile * 2:(tile + 1) * 2]
        assert offsets == (nmap[rows] >= 0).any(0).int().tolist()
    assert schedule.tile_offsets.shape == (3, 3) and schedule.neighbor_map.dtype == torch.int32


def test_schedule_cache_works_for_inference_tensors_and_follows_in_place_changes():
    x = random_sparse([30], 4, 4, seed=2).float()
    w = torch.randn(3, 3, 3, 3, 4)
    with torch.inference_mode():
        nmap = build_neighbor_map(x.coords, 3).to(DEVICE)
        first = submanifold_conv3d_triton(x.feats.to(DEVICE), nmap, w.to(DEVICE))
    nmap = build_neighbor_map(x.coords, 3).to(DEVICE)
    submanifold_conv3d_triton(x.feats.to(DEVICE), nmap, w.to(DEVICE))
    nmap[:, :13] = -1  # an in-place edit must not reuse the stale schedule
    ref = submanifold_conv3d_reference(x.feats, nmap.cpu(), w)
    torch.testing.assert_close(submanifold_conv3d_triton(x.feats.to(DEVICE), nmap, w.to(DEVICE)).cpu(), ref,
                               atol=1e-4, rtol=1e-4)
    assert first.shape == (30, 3)


def test_neighbour_patterns_are_the_same_in_row_chunks():
    from sparsetensor.ops.conv_triton import _neighbour_patterns

    present = torch.rand(1000, 27, generator=torch.Generator().manual_seed(3)) < 0.4
    whole = _neighbour_patterns(present, rows_per_chunk=1 << 20)
    assert torch.equal(_neighbour_patterns(present, rows_per_chunk=7), whole)
    expected = sum(present[:, k].long() << k for k in range(27))
    assert torch.equal(whole, expected)


@pytest.mark.parametrize(("dtype", "c_in", "per_child", "tol"),
                         [(torch.float32, 5, 3, 1e-5), (torch.float32, 24, 64, 1e-5), (torch.float16, 16, 8, 2e-2)])
@pytest.mark.parametrize("only_some_children", [False, True])
def test_conv_to_children_writes_only_the_listed_children(dtype, c_in, per_child, tol, only_some_children):
    from sparsetensor.ops.conv import submanifold_conv3d_to_children
    from sparsetensor.ops.conv_triton import submanifold_conv3d_to_children_triton

    x = random_sparse([150, 0, 60], 6, c_in, seed=c_in + per_child)
    nmap = build_neighbor_map(x.coords, 3)
    g = torch.Generator().manual_seed(2)
    w, b = torch.randn(8 * per_child, 3, 3, 3, c_in, generator=g) * 0.2, torch.randn(8 * per_child, generator=g)
    subdivided = torch.rand(len(x.coords), 8, generator=g) < 0.45  # about half the children, as on a surface
    if only_some_children:  # column blocks of children 1-4, 6, 7 are needed by no tile: their GEMMs are skipped
        subdivided[:, [1, 2, 3, 4, 6, 7]] = False
        subdivided[::3, 5] = False  # and rows differ in what they need
    parent, child = subdivided.nonzero(as_tuple=True)
    full = submanifold_conv3d_reference(x.feats, nmap, w.double(), b.double())
    expected = full.view(len(full), 8, per_child)[parent, child]
    got = submanifold_conv3d_to_children_triton(x.feats.to(DEVICE, dtype), nmap.to(DEVICE), w.to(DEVICE, dtype),
                                                b.to(DEVICE, dtype), parent.to(DEVICE), child.to(DEVICE))
    assert got.shape == (len(parent), per_child) and got.dtype == dtype
    torch.testing.assert_close(got.double().cpu(), expected, atol=tol * expected.abs().max().item(), rtol=tol)
    reference = submanifold_conv3d_to_children(x.feats.double(), x.coords, w.double(), b.double(), parent, child,
                                               neighbor_map=nmap)
    torch.testing.assert_close(reference, expected)


def test_conv_to_children_rejects_bad_layouts():
    from sparsetensor.ops.conv import submanifold_conv3d_to_children

    x = random_sparse([10], 3, 4)
    with pytest.raises(ValueError, match="divisible by 8"):
        submanifold_conv3d_to_children(x.feats, x.coords, torch.randn(12, 3, 3, 3, 4), None, torch.zeros(1).long(),
                                       torch.zeros(1).long())
    with pytest.raises(ValueError, match="equal 1-D"):
        submanifold_conv3d_to_children(x.feats, x.coords, torch.randn(16, 3, 3, 3, 4), None, torch.zeros(2).long(),
                                       torch.zeros(3).long())
