"""The work behind the API: generation, previews and GLB export, plus where their artifacts live on disk."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

ProgressCallback = Callable[[str, int, int], None]


class TaskCancelled(Exception):
    """Raised from a progress callback to stop a running generation at the next sampler step."""


class Engine(Protocol):
    """What the service needs from a generator; `PipelineEngine` is the real one."""

    def preprocess(self, image: Image.Image) -> Image.Image:
        """Crop to the object; called from any thread at any time, so it must guard its own model use."""

    def generate(self, image: Image.Image, request: dict[str, Any], workdir: Path, progress: ProgressCallback) -> None:
        """Run one task; write `previews/<mode>_<frame>.jpg` and whatever `extract_glb` needs into `workdir`."""

    def extract_glb(self, workdir: Path, decimation_target: int, texture_size: int, out_path: Path) -> None: ...


class ArtifactStore:
    """One folder per task under the data directory: inputs, previews, the saved asset and exported GLBs."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def task_dir(self, task_id: str) -> Path:
        return self.root / task_id

    def save_input(self, task_id: str, image: Image.Image) -> Path:
        path = self.task_dir(task_id) / "input.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        return path

    def load_input(self, task_id: str) -> Image.Image:
        return Image.open(self.task_dir(task_id) / "input.png").copy()

    def previews(self, task_id: str) -> dict[str, list[Path]]:
        """Preview frames grouped by mode, frames in order."""
        grouped: dict[str, list[Path]] = {}
        for path in sorted((self.task_dir(task_id) / "previews").glob("*.jpg")):
            mode, _, frame = path.stem.rpartition("_")
            grouped.setdefault(mode, []).append((int(frame), path))
        return {mode: [p for _, p in sorted(frames)] for mode, frames in grouped.items()}

    def latest_glb(self, task_id: str) -> Path | None:
        glbs = sorted(self.task_dir(task_id).glob("sample_*.glb"))
        return glbs[-1] if glbs else None

    def remove(self, task_id: str) -> None:
        shutil.rmtree(self.task_dir(task_id), ignore_errors=True)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
