"""The four TRELLIS.2 image-to-3D pipeline types and which models and resolutions each uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineType:
    """One generation recipe: sparse-structure grid, flows per stage, and the output resolution.

    A cascade samples the shape first with `lr_shape_flow` at 512 and conditioning at 512, then re-samples it at
    `resolution` (or lower, see `choose_cascade_resolution`) with `shape_flow` and 1024 conditioning.
    """

    name: str
    sparse_structure_resolution: int
    shape_flow: str
    tex_flow: str
    resolution: int
    lr_shape_flow: str | None = None

    @property
    def is_cascade(self) -> bool:
        """Whether the shape is sampled twice (low resolution, then high resolution)."""
        return self.lr_shape_flow is not None

    @property
    def cond_resolution(self) -> int:
        """Image size of the conditioning used by the final shape and texture stages."""
        return 512 if self.resolution == 512 else 1024

    @property
    def required_models(self) -> tuple[str, ...]:
        """Every model this type runs."""
        flows = (self.lr_shape_flow, self.shape_flow, self.tex_flow) if self.is_cascade else (
            self.shape_flow, self.tex_flow)
        return ("sparse_structure_flow_model", "sparse_structure_decoder", *flows, "shape_slat_decoder",
                "tex_slat_decoder")


PIPELINE_TYPES: dict[str, PipelineType] = {
    "512": PipelineType("512", 32, "shape_slat_flow_model_512", "tex_slat_flow_model_512", 512),
    "1024": PipelineType("1024", 64, "shape_slat_flow_model_1024", "tex_slat_flow_model_1024", 1024),
    "1024_cascade": PipelineType(
        "1024_cascade", 32, "shape_slat_flow_model_1024", "tex_slat_flow_model_1024", 1024,
        lr_shape_flow="shape_slat_flow_model_512",
    ),
    "1536_cascade": PipelineType(
        "1536_cascade", 32, "shape_slat_flow_model_1024", "tex_slat_flow_model_1024", 1536,
        lr_shape_flow="shape_slat_flow_model_512",
    ),
}


def pipeline_type(name: str) -> PipelineType:
    """Look up a pipeline type by name with a clear error listing the valid ones."""
    if name not in PIPELINE_TYPES:
        raise ValueError(f"invalid pipeline type {name!r}; choose one of {', '.join(PIPELINE_TYPES)}")
    return PIPELINE_TYPES[name]
