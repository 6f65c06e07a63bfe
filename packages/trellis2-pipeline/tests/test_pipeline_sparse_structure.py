"""Sparse-structure stage of the pipeline on the tiny random models (real flow + decoder, no stand-ins)."""

from __future__ import annotations

import pytest
import torch
from trellis2.pipelines import Trellis2ImageTo3DPipeline
from trellis2.pipelines.normalization import LatentNormalization
from trellis2.pipelines.samplers import build_sampler
from trellis2.pipelines.trellis2_image_to_3d import RunContext
from trellis2.testing import build_tiny_model
from trellis2.testing.tiny_pipeline import COND_CHANNELS, TINY_SAMPLER_PARAMS

STAGES = ("sparse_structure_sampler", "shape_slat_sampler", "tex_slat_sampler")


@pytest.fixture(scope="module")
def pipeline() -> Trellis2ImageTo3DPipeline:
    generator = torch.Generator().manual_seed(0)
    models = {key: build_tiny_model(key, generator) for key in ("sparse_structure_flow_model",
                                                                 "sparse_structure_decoder")}
    samplers = {stage: build_sampler("FlowEulerGuidanceIntervalSampler", {"sigma_min": 1e-5}) for stage in STAGES}
    params = {stage: {"steps": 3, **TINY_SAMPLER_PARAMS[stage]} for stage in STAGES}
    identity = LatentNormalization([0.0] * 32, [1.0] * 32)
    return Trellis2ImageTo3DPipeline(models, samplers, params, identity, identity, image_cond_model=None)


def conditioning(seed: int = 1) -> dict[str, torch.Tensor]:
    cond = torch.randn(2, 20, COND_CHANNELS, generator=torch.Generator().manual_seed(seed))
    return {"cond": cond, "neg_cond": torch.zeros_like(cond)}


def sparse_structure(pipeline, resolution: int, seed: int = 7) -> torch.Tensor:
    return pipeline.sample_sparse_structure(conditioning(), resolution, 2, RunContext.seeded(seed), {})


def test_sparse_structure_is_a_small_nonempty_voxel_set_per_sample(pipeline):
    coords = sparse_structure(pipeline, 32)
    assert coords.dtype == torch.int32 and coords.shape[1] == 4
    assert set(coords[:, 0].tolist()) == {0, 1}
    assert coords[:, 1:].min() >= 0 and coords[:, 1:].max() < 32
    assert 20 < coords.shape[0] < 2000  # the tiny decoder is calibrated to ~0.1% of the 64^3 grid
    assert coords.unique(dim=0).shape[0] == coords.shape[0]


def test_resolution_32_is_the_2x_max_pool_of_the_64_grid_and_runs_are_deterministic(pipeline):
    fine, coarse = sparse_structure(pipeline, 64), sparse_structure(pipeline, 32)
    assert fine[:, 1:].max() < 64
    pooled = torch.cat([fine[:, :1], fine[:, 1:] // 2], 1).unique(dim=0)
    assert torch.equal(pooled, coarse.unique(dim=0))
    assert torch.equal(sparse_structure(pipeline, 32), coarse)
    assert not torch.equal(sparse_structure(pipeline, 32, seed=8), coarse)


def test_progress_and_sampler_overrides_reach_the_sampler(pipeline):
    events = []
    context = RunContext.seeded(0, progress=lambda *event: events.append(event))
    pipeline.sample_sparse_structure(conditioning(), 32, 2, context, {"steps": 2})
    assert events == [("sparse_structure", 1, 2), ("sparse_structure", 2, 2)]


def test_missing_models_and_bad_types_are_reported(pipeline):
    with pytest.raises(ValueError, match="needs models that are not loaded: shape_slat_flow_model_512"):
        pipeline.check_pipeline_type("512")
    with pytest.raises(ValueError, match="invalid pipeline type"):
        pipeline.check_pipeline_type("768")


def test_moving_the_pipeline_moves_its_models(pipeline):
    pipeline.to("cpu")
    assert pipeline.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for model in pipeline.models.values() for p in model.parameters())
