"""CudaGraphModel: graph replay gives the eager results step after step (dense and sparse inputs); everything it
cannot capture runs eagerly."""

from __future__ import annotations

import pytest
import torch
from sparsetensor import SparseTensor
from trellis2_models.cuda_graph import CudaGraphModel
from trellis2_models.loading import build_model

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")


class Counting(torch.nn.Module):
    """A small dense model that counts how often its Python forward runs (graph replays do not run it)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 8)
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.nn.functional.gelu(self.layer(x)) * t[:, None] + cond.mean(1)


def test_cpu_calls_run_the_model_directly():
    model = Counting()
    runner = CudaGraphModel(model)
    x, t, cond = torch.randn(2, 8), torch.ones(2), torch.randn(2, 3, 8)
    with torch.no_grad():
        for _ in range(3):
            torch.testing.assert_close(runner(x, t, cond), model(x, t, cond))
        runner(x, t, cond=cond)
    assert model.calls == 7


@cuda
def test_replayed_steps_match_eager_steps(monkeypatch):
    torch.manual_seed(0)
    model = Counting().cuda()
    runner = CudaGraphModel(model)
    cond = torch.randn(2, 3, 8, device="cuda")
    x = torch.randn(2, 8, device="cuda")
    with torch.no_grad():
        for step in range(5):
            t = torch.full((2,), 1.0 - step / 5, device="cuda")
            got = runner(x, t, cond)
            expected = model(x, t, cond)
            torch.testing.assert_close(got, expected)
            x = x - 0.1 * got
        assert model.calls == 5 + 2  # eager warm-up + capture; the other three steps were replays
        monkeypatch.setenv("TRELLIS2_CUDA_GRAPHS", "0")
        runner(x, t, cond)
        assert model.calls == 5 + 2 + 1


@cuda
def test_sparse_flow_steps_replay_like_eager_ones():
    args = {"resolution": 8, "in_channels": 4, "out_channels": 4, "model_channels": 64, "cond_channels": 8,
            "num_blocks": 2, "num_heads": 2, "share_mod": True, "qk_rms_norm": True, "qk_rms_norm_cross": True,
            "dtype": "bfloat16"}
    torch.manual_seed(0)
    model = build_model({"name": "SLatFlowModel", "args": args}, "cuda").eval()
    runner = CudaGraphModel(model)
    cells = torch.randperm(512, device="cuda")[:40]
    coords = torch.stack([torch.zeros_like(cells), cells // 64, cells // 8 % 8, cells % 8], 1).int()
    x = SparseTensor(torch.randn(40, 4, device="cuda"), coords)
    cond, neg = torch.randn(1, 5, 8, device="cuda"), torch.zeros(1, 5, 8, device="cuda")
    with torch.no_grad():
        for step in range(4):
            t = torch.full((1,), 1000.0 - 200 * step, device="cuda")
            for c in (cond, neg):  # a guided step: two calls, same voxels, different conditions
                got = runner(x, t, c)
                torch.testing.assert_close(got.feats, model(x, t, c).feats)
                assert got.coords is x.coords
            x = x.replace(x.feats - 0.1 * got.feats)
        other = SparseTensor(torch.randn(40, 4, device="cuda"), coords.clone())  # new voxels: new graph
        torch.testing.assert_close(runner(other, t, cond).feats, model(other, t, cond).feats)
    assert len(runner._graphs) == 1


@cuda
def test_a_model_that_cannot_be_captured_stays_eager():
    class Syncing(Counting):
        def forward(self, x, t, cond):
            scale = float(t.sum().item())  # a host sync: illegal inside a capture
            return super().forward(x, t, cond) * scale

    model = Syncing().cuda()
    runner = CudaGraphModel(model)
    args = (torch.randn(2, 8, device="cuda"), torch.ones(2, device="cuda"), torch.randn(2, 3, 8, device="cuda"))
    with torch.no_grad():
        results = [runner(*args) for _ in range(4)]
    for result in results:
        torch.testing.assert_close(result, results[0])
