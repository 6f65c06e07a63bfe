import pytest
from bench_runs import run_benchmark


def test_quick_icosphere_comparison_reports_meshkit_at_the_target(tmp_path):
    pytest.importorskip("trimesh")
    out, report = run_benchmark("bench_meshkit_geometry.py", "--quick", "--inputs", "icosphere", "--no-passes",
                                report=tmp_path / "bench.json")
    assert "simplifier" in out and "chamfer/diag" in out
    row = report["simplify"]["icosphere"]
    assert row["input_faces"] == 81_920 and row["target"] == 20_480
    ours = row["tools"]["meshkit"]
    assert ours["faces"] == 20_480
    assert 0 < ours["chamfer_over_diagonal"] < 1e-4  # measured 2.2e-5
    assert ours["seconds"] > 0 and ours["cpu_seconds"] > 0
    for other in row["tools"].values():  # fast-simplification / pymeshlab where installed
        assert abs(other["faces"] - 20_480) <= 0.005 * 20_480
