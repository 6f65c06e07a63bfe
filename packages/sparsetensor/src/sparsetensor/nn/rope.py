"""3D rotary position embedding over sparse voxel coordinates."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..tensor import SparseTensor


class SparseRotaryPositionEmbedder(nn.Module):
    """Rotate consecutive channel pairs of q/k [N, H, D] by angles coord_axis * freq (x freqs, then y, then z).

    freq_i = rope_freq[0] / rope_freq[1] ** (i / F) with F = head_dim // 2 // dim; pairs beyond 3F are left unrotated.
    Phases are cached on q's spatial cache.
    """

    def __init__(self, head_dim: int, dim: int = 3, rope_freq: tuple[float, float] = (1.0, 10000.0)):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, got {head_dim}")
        self.head_dim, self.dim, self.rope_freq = head_dim, dim, tuple(rope_freq)
        self.freq_dim = head_dim // 2 // dim
        exponents = torch.arange(self.freq_dim, dtype=torch.float32) / self.freq_dim
        self.freqs = rope_freq[0] / rope_freq[1] ** exponents

    def phases(self, coords: torch.Tensor) -> torch.Tensor:
        """Unit complex rotations [N, head_dim // 2] for spatial coords [N, dim]."""
        angles = coords.float()[:, :, None] * self.freqs.to(coords.device)
        angles = angles.reshape(coords.shape[0], -1)
        padded = angles.new_zeros(coords.shape[0], self.head_dim // 2)
        padded[:, : angles.shape[1]] = angles
        return torch.polar(torch.ones_like(padded), padded)

    @staticmethod
    def _rotate(feats: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        pairs = torch.view_as_complex(feats.float().reshape(*feats.shape[:-1], -1, 2))
        return torch.view_as_real(pairs * phases[:, None]).reshape(feats.shape).to(feats.dtype)

    def forward(self, q: SparseTensor, k: SparseTensor | None = None):
        """Return rotated q (and k, which must share q's coords) as SparseTensors."""
        if q.coords.shape[1] != self.dim + 1:
            raise ValueError(f"coords have {q.coords.shape[1] - 1} spatial dims, expected {self.dim}")
        if q.feats.shape[-1] != self.head_dim:
            raise ValueError(f"feats last dim {q.feats.shape[-1]} != head_dim {self.head_dim}")
        key = f"rope_phases_{self.dim}d_{self.rope_freq}_{self.head_dim}"
        phases = q.get_spatial_cache(key)
        if phases is None:
            phases = self.phases(q.coords[:, 1:])
            q.register_spatial_cache(key, phases)
        q_out = q.replace(self._rotate(q.feats, phases))
        return q_out if k is None else (q_out, k.replace(self._rotate(k.feats, phases)))
