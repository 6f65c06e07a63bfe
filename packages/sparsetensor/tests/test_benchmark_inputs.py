import subprocess
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sparse_conv.py"


def test_sphere_shell_matches_issue_voxel_count():
    sys.path.insert(0, str(BENCH.parent))
    try:
        from bench_sparse_conv import sphere_shell
    finally:
        sys.path.remove(str(BENCH.parent))
    coords = sphere_shell(64, torch.device("cpu"))
    assert coords.shape == (26_552, 4)
    assert torch.unique(coords, dim=0).shape[0] == coords.shape[0]


def test_quick_cpu_run_prints_table():
    done = subprocess.run([sys.executable, str(BENCH), "--device", "cpu", "--quick", "--repeats", "1"],
                          capture_output=True, text=True, timeout=120, check=True)
    rows = [line for line in done.stdout.splitlines() if line.startswith("|") and "| 1,600 |" in line]
    assert len(rows) == 1
