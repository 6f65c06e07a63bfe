"""Exceptions raised while locating or loading checkpoints."""

from __future__ import annotations


class CheckpointMismatchError(ValueError):
    """A checkpoint's tensors do not match the model built from its config (missing, unexpected or mis-shaped)."""

    def __init__(
        self,
        missing: list[str],
        unexpected: list[str],
        mis_shaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        source: str = "checkpoint",
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mis_shaped = mis_shaped
        lines = [f"{source} does not match the model definition:"]
        if missing:
            lines.append(f"  missing tensors ({len(missing)}): {_abbreviate(missing)}")
        if unexpected:
            lines.append(f"  unexpected tensors ({len(unexpected)}): {_abbreviate(unexpected)}")
        for key, stored, expected in mis_shaped[:20]:
            lines.append(f"  shape mismatch for {key}: checkpoint {list(stored)}, model expects {list(expected)}")
        if len(mis_shaped) > 20:
            lines.append(f"  ... and {len(mis_shaped) - 20} more shape mismatches")
        super().__init__("\n".join(lines))


class CheckpointAccessError(PermissionError):
    """The checkpoint lives in a hub repository this machine is not allowed to read (gated or private)."""


def _abbreviate(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names) - limit} more)"
