"""The flow benchmark script runs end to end in its tiny CPU mode and prints one row per configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_flows.py"
SPEC_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "spec" / "checkpoints"


def test_quick_cpu_benchmark_prints_timings():
    if not SPEC_DIR.is_dir():
        pytest.skip(f"shared checkpoint specs not found at {SPEC_DIR} (../shared beside the repository)")
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--repeats", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    rows = result.stdout.strip().splitlines()
    assert [row.split(" ms")[0].rsplit(maxsplit=1)[0] for row in rows] == [
        "ss flow 4096 tokens (37 cond)",
        "SLat flow 256 tokens (37 cond)",
        "SLat flow 1024 tokens (37 cond)",
    ]
    assert all(float(row.split(" ms")[0].split()[-1]) > 0 for row in rows)
