"""Pipeline errors a user can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

MEMORY_ADVICE = (
    "try low_vram=True (models visit the GPU one at a time), a smaller pipeline type ('512' or '1024_cascade'), "
    "a lower max_num_tokens, or num_samples=1"
)


class StageOutOfMemoryError(RuntimeError):
    """The GPU ran out of memory in a named pipeline stage; the message says what to change."""

    def __init__(self, stage: str, detail: str) -> None:
        self.stage = stage
        super().__init__(f"out of GPU memory during {stage}: {MEMORY_ADVICE}. ({detail.splitlines()[0]})")


@contextmanager
def name_stage_on_oom(stage: str) -> Iterator[None]:
    """Turn a CUDA out-of-memory error inside the block into a `StageOutOfMemoryError` naming `stage`."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as error:
        raise StageOutOfMemoryError(stage, str(error)) from error
