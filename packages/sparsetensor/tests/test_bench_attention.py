"""Smoke run of the attention benchmark on CPU: every row times ours and the torch kernels and checks their outputs."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_attention.py"


def test_quick_cpu_run_prints_a_row_per_config_and_no_mismatch():
    done = subprocess.run([sys.executable, str(BENCH), "--device", "cpu", "--quick", "--repeats", "1"],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| D |"))
    assert "sdpa cudnn" in header and "varlen_attn" in header and header.endswith("| best | ours/best |")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines
            if line.startswith("| 64 |")]
    assert [(row[1], row[2], row[3]) for row in rows] == [
        (dtype, tokens, lengths) for dtype in ("float16", "bfloat16")
        for tokens, lengths in (("96", "96"), ("96", "38+28+19+11"), ("256", "256"), ("256", "102+76+51+27"))]
    for row in rows:
        assert row[4].endswith("(math)") and float(row[4].split()[0]) > 0
        assert row[-2] != "-" and float(row[-1]) > 0  # at least one torch kernel ran on CPU
    assert not [line for line in lines if line.startswith("MISMATCH")]


def test_host_overhead_run_prints_both_paths():
    script = BENCH.with_name("bench_attention_host.py")
    done = subprocess.run([sys.executable, str(script), "--calls", "1"], capture_output=True, text=True, timeout=120,
                          check=True)
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in done.stdout.splitlines()
            if line.startswith(("| cudnn", "| varlen"))]
    expected = [(path, n) for path in ("cudnn", "varlen") for n in ("1", "2", "4", "64")]
    assert [(row[0], row[1]) for row in rows] == expected
    assert all(float(row[2]) > 0 for row in rows)
