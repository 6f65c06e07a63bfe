"""Choosing the torch device for a command: CUDA when present, the CPU only when asked for explicitly."""

from __future__ import annotations

import click
import torch


def resolve_device(requested: str | None, cpu_fallback: bool = False) -> str:
    """`requested` checked against this machine, or when omitted "cuda" (or "cpu" without a GPU if `cpu_fallback`);
    a ClickException says what to pass."""
    if requested is None:
        if torch.cuda.is_available() or cpu_fallback:
            return "cuda" if torch.cuda.is_available() else "cpu"
        raise click.ClickException("no CUDA GPU is available; pass --device cpu to run on the CPU (slow for the "
                                   "full 4B model, fine for the tiny self-test model)")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise click.ClickException(f"unknown device {requested!r}: use cuda, cuda:N or cpu") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise click.ClickException(f"--device {requested}: no CUDA GPU is available; pass --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise click.ClickException(f"--device {requested}: this machine has {torch.cuda.device_count()} GPU(s)")
    return str(device)
