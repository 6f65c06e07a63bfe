"""Which CUDA-graph wrapper a sampling run gets: dense flows keep theirs across runs, sparse flows a fresh one."""

from __future__ import annotations

import pytest
import torch
from trellis2.pipelines import Trellis2ImageTo3DPipeline
from trellis2.testing import missing_requirements, write_tiny_pipeline


class SparseNoise:
    """Stands in for a sparse latent (anything that is not a dense tensor)."""

    feats = torch.zeros(3, 8)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    if missing_requirements():
        pytest.skip(f"tiny pipeline needs components not available yet: {', '.join(missing_requirements())}")
    return Trellis2ImageTo3DPipeline.from_pretrained(write_tiny_pipeline(tmp_path_factory.mktemp("tiny"), seed=0),
                                                     low_vram=False)


def test_dense_stage_reuses_its_wrapper_until_the_model_moves_or_changes(pipeline):
    flow = pipeline.models["sparse_structure_flow_model"]
    dense = torch.zeros(1, 8, 4, 4, 4)
    first = pipeline._graph_runner("sparse_structure_sampler", flow, dense)
    assert first.model is flow
    assert pipeline._graph_runner("sparse_structure_sampler", flow, dense) is first
    pipeline.to("cpu")  # a device move may reallocate parameters: graphs captured before would read stale memory
    moved = pipeline._graph_runner("sparse_structure_sampler", flow, dense)
    assert moved is not first
    other = pipeline.models["shape_slat_flow_model_512"]
    assert pipeline._graph_runner("sparse_structure_sampler", other, dense).model is other


def test_sparse_stage_gets_a_fresh_wrapper_every_run(pipeline):
    flow = pipeline.models["shape_slat_flow_model_512"]
    first = pipeline._graph_runner("shape_slat_sampler", flow, SparseNoise())
    second = pipeline._graph_runner("shape_slat_sampler", flow, SparseNoise())
    assert first is not second and first.model is second.model is flow
