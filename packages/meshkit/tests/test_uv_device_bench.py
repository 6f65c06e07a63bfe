"""Smoke run of bench_uv_device.py (--quick, CPU tensors): the torch layout equals numpy's and the figures add up."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_uv_device.py"


def test_quick_run_reports_equal_layouts_and_utilisation(tmp_path):
    pytest.importorskip("ovoxel")
    pytest.importorskip("torch")
    report = tmp_path / "uv.json"
    command = [sys.executable, str(BENCH), "--quick", "--device", "cpu", "--repeats", "1", "--texture-size", "512",
               "--json", str(report)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "texel utilisation" in out
    row = json.loads(report.read_text())
    assert row["faces"] == 50_000 and row["same_charts"] and row["same_faces"] and row["max_uv_difference"] == 0.0
    assert row["charts"] > 100 and 0.2 < row["uv_area"] < 1 and abs(row["texels_covered"] - row["uv_area"]) < 0.05
    assert row["numpy_seconds"] > 0 and row["torch_seconds"] > 0
