"""Time grids for Euler flow sampling: uniform steps from t=1 (noise) to t=0 (data), optionally warped."""

from __future__ import annotations

import numpy as np


def time_grid(steps: int, rescale_t: float = 1.0) -> list[float]:
    """`steps + 1` decreasing times from 1 to 0, warped by t' = s·t / (1 + (s − 1)·t) with s = `rescale_t`.

    s > 1 spends more steps at high noise levels (t near 1); s = 1 keeps the grid uniform.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not rescale_t > 0:
        raise ValueError(f"rescale_t must be positive, got {rescale_t!r}")
    uniform = np.linspace(1.0, 0.0, steps + 1)
    return (rescale_t * uniform / (1.0 + (rescale_t - 1.0) * uniform)).tolist()
