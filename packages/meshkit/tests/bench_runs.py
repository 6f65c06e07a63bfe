"""Running one of meshkit's benchmark scripts the way a user does (a subprocess), for the smoke tests of each."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(script: str, *args: str, report: Path | None = None) -> tuple[str, Any]:
    """(stdout, the JSON it wrote to ``report`` or None) of ``benchmarks/<script> args [--json report]``; a failing
    run raises with its output."""
    command = [sys.executable, str(BENCHMARKS / script), *args, *(["--json", str(report)] if report else [])]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return out, json.loads(report.read_text()) if report else None
