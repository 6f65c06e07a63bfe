"""Classifier-free guidance settings and how they combine conditional and unconditional velocities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance: `strength` w mixes v = w·v(cond) + (1 − w)·v(neg_cond) while t is in `interval`.

    `rescale` in [0, 1] blends the guided x0 prediction towards one whose per-sample std matches the conditional
    prediction's, countering the over-saturation that strong guidance causes.
    """

    neg_cond: Any
    strength: float = 3.0
    rescale: float = 0.0
    interval: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.rescale!r}")
        if len(self.interval) != 2 or self.interval[0] > self.interval[1]:
            raise ValueError(f"guidance_interval must be (low, high) with low <= high, got {self.interval!r}")

    def strength_at(self, t: float) -> float:
        """The guidance strength in effect at time `t` (1, i.e. conditional only, outside the interval)."""
        low, high = self.interval
        return self.strength if low <= t <= high else 1.0
