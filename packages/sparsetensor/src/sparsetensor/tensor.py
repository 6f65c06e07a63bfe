"""Variable-length and sparse voxel tensor containers with per-resolution spatial caches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import torch

Scale = tuple[Fraction, Fraction, Fraction]
_UNIT_SCALE: Scale = (Fraction(1), Fraction(1), Fraction(1))


def _layout_from_seqlen(seqlen: Sequence[int]) -> list[slice]:
    starts = [0]
    for n in seqlen:
        starts.append(starts[-1] + int(n))
    return [slice(a, b) for a, b in zip(starts[:-1], starts[1:], strict=False)]


class VarLenTensor:
    """A batch of variable-length token sequences stored packed as `feats` [N, ...] with one slice per batch item."""

    def __init__(self, feats: torch.Tensor, layout: Sequence[slice] | None = None):
        if not isinstance(feats, torch.Tensor):
            raise TypeError(f"feats must be a torch.Tensor, got {type(feats).__name__}")
        layout = [slice(0, feats.shape[0])] if layout is None else list(layout)
        end = 0
        for item in layout:
            if not isinstance(item, slice) or item.start != end or item.stop < item.start:
                raise ValueError("layout must be contiguous, ordered slices starting at 0")
            end = item.stop
        if end != feats.shape[0]:
            raise ValueError(f"layout covers {end} rows but feats has {feats.shape[0]}")
        self.feats = feats
        self._layout = layout

    @property
    def layout(self) -> list[slice]:
        """Row slice of each batch item."""
        return self._layout

    @staticmethod
    def from_tensor_list(tensors: Sequence[torch.Tensor]) -> VarLenTensor:
        """Pack a list of [L_i, ...] tensors into one VarLenTensor."""
        return VarLenTensor(torch.cat(list(tensors), 0), _layout_from_seqlen([t.shape[0] for t in tensors]))

    def to_tensor_list(self) -> list[torch.Tensor]:
        """Split back into one tensor per batch item."""
        return [self.feats[s] for s in self.layout]

    def __len__(self) -> int:
        return len(self._layout)

    @property
    def shape(self) -> torch.Size:
        return torch.Size([len(self), *self.feats.shape[1:]])

    @property
    def dtype(self) -> torch.dtype:
        return self.feats.dtype

    @property
    def device(self) -> torch.device:
        return self.feats.device

    @property
    def seqlen(self) -> torch.Tensor:
        return torch.tensor([s.stop - s.start for s in self.layout], dtype=torch.long, device=self.device)

    @property
    def cum_seqlen(self) -> torch.Tensor:
        return torch.tensor([0] + [s.stop for s in self.layout], dtype=torch.long, device=self.device)

    @property
    def batch_boardcast_map(self) -> torch.Tensor:
        """Batch index of every row (upstream's name, kept for porting)."""
        return torch.repeat_interleave(torch.arange(len(self), device=self.device), self.seqlen)

    def replace(self, feats: torch.Tensor) -> VarLenTensor:
        """Same layout, new features (row count must match)."""
        if feats.shape[0] != self.feats.shape[0]:
            raise ValueError(f"replace: feats has {feats.shape[0]} rows, expected {self.feats.shape[0]}")
        return VarLenTensor(feats, self.layout)

    def to(self, *args: Any, **kwargs: Any) -> VarLenTensor:
        """Move/cast the features like `torch.Tensor.to`."""
        return self.replace(self.feats.to(*args, **kwargs))

    def cpu(self) -> VarLenTensor:
        return self.to("cpu")

    def cuda(self) -> VarLenTensor:
        return self.to("cuda")

    def half(self) -> VarLenTensor:
        return self.to(torch.float16)

    def float(self) -> VarLenTensor:
        return self.to(torch.float32)

    def detach(self) -> VarLenTensor:
        return self.replace(self.feats.detach())

    def reshape(self, *shape: int) -> VarLenTensor:
        """Reshape the per-row feature dims."""
        return self.replace(self.feats.reshape(self.feats.shape[0], *shape))

    def unbind(self, dim: int = 0) -> list:
        return varlen_unbind(self, dim)

    def to_dense(self, max_length: int | None = None) -> torch.Tensor:
        """Zero-padded dense [B, L, ...] tensor."""
        longest = max([s.stop - s.start for s in self.layout], default=0)
        length = longest if max_length is None else max_length
        if length < longest:
            raise ValueError(f"max_length={max_length} is shorter than the longest sequence ({longest})")
        out = self.feats.new_zeros(len(self), length, *self.feats.shape[1:])
        for b, s in enumerate(self.layout):
            out[b, : s.stop - s.start] = self.feats[s]
        return out

    def _broadcast_operand(self, other: Any) -> Any:
        if isinstance(other, VarLenTensor):
            if other.feats.shape[0] != self.feats.shape[0]:
                raise ValueError("elementwise op between tensors with different row counts")
            return other.feats
        if isinstance(other, torch.Tensor) and other.dim() >= 2 and other.shape[0] == len(self) != self.feats.shape[0]:
            return other[self.batch_boardcast_map]
        return other

    def _elementwise(self, other: Any, op: Callable[[Any, Any], torch.Tensor]) -> VarLenTensor:
        return self.replace(op(self.feats, self._broadcast_operand(other)))

    def __neg__(self) -> VarLenTensor:
        return self.replace(-self.feats)

    def __add__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: a + b)

    def __radd__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: b + a)

    def __sub__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: a - b)

    def __rsub__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: b - a)

    def __mul__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: a * b)

    def __rmul__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: b * a)

    def __truediv__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: a / b)

    def __rtruediv__(self, other: Any) -> VarLenTensor:
        return self._elementwise(other, lambda a, b: b / a)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={tuple(self.shape)}, rows={self.feats.shape[0]}, dtype={self.dtype})"


def _check_coords(feats: torch.Tensor, coords: torch.Tensor, check_duplicates: bool) -> None:
    if not isinstance(coords, torch.Tensor) or coords.dim() != 2 or coords.shape[1] != 4:
        got = getattr(coords, "shape", type(coords).__name__)
        raise ValueError(f"coords must be an int32 tensor [N, 4] (batch, x, y, z), got {got}")
    if coords.dtype != torch.int32:
        raise TypeError(f"coords must be int32, got {coords.dtype}")
    if coords.shape[0] != feats.shape[0]:
        raise ValueError(f"coords has {coords.shape[0]} rows but feats has {feats.shape[0]}")
    if coords.shape[0] == 0:
        return
    if (coords < 0).any():
        raise ValueError("coords must be non-negative")
    if check_duplicates and torch.unique(coords, dim=0).shape[0] != coords.shape[0]:
        raise ValueError("coords contain duplicate voxels; merge them first (or pass check_duplicates=False)")


class SparseTensor(VarLenTensor):
    """Sparse voxel features `feats` [N, C...] at `coords` [N, 4] int32 (batch, x, y, z).

    Voxels may come in any order for per-voxel ops (conv, linear, resampling); per-batch ops (`layout`, attention,
    group norm, unbind) need batch-contiguous order and raise a clear error otherwise.

    Spatial caches (neighbour maps, resampling indices) are stored per resolution scale and shared with every tensor
    derived by `replace` on the same coords, so repeated layers reuse them.
    """

    def __init__(
        self,
        feats: torch.Tensor,
        coords: torch.Tensor,
        shape: torch.Size | None = None,
        *,
        check_duplicates: bool = True,
        scale: Scale = _UNIT_SCALE,
        spatial_cache: dict | None = None,
        batch_size: int | None = None,
    ):
        if not isinstance(feats, torch.Tensor):
            raise TypeError(f"feats must be a torch.Tensor, got {type(feats).__name__}")
        _check_coords(feats, coords, check_duplicates)
        if batch_size is None:
            batch_size = int(coords[:, 0].max()) + 1 if coords.shape[0] else (1 if shape is None else int(shape[0]))
        if shape is not None:
            batch_size = max(batch_size, int(shape[0]))
        # Counted where the coords live: only batch_size integers cross to the host, never a column of N.
        counts = torch.bincount(coords[:, 0], minlength=batch_size).tolist()
        super().__init__(feats, _layout_from_seqlen(counts))
        self._batch_size = len(counts)
        if coords.shape[0] and (coords[1:, 0] < coords[:-1, 0]).any():
            self._layout = None
        self.coords = coords
        self._scale = scale
        self._spatial_cache: dict = {} if spatial_cache is None else spatial_cache

    @staticmethod
    def from_tensor_list(feats_list: Sequence[torch.Tensor], coords_list: Sequence[torch.Tensor]) -> SparseTensor:
        """Build a batch from per-item feats [N_i, C] and spatial coords [N_i, 3]."""
        coords = [torch.cat([torch.full_like(c[:, :1], b), c], 1) for b, c in enumerate(coords_list)]
        return SparseTensor(torch.cat(list(feats_list)), torch.cat(coords).int(), batch_size=len(coords))

    def to_tensor_list(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-item (feats, xyz coords) lists."""
        return [self.feats[s] for s in self.layout], [self.coords[s, 1:] for s in self.layout]

    def __len__(self) -> int:
        return self._batch_size

    @property
    def layout(self) -> list[slice]:
        """Row slice of each batch item; needs batch-contiguous coords (other orders are allowed for per-voxel ops)."""
        if self._layout is None:
            raise ValueError("this SparseTensor's coords are not batch-contiguous (batch index must be "
                             "non-decreasing); sort the voxels by batch for per-batch operations")
        return self._layout

    @property
    def batch_boardcast_map(self) -> torch.Tensor:
        """Batch index of every voxel (valid for any voxel order)."""
        return self.coords[:, 0].long()

    @property
    def spatial_shape(self) -> torch.Size:
        """Grid size: an explicitly registered 'shape' cache entry, else max coordinate + 1 per axis."""
        cached = self.get_spatial_cache("shape")
        if cached is not None:
            return torch.Size(cached)
        if self.coords.shape[0] == 0:
            return torch.Size([0, 0, 0])
        return torch.Size((self.coords[:, 1:].max(0).values + 1).tolist())

    def get_spatial_cache(self, key: str | None = None) -> Any:
        """Cached value for `key` at this tensor's scale (None if absent); the whole scale dict when key is None."""
        level = self._spatial_cache.get(self._scale, {})
        return level if key is None else level.get(key)

    def register_spatial_cache(self, key: str, value: Any) -> None:
        """Store `value` under `key` for this tensor's coords/scale; shared with tensors made by `replace`."""
        self._spatial_cache.setdefault(self._scale, {})[key] = value

    def clear_spatial_cache(self) -> None:
        self._spatial_cache = {}

    def replace(self, feats: torch.Tensor, coords: torch.Tensor | None = None) -> SparseTensor:
        """New features (and optionally new coords); caches are kept only when coords are unchanged."""
        if coords is None:
            if feats.shape[0] != self.feats.shape[0]:
                raise ValueError(f"replace: feats has {feats.shape[0]} rows, expected {self.feats.shape[0]}")
            out = SparseTensor.__new__(SparseTensor)
            out.feats, out._layout, out._batch_size = feats, self._layout, self._batch_size
            out.coords, out._scale, out._spatial_cache = self.coords, self._scale, self._spatial_cache
            return out
        return SparseTensor(feats, coords, scale=self._scale, batch_size=len(self))

    def to(self, *args: Any, **kwargs: Any) -> SparseTensor:
        """Move/cast features like `torch.Tensor.to`; coords follow the device (never the dtype)."""
        feats = self.feats.to(*args, **kwargs)
        if feats.device == self.coords.device:
            return self.replace(feats)
        out = SparseTensor(feats, self.coords.to(feats.device), check_duplicates=False, scale=self._scale,
                           batch_size=len(self))
        shape = self.get_spatial_cache("shape")
        if shape is not None:
            out.register_spatial_cache("shape", shape)
        return out

    def detach(self) -> SparseTensor:
        return self.replace(self.feats.detach())

    def reshape(self, *shape: int) -> SparseTensor:
        return self.replace(self.feats.reshape(self.feats.shape[0], *shape))

    def unbind(self, dim: int = 0) -> list:
        return sparse_unbind(self, dim)

    def to_dense(self) -> torch.Tensor:
        """Dense [B, C..., X, Y, Z] grid with zeros at empty voxels."""
        b, x, y, z = self.coords.long().unbind(1)
        dense = self.feats.new_zeros(len(self), *self.spatial_shape, *self.feats.shape[1:])
        dense[b, x, y, z] = self.feats
        order = [0, *range(4, dense.dim()), 1, 2, 3]
        return dense.permute(order).contiguous()

    def _broadcast_operand(self, other: Any) -> Any:
        if isinstance(other, SparseTensor) and other.coords is not self.coords:
            if other.coords.shape != self.coords.shape or not torch.equal(other.coords, self.coords):
                raise ValueError("elementwise op between SparseTensors with different coords")
        return super()._broadcast_operand(other)

    def __repr__(self) -> str:
        return (f"SparseTensor(shape={tuple(self.shape)}, voxels={self.feats.shape[0]}, "
                f"spatial_shape={tuple(self.spatial_shape)}, dtype={self.dtype}, device={self.device})")


def _resolve_dim(dim: int, feat_dims: int) -> int:
    if dim < 0:
        dim += feat_dims + 1
    return dim


def varlen_cat(inputs: Sequence[VarLenTensor], dim: int = 0) -> VarLenTensor:
    """Concatenate along the batch (dim=0) or along a feature dim (dim>=1 / negative, same layouts required)."""
    if not inputs:
        raise ValueError("varlen_cat needs at least one tensor")
    dim = _resolve_dim(dim, inputs[0].feats.dim() - 1)
    if dim == 0:
        parts = [f for t in inputs for f in t.to_tensor_list()]
        return VarLenTensor.from_tensor_list(parts)
    if any(t.layout != inputs[0].layout for t in inputs):
        raise ValueError("varlen_cat along features requires identical layouts")
    return inputs[0].replace(torch.cat([t.feats for t in inputs], dim))


def varlen_unbind(tensor: VarLenTensor, dim: int = 0) -> list:
    """Split into batch items (dim=0, returned as VarLenTensors of batch 1) or along a feature dim."""
    if dim == 0:
        return [VarLenTensor(f) for f in tensor.to_tensor_list()]
    return [tensor.replace(f) for f in tensor.feats.unbind(dim)]


def sparse_cat(inputs: Sequence[SparseTensor], dim: int = 0) -> SparseTensor:
    """Concatenate SparseTensors along the batch (dim=0, batch indices renumbered) or channels (same coords)."""
    if not inputs:
        raise ValueError("sparse_cat needs at least one tensor")
    dim = _resolve_dim(dim, inputs[0].feats.dim() - 1)
    if dim != 0:
        for t in inputs[1:]:
            inputs[0]._broadcast_operand(t)
        return inputs[0].replace(torch.cat([t.feats for t in inputs], dim))
    coords, offset = [], 0
    for t in inputs:
        c = t.coords.clone()
        c[:, 0] += offset
        coords.append(c)
        offset += len(t)
    return SparseTensor(torch.cat([t.feats for t in inputs]), torch.cat(coords), check_duplicates=False,
                        scale=inputs[0]._scale, batch_size=offset)


def sparse_unbind(tensor: SparseTensor, dim: int = 0) -> list:
    """Split into single-item SparseTensors (dim=0) or along a feature dim (same coords)."""
    if dim != 0:
        return [tensor.replace(f) for f in tensor.feats.unbind(dim)]
    items = []
    for s in tensor.layout:
        c = tensor.coords[s].clone()
        c[:, 0] = 0
        items.append(SparseTensor(tensor.feats[s], c, check_duplicates=False, scale=tensor._scale, batch_size=1))
    return items
