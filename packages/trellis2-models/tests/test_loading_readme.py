"""The loading example in the package README runs as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_loading_example_runs_and_prints_the_output_shape():
    section = README.read_text().split("## Flows, sparse-structure VAE and checkpoint loading", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})
    assert printed.getvalue().strip() == "torch.Size([1, 8, 4, 4, 4])"
