import pytest
from bench_runs import run_benchmark


def test_quick_run_on_cpu_tensors_reports_every_pass_equal_to_native(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("ovoxel")
    out, rows = run_benchmark("bench_cleanup_device.py", "--quick", "--device", "cpu", "--repeats", "1", "--faces",
                              "30000", report=tmp_path / "cleanup.json")
    assert "numpy ms" in out and "torch ms" in out
    assert rows["device"] == "cpu" and list(rows["passes_by_faces"]) == ["125838", "30000"]
    for faces, passes in rows["passes_by_faces"].items():
        assert list(passes) == ["remove_duplicate_faces", "repair_non_manifold", "remove_small_components",
                                "fill_holes", "unify_orientation", "remove_unreferenced_vertices"]
        for row in passes.values():
            assert row["same"] is True and row["syncs"] is None
            assert row["numpy_ms"] > 0 and row["torch_ms"] > 0
            # the dual grid is closed and clean, and so is its simplification: every pass keeps all faces
            assert row["faces_out"] == int(faces)
