"""Per-voxel layers (linear, norms, activations) that act on the features of a Sparse/VarLen tensor."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..tensor import VarLenTensor


class SparseLinear(nn.Linear):
    """nn.Linear applied to every voxel's features."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        return x.replace(super().forward(x.feats))


class SparseLayerNorm(nn.LayerNorm):
    """LayerNorm over each voxel's channels (a per-row statistic, hence per batch element by construction)."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        return x.replace(super().forward(x.feats))


class SparseGroupNorm(nn.GroupNorm):
    """GroupNorm with statistics taken over all voxels of ONE batch item (channels grouped), as upstream."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        out = torch.zeros_like(x.feats)
        for part in x.layout:
            rows = x.feats[part]
            if rows.shape[0]:
                out[part] = super().forward(rows.t()[None])[0].t()
        return x.replace(out)


class SparseLayerNorm32(SparseLayerNorm):
    """SparseLayerNorm computed in float32 and cast back to the input dtype."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        return super().forward(x.float()).to(x.dtype)


class SparseGroupNorm32(SparseGroupNorm):
    """SparseGroupNorm computed in float32 and cast back to the input dtype."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        return super().forward(x.float()).to(x.dtype)


class SparseReLU(nn.ReLU):
    """ReLU on voxel features."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        return x.replace(super().forward(x.feats))


class SparseSiLU(nn.SiLU):
    """SiLU on voxel features."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        return x.replace(super().forward(x.feats))


class SparseGELU(nn.GELU):
    """GELU on voxel features (`approximate` as in nn.GELU)."""

    def forward(self, x: VarLenTensor) -> VarLenTensor:  # type: ignore[override]
        return x.replace(super().forward(x.feats))
