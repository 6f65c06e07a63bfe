"""The README's to_glb example runs as written (output path redirected) and writes a GLB of the stated size."""

from __future__ import annotations

import re
from pathlib import Path

import pygltflib


def test_to_glb_readme_example_runs(tmp_path, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"<!-- to-glb-example -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README to_glb example not found"
    code = block.group(1).replace("/tmp/sample.glb", str(tmp_path / "sample.glb"))
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("[to_glb] input:")
    gltf = pygltflib.GLTF2.load(tmp_path / "sample.glb")
    assert gltf.accessors[gltf.meshes[0].primitives[0].indices].count == 3 * 5000
    assert gltf.extensionsRequired == ["EXT_texture_webp"]
