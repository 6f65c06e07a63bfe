import subprocess
import sys


def test_info_lists_every_project_distribution_with_its_version():
    result = subprocess.run(
        [sys.executable, "-m", "trellis2.cli", "info"], capture_output=True, text=True, check=True
    )
    for name in ("sparsetensor", "meshkit", "ovoxel", "trellis2-models", "trellis2-pipeline"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(name + " "))
        assert "not installed" not in line, line
    assert "CUDA device" in result.stdout
