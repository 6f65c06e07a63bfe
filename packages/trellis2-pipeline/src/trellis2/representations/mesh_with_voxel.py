"""`MeshWithVoxel`: a generated triangle mesh together with the sparse PBR attribute volume it was decoded with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

#: Channels of the attribute volume (after the pipeline's `* 0.5 + 0.5`, values in [0, 1]).
PBR_ATTR_LAYOUT: dict[str, slice] = {
    "base_color": slice(0, 3),
    "metallic": slice(3, 4),
    "roughness": slice(4, 5),
    "alpha": slice(5, 6),
}


class MeshWithVoxel:
    """Mesh (vertices in the [-0.5, 0.5]^3 box, int32 faces) plus attribute voxels `coords` [N, 3] / `attrs` [N, C].

    Voxel (i, j, k) covers origin + voxel_size * [i, i+1) x [j, j+1) x [k, k+1); `layout` names channel ranges of
    `attrs`. Geometry edits (`simplify`, `fill_holes`) go through meshkit on the mesh's own tensors and keep the volume
    unchanged.
    """

    def __init__(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        origin: Any,
        voxel_size: float,
        coords: torch.Tensor,
        attrs: torch.Tensor,
        voxel_shape: torch.Size | tuple[int, ...],
        layout: dict[str, slice] | None = None,
    ) -> None:
        self.vertices = vertices.float()
        self.faces = faces.int()
        self.origin = torch.as_tensor(origin, dtype=torch.float32, device=self.vertices.device)
        self.voxel_size = float(voxel_size)
        self.coords = coords
        self.attrs = attrs
        self.voxel_shape = torch.Size(voxel_shape)
        self.layout = dict(PBR_ATTR_LAYOUT if layout is None else layout)
        if coords.shape[0] != attrs.shape[0]:
            raise ValueError(f"coords ({coords.shape[0]} voxels) and attrs ({attrs.shape[0]} rows) disagree")

    @property
    def device(self) -> torch.device:
        """Device of the vertex tensor."""
        return self.vertices.device

    def attr(self, name: str) -> torch.Tensor:
        """The channels of attribute `name` (e.g. "base_color") for every voxel."""
        if name not in self.layout:
            raise KeyError(f"unknown attribute {name!r}; layout has {sorted(self.layout)}")
        return self.attrs[:, self.layout[name]]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MeshWithVoxel:
        """A copy with every tensor on `device`."""
        return MeshWithVoxel(
            self.vertices.to(device, non_blocking=non_blocking), self.faces.to(device, non_blocking=non_blocking),
            self.origin.tolist(), self.voxel_size, self.coords.to(device, non_blocking=non_blocking),
            self.attrs.to(device, non_blocking=non_blocking), self.voxel_shape, self.layout,
        )

    def cpu(self) -> MeshWithVoxel:
        """A copy on the CPU."""
        return self.to("cpu")

    def cuda(self) -> MeshWithVoxel:
        """A copy on the current CUDA device."""
        return self.to("cuda")

    def fill_holes(self, max_hole_perimeter: float = 3e-2) -> None:
        """Close boundary loops up to `max_hole_perimeter` (in box units) in place, as upstream does after decoding; a
        CUDA mesh stays on the GPU (meshkit finds the boundary there and sends only the boundary to the CPU)."""
        import meshkit

        self._edit_geometry(lambda vertices, faces: meshkit.fill_holes(vertices, faces, max_hole_perimeter))

    def simplify(self, target: int = 1_000_000, **options: Any) -> None:
        """Reduce the mesh to about `target` faces in place (meshkit's quadric edge collapse: on the GPU for a CUDA
        mesh, natively on the CPU otherwise)."""
        if target < 1:
            raise ValueError(f"simplify target must be a positive face count, got {target!r}")
        if self.faces.shape[0] <= target:
            return
        import meshkit

        def collapse(vertices: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            result = meshkit.simplify(vertices, faces, target, **options)
            return result.vertices, result.faces

        self._edit_geometry(collapse)

    def to_glb(self, decimation_target: int | None = 1_000_000, texture_size: int = 2048, remesh: bool = False,
               **options: Any) -> Any:
        """A textured, UV-mapped mesh (ovoxel's `TexturedMesh`; `.export("x.glb")` writes it) baked from this mesh and
        its attribute volume by `ovoxel.postprocess.to_glb`; `options` go to that function (e.g. `remesh_band`)."""
        from ovoxel.postprocess import to_glb

        box_min = self.origin.tolist()
        box_max = [low + self.voxel_size * size for low, size in zip(box_min, self.voxel_shape[-3:], strict=True)]
        return to_glb(vertices=self.vertices, faces=self.faces, attr_volume=self.attrs, coords=self.coords,
                      attr_layout=self.layout, voxel_size=self.voxel_size, aabb=[box_min, box_max],
                      decimation_target=decimation_target, texture_size=texture_size, remesh=remesh, **options)

    def _edit_geometry(self, edit: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Replace the mesh by `edit(vertices, faces)`, which gets and returns tensors on the mesh's device (meshkit
        keeps the vertex dtype and returns int64 faces, narrowed back to the pipeline's int32)."""
        if self.faces.shape[0] == 0:
            return
        vertices, faces = edit(self.vertices.detach(), self.faces.detach())
        self.vertices = vertices.to(self.device, torch.float32)
        self.faces = faces.to(self.device, torch.int32)

    def __repr__(self) -> str:
        return (
            f"MeshWithVoxel({self.vertices.shape[0]} vertices, {self.faces.shape[0]} faces, "
            f"{self.coords.shape[0]} voxels of size {self.voxel_size:g}, attrs {list(self.layout)})"
        )

