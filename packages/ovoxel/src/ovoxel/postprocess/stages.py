"""Stage bookkeeping for `to_glb`: wall time per stage, an optional tqdm stage bar and verbose timing lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STAGES = ("fill holes", "remesh", "simplify", "cleanup", "uv unwrap", "bake", "material")
"""Stage names in the order `to_glb` runs them (`remesh` only when asked; simplify/cleanup twice without it)."""


class StageTimer:
    """Times named stages; with `progress` shows a tqdm bar over them, with `verbose` prints one line per stage
    (name, seconds, face count after it) and a total."""

    def __init__(self, total: int, progress: bool = False, verbose: bool = False) -> None:
        self.timings: dict[str, float] = {}
        self.verbose = verbose
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="to_glb", unit="stage", file=sys.stderr)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict]:
        """Time the body as stage `name`; the body may put a 'faces' count in the yielded dict for the log line."""
        if self.bar is not None:
            self.bar.set_description(f"to_glb: {name}")
        info: dict = {}
        start = time.perf_counter()
        yield info
        seconds = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        if self.bar is not None:
            self.bar.update()
        if self.verbose:
            detail = f"  ({info['faces']:,} faces)" if "faces" in info else ""
            print(f"[to_glb] {name:<11} {seconds:8.3f} s{detail}", flush=True)

    def mesh_step(self, name: str, step: Callable[..., tuple[Any, Any]], *args: Any) -> tuple[Any, Any]:
        """Run `step(*args)` -> (vertices, faces) as stage `name`, logging the face count it leaves."""
        with self.stage(name) as info:
            mesh = step(*args)
            info["faces"] = len(mesh[1])
        return mesh

    def close(self) -> None:
        """Finish the bar and, when verbose, print the total time."""
        if self.bar is not None:
            self.bar.close()
        if self.verbose:
            print(f"[to_glb] {'total':<11} {sum(self.timings.values()):8.3f} s", flush=True)
