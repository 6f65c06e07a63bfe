"""Operator-level profile printing shared by the model benchmarks (run them as scripts so this module imports)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def print_profile(fn: Callable[[], object], device: torch.device, rows: int) -> None:
    """Print the operator table of one `fn()` call sorted by device time (CPU time on a CPU run)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.inference_mode(), torch.profiler.profile(activities=activities) as profile:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
    sort_by = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(profile.key_averages().table(sort_by=sort_by, row_limit=rows, max_name_column_width=60), flush=True)
