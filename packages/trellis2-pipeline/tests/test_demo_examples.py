"""The example inputs bundled with the web demo: valid RGBA inputs like upstream's, reproducible by their script, and
shipped in the wheel."""

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason="the front end needs the 'demo' extra")
from trellis2.app.ui import EXAMPLES_DIR, bundled_examples  # noqa: E402

PACKAGE_DIR = Path(__file__).parents[1]
SCRIPT = PACKAGE_DIR / "scripts" / "make_demo_examples.py"


def test_examples_are_centred_objects_on_transparent_512_canvases():
    paths = [Path(p) for p in bundled_examples()]
    assert 4 <= len(paths) <= 6
    assert sum(p.stat().st_size for p in paths) < 2**20
    for path in paths:
        image = Image.open(path)
        assert (image.size, image.mode) == ((512, 512), "RGBA"), path.name
        alpha = np.asarray(image)[..., 3]
        assert alpha[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0, path.name  # transparent background
        assert ((alpha > 0) & (alpha < 255)).any(), path.name  # anti-aliased silhouette
        rows, cols = np.nonzero(alpha)
        span = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        assert 0.8 * 512 < span < 0.92 * 512, (path.name, span)
        centre = np.array([rows.min() + rows.max(), cols.min() + cols.max()]) / 2
        assert np.abs(centre - 255.5).max() < 3, (path.name, centre)


def test_the_script_reproduces_the_committed_images(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", "rocket"], check=True,
                   capture_output=True)
    made = np.asarray(Image.open(tmp_path / "rocket.png"), np.int16)
    committed = np.asarray(Image.open(EXAMPLES_DIR / "rocket.png"), np.int16)
    assert made.shape == committed.shape
    assert np.abs(made - committed).max() <= 2  # equal up to floating-point noise of another CPU


@pytest.mark.skipif(importlib.util.find_spec("hatchling") is None, reason="building the wheel needs hatchling")
def test_the_wheel_ships_the_examples(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(PACKAGE_DIR)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("trellis2_pipeline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in bundled_examples():
        assert f"trellis2/app/examples/{Path(path).name}" in names
    assert "trellis2/app/examples/README.md" in names
