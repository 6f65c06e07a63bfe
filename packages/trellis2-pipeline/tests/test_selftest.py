"""`run_selftest` reports every failing stage and carries on (the passing run is covered by test_cli_selftest)."""

from __future__ import annotations

import torch
from trellis2.pipelines import PIPELINE_TYPES, Trellis2ImageTo3DPipeline
from trellis2.representations import MeshWithVoxel
from trellis2.testing import selftest


class BrokenPipeline:
    """Stands in for the loaded tiny pipeline: '512' raises, every other type yields an empty mesh."""

    def to(self, device):
        return self

    def run(self, image, seed, pipeline_type):
        if pipeline_type == "512":
            raise RuntimeError("boom")
        empty = MeshWithVoxel(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.int32), [-0.5] * 3, 1 / 64,
                              torch.zeros(0, 3, dtype=torch.int32), torch.zeros(0, 6), (1, 6, 64, 64, 64))
        return [empty]


def test_selftest_reports_each_failure_and_returns_false(monkeypatch, tmp_path):
    monkeypatch.setattr(selftest, "missing_requirements", lambda for_running: [])
    monkeypatch.setattr(selftest, "write_tiny_pipeline", lambda folder, seed, steps: folder)
    monkeypatch.setattr(Trellis2ImageTo3DPipeline, "from_pretrained", lambda folder, low_vram: BrokenPipeline())
    lines: list[str] = []
    assert selftest.run_selftest(keep_model=tmp_path, echo=lines.append) is False
    assert lines[:3] == [f"ok   tiny pipeline written to {tmp_path}", "ok   pipeline loaded on cpu",
                         "FAIL 512: RuntimeError: boom"]
    for name in list(PIPELINE_TYPES)[1:]:
        assert any(line.startswith(f"FAIL {name}: 0 faces") and line.endswith("(empty mesh)") for line in lines)
    assert lines[-1] == "FAIL outputs: no pipeline type produced a mesh to export and render"


def test_selftest_names_what_the_environment_lacks(monkeypatch):
    monkeypatch.setattr(selftest, "missing_requirements", lambda for_running: ["transformers"])
    lines: list[str] = []
    assert selftest.run_selftest(echo=lines.append) is False
    assert lines == ["FAIL environment: missing transformers"]
