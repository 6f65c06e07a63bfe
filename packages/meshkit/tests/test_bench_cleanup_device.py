import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cleanup_device.py"


def test_quick_run_on_cpu_tensors_reports_every_pass_equal_to_native(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("ovoxel")
    report = tmp_path / "cleanup.json"
    command = [sys.executable, str(BENCH), "--quick", "--device", "cpu", "--repeats", "1", "--faces", "30000",
               "--json", str(report)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "numpy ms" in out and "torch ms" in out
    rows = json.loads(report.read_text())
    assert rows["device"] == "cpu" and list(rows["passes_by_faces"]) == ["125838", "30000"]
    for faces, passes in rows["passes_by_faces"].items():
        assert list(passes) == ["remove_duplicate_faces", "repair_non_manifold", "remove_small_components",
                                "fill_holes", "unify_orientation", "remove_unreferenced_vertices"]
        for row in passes.values():
            assert row["same"] is True and row["syncs"] is None
            assert row["numpy_ms"] > 0 and row["torch_ms"] > 0
            # the dual grid is closed and clean, and so is its simplification: every pass keeps all faces
            assert row["faces_out"] == int(faces)
