"""Where pipeline components live: always on the target device, or (low-VRAM mode) there only while in use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class ComponentPlacement:
    """Moves components to `device` for the duration of a `using(...)` block when `low_vram`, else keeps them there."""

    def __init__(self, device: torch.device | str = "cpu", low_vram: bool = False) -> None:
        self.device = torch.device(device)
        self.low_vram = low_vram

    @contextmanager
    def using(self, component: Any) -> Iterator[Any]:
        """Yield `component` on the working device; in low-VRAM mode park it on the CPU afterwards."""
        if not self.low_vram or self.device.type == "cpu":
            yield component
            return
        component.to(self.device)
        try:
            yield component
        finally:
            component.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
