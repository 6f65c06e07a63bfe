"""Smoke run of bench_remesh_device.py at a small resolution on the CPU: the torch path's row equals the native one."""

import pytest
from bench_runs import run_benchmark


def test_small_run_reports_the_torch_path_equal_to_native():
    pytest.importorskip("ovoxel")
    pytest.importorskip("torch")
    out, _ = run_benchmark("bench_remesh_device.py", "--resolution", "48", "--radius", "0.3", "--paths", "native",
                           "torch-cpu", "--repeat", "1", "--stages")
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.splitlines() if line.startswith("| ")}
    native, torch_row = rows["native"], rows["torch-cpu"]
    assert torch_row[2:4] == native[2:4] and int(native[3].replace(",", "")) > 1000  # same vertex and face counts
    assert torch_row[4].strip() == "True"
    assert float(rows["distance queries (within all steps), mean"][0]) > 0
    assert int(rows["points queried per run"][0].replace(",", "")) > 1000
