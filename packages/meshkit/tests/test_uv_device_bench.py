"""Smoke run of bench_uv_device.py (--quick, CPU tensors): the torch layout equals numpy's and the figures add up."""

import pytest
from bench_runs import run_benchmark


def test_quick_run_reports_equal_layouts_and_utilisation(tmp_path):
    pytest.importorskip("ovoxel")
    pytest.importorskip("torch")
    out, row = run_benchmark("bench_uv_device.py", "--quick", "--device", "cpu", "--repeats", "1", "--texture-size",
                             "512", report=tmp_path / "uv.json")
    assert "texel utilisation" in out
    assert row["faces"] == 50_000 and row["same_charts"] and row["same_faces"] and row["max_uv_difference"] == 0.0
    assert row["charts"] > 100 and 0.2 < row["uv_area"] < 1 and abs(row["texels_covered"] - row["uv_area"]) < 0.05
    assert row["numpy_seconds"] > 0 and row["torch_seconds"] > 0
