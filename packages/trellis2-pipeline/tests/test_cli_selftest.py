"""`trellis2 selftest` in a real process: every stage passes offline on the CPU and `--keep-model` leaves a folder
that `from_pretrained` loads; a failing stage gives a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from trellis2.cli import main
from trellis2.pipelines import PIPELINE_TYPES, Trellis2ImageTo3DPipeline
from trellis2.testing import missing_requirements

pytestmark = pytest.mark.skipif(bool(missing_requirements(for_running=True)),
                                reason="the self-test needs the full chain (tiny model classes, transformers, ovoxel)")


def test_selftest_passes_every_stage_and_keeps_a_loadable_model(tmp_path):
    folder = tmp_path / "tiny"
    result = subprocess.run([sys.executable, "-m", "trellis2.cli", "selftest", "--device", "cpu", "--keep-model",
                             str(folder)], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})  # must need no network
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok   tiny pipeline written to {folder}" and lines[1] == "ok   pipeline loaded on cpu"
    for stage in (*PIPELINE_TYPES, "glb export", "preview render"):
        assert any(line.startswith(f"ok   {stage}: ") for line in lines), result.stdout
    assert not any(line.startswith("FAIL") for line in lines) and lines[-1] == "self-test passed"
    pipeline = Trellis2ImageTo3DPipeline.from_pretrained(folder)
    assert set(pipeline.models) >= {"sparse_structure_flow_model", "shape_slat_decoder", "tex_slat_decoder"}


def test_selftest_failure_exits_non_zero(monkeypatch):
    def failing(device, keep_model, echo):
        echo("FAIL 512: RuntimeError: broken")
        return False

    monkeypatch.setattr("trellis2.testing.run_selftest", failing)
    result = CliRunner().invoke(main, ["selftest", "--device", "cpu"])
    assert result.exit_code == 1
    assert result.output.splitlines() == ["FAIL 512: RuntimeError: broken",
                                          "Error: self-test failed (see the FAIL lines above)"]
