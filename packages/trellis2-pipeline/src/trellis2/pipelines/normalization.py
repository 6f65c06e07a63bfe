"""Per-channel latent normalisation: sampled latents are de-normalised, re-normalised before conditioning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class LatentNormalization:
    """Channel statistics of a structured latent: `denormalize(x) = x * std + mean` and its inverse."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.std = torch.as_tensor(std, dtype=torch.float32)
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape:
            raise ValueError(
                f"normalization mean/std must be equal-length lists, got {self.mean.shape} / {self.std.shape}"
            )
        if not bool((self.std > 0).all()):
            raise ValueError("normalization std must be positive in every channel")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LatentNormalization:
        """From a pipeline.json section `{"mean": [...], "std": [...]}`."""
        return cls(config["mean"], config["std"])

    def _stats(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if feats.shape[-1] != self.mean.numel():
            raise ValueError(f"latent has {feats.shape[-1]} channels, normalization has {self.mean.numel()}")
        return self.mean.to(feats.device, feats.dtype), self.std.to(feats.device, feats.dtype)

    def denormalize(self, latent: Any) -> Any:
        """Sparse latent in data units from the flow's normalised output."""
        mean, std = self._stats(latent.feats)
        return latent.replace(latent.feats * std + mean)

    def normalize(self, latent: Any) -> Any:
        """Sparse latent in the flow's normalised units."""
        mean, std = self._stats(latent.feats)
        return latent.replace((latent.feats - mean) / std)
