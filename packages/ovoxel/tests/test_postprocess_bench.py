"""The to_glb benchmark's --quick mode runs and prints a complete stage table for both remesh settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_to_glb.py"


def test_quick_benchmark_prints_stage_table():
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| o")]
    assert [row[0].strip() for row in rows] == ["off", "on"]
    for row in rows:
        assert len(row) == 11 and row[-1].strip() == "2,000"  # the decimation target was reached exactly
        assert float(row[-3]) > 0 and float(row[-2]) > 0  # total seconds, CPU seconds
    assert rows[0][2].strip() == "-" and float(rows[1][2]) > 0  # the remesh stage runs only when asked
