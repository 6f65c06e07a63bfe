"""Request and response bodies of the web API, with the validation a public endpoint needs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Resolution = Literal["512", "1024", "1536"]
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class SamplerParams(BaseModel):
    """Per-stage overrides of the flow sampler; names as in pipeline.json, ranges that keep a task sane."""

    model_config = ConfigDict(extra="forbid")
    steps: int | None = Field(None, ge=1, le=100)
    guidance_strength: float | None = Field(None, ge=0.0, le=50.0)
    guidance_rescale: float | None = Field(None, ge=0.0, le=1.0)
    guidance_interval: tuple[float, float] | None = None
    rescale_t: float | None = Field(None, gt=0.0, le=20.0)

    def overrides(self) -> dict:
        return self.model_dump(exclude_none=True)


class StageSamplerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sparse_structure: SamplerParams = Field(default_factory=SamplerParams)
    shape_slat: SamplerParams = Field(default_factory=SamplerParams)
    tex_slat: SamplerParams = Field(default_factory=SamplerParams)


class ImageBody(BaseModel):
    image_base64: str = Field(..., description="PNG (or JPEG/WebP) bytes, base64-encoded.")


class TaskRequest(ImageBody):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    resolution: Resolution = "1024"
    sampler_params: StageSamplerParams = Field(default_factory=StageSamplerParams)


class TaskCreated(BaseModel):
    task_id: str


class TaskSummary(BaseModel):
    task_id: str
    status: Status
    created_at: float = Field(..., description="Submission time, seconds since the epoch.")


class StageProgress(BaseModel):
    stage: str | None = None
    step: int | None = None
    total: int | None = None


class TaskStatus(BaseModel):
    status: Status
    error: str | None = None
    progress: StageProgress = Field(default_factory=StageProgress)
    queue_position: int | None = None


class RenderedPreviews(BaseModel):
    rendered: dict[str, list[str]]
    resolution: str


class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decimation_target: int = Field(500000, ge=1000, le=5_000_000)
    texture_size: int = Field(2048, ge=256, le=8192)


class ExtractResult(BaseModel):
    glb_path: str
    glb_url: str


class ErrorBody(BaseModel):
    detail: str
