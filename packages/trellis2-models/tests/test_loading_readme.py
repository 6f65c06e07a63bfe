"""The loading example in the package README runs as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_loading_and_cuda_graph_examples_run_and_print_the_output_shapes():
    section = README.read_text().split("## Flows, sparse-structure VAE and checkpoint loading", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2  # loading, then the CUDA-graph runner using the loaded flow
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        for code in blocks:
            exec(compile(code, str(README), "exec"), namespace)
    assert printed.getvalue().split() == ["torch.Size([1,", "8,", "4,", "4,", "4])"] * 2
