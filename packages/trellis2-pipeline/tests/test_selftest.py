"""`run_selftest` reports each pipeline type, or exactly what the environment lacks."""

from __future__ import annotations

from trellis2.pipelines import PIPELINE_TYPES
from trellis2.testing import missing_requirements, run_selftest


def test_selftest_reports_every_pipeline_type_or_the_missing_pieces(tmp_path):
    lines: list[str] = []
    passed = run_selftest(keep_model=tmp_path / "model", echo=lines.append)
    missing = missing_requirements(for_running=True)
    if missing:
        assert not passed and lines == [f"FAIL environment: missing {', '.join(missing)}"]
        return
    assert passed, lines
    assert (tmp_path / "model" / "pipeline.json").is_file()
    for name in PIPELINE_TYPES:
        assert any(line.startswith(f"ok   {name}: ") for line in lines), lines
