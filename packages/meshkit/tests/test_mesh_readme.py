import re
from pathlib import Path

import pytest


def test_geometry_readme_example_runs():
    pytest.importorskip("trimesh")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"<!-- geometry-example -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README geometry example not found"
    exec(compile(block.group(1), "README.md", "exec"), {})
