"""A model-free engine for exercising the service: scripted progress, previews and a tiny GLB, each step as long as
a test needs (test_server_api.py drives it in-process; the live-server tests run the real tiny pipeline)."""

import threading
import time
from pathlib import Path

from PIL import Image

MODES = ("normal", "clay", "base_color")


class ScriptedEngine:
    """Writes two preview frames per mode after `steps` progress calls, each `step_s` long."""

    def __init__(self, steps: int = 3, step_s: float = 0.0, fail_on_seed: int | None = None):
        self.steps, self.step_s, self.fail_on_seed = steps, step_s, fail_on_seed
        self.started = threading.Event()

    def preprocess(self, image):
        return image.convert("RGBA").crop((0, 0, 8, 8))

    def generate(self, image, request, workdir: Path, progress):
        self.started.set()
        if request["seed"] == self.fail_on_seed:
            raise RuntimeError("out of memory in stage shape_slat")
        for step in range(self.steps):
            progress("sparse_structure", step + 1, self.steps)
            time.sleep(self.step_s)
        (workdir / "previews").mkdir(parents=True, exist_ok=True)
        for index, mode in enumerate(MODES):  # every mode and frame gets its own colour
            for frame in range(2):
                colour = (frame * 100, index * 80, 0)
                Image.new("RGB", (4, 4), colour).save(workdir / "previews" / f"{mode}_{frame}.jpg")

    def extract_glb(self, workdir, decimation_target, texture_size, out_path):
        """A real (untextured) GLB cube whose edge length encodes the request, so tests can check it arrived."""
        import trimesh

        out_path.write_bytes(trimesh.creation.box(extents=[decimation_target / 1e4] * 3).export(file_type="glb"))

