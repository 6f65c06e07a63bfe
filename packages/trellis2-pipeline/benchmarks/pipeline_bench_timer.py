"""Per-stage wall time and peak device memory for the pipeline benchmark (stages may nest)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass
class StageRecord:
    """One named stage summed over its calls: exclusive seconds (nested stages subtracted), inclusive peak bytes of
    allocated device memory, and the size of its last call's work (`count` tokens, voxels or faces: `unit`)."""

    name: str
    seconds: float = 0.0
    calls: int = 0
    peak_bytes: int = 0
    count: int | None = None
    unit: str = ""
    excluded: bool = False

    @property
    def size(self) -> str:
        """The work size as text, e.g. "20,954 tokens" (empty when unknown)."""
        return "" if self.count is None else f"{self.count:,} {self.unit}"


@dataclass
class _Frame:
    start: float
    child_seconds: float = 0.0
    peak_bytes: int = 0


class StageTimer:
    """Times nested stages with device synchronisation at every boundary.

    A stage's time excludes the stages it contains, so the stage times add up to the outermost wall time; records
    are listed in the order stages first finish. Stages marked `excluded` (benchmark bookkeeping) are timed but
    left out of totals and of their parents' memory peaks.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.records: dict[str, StageRecord] = {}
        self._reserved_peak = 0
        self._stack: list[_Frame] = []

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _peak(self) -> int:
        return torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else 0

    def _reset_peak(self) -> None:
        if self.device.type == "cuda":
            self._reserved_peak = max(self._reserved_peak, torch.cuda.max_memory_reserved(self.device))
            torch.cuda.reset_peak_memory_stats(self.device)

    @contextmanager
    def stage(self, name: str, excluded: bool = False) -> Iterator[None]:
        """Time the block as stage `name` (calls of the same name accumulate)."""
        self._sync()
        if self._stack:
            parent = self._stack[-1]
            parent.peak_bytes = max(parent.peak_bytes, self._peak())
        self._reset_peak()
        frame = _Frame(time.perf_counter())
        self._stack.append(frame)
        try:
            yield
        finally:
            self._sync()
            elapsed = time.perf_counter() - frame.start
            peak = max(frame.peak_bytes, self._peak())
            self._stack.pop()
            record = self.records.setdefault(name, StageRecord(name))
            record.excluded = excluded
            record.seconds += elapsed - frame.child_seconds
            record.calls += 1
            record.peak_bytes = max(record.peak_bytes, peak)
            if self._stack:
                parent = self._stack[-1]
                parent.child_seconds += elapsed
                if not excluded:
                    parent.peak_bytes = max(parent.peak_bytes, peak)
            if excluded:
                self._reset_peak()  # what it allocated and freed must not show in the enclosing stage's peak

    def set_size(self, name: str, count: int, unit: str) -> None:
        """Record how much work stage `name` did (e.g. 20954, "tokens")."""
        record = self.records.setdefault(name, StageRecord(name))
        record.count, record.unit = int(count), unit

    def reset(self) -> None:
        """Forget all records (between runs) and start a fresh memory peak."""
        if self._stack:
            raise RuntimeError("cannot reset the stage timer inside a stage")
        self.records.clear()
        self._reserved_peak = 0
        self._reset_peak()

    def counted(self) -> list[StageRecord]:
        """The stages that count towards the total, in first-use order."""
        return [record for record in self.records.values() if not record.excluded]

    @property
    def total_seconds(self) -> float:
        """Sum of the exclusive times of all counted stages (the wall time of the outermost stage)."""
        return sum(record.seconds for record in self.counted())

    @property
    def reserved_peak_bytes(self) -> int:
        """Peak reserved (allocator-cached) device memory since the last reset."""
        current = torch.cuda.max_memory_reserved(self.device) if self.device.type == "cuda" else 0
        return max(self._reserved_peak, current)

    @property
    def peak_bytes(self) -> int:
        """Largest peak of any counted stage."""
        return max((record.peak_bytes for record in self.counted()), default=0)
