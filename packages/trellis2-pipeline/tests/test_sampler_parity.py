"""The guidance-interval sampler over the tiny ss_flow model reproduces upstream's trajectory (shared/parity)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from trellis2.pipelines.samplers import FlowEulerGuidanceIntervalSampler

PARITY = Path(__file__).resolve().parents[3] / ".." / "shared" / "parity"


def relative_l2(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours - ref).norm() / ref.norm())


def test_sampler_trajectory_matches_upstream_golden_vectors():
    if not (PARITY / "sampler.io.safetensors").is_file():
        pytest.skip(f"parity vectors not found at {PARITY} (the shared/ folder beside the repository)")
    trellis2_models = pytest.importorskip("trellis2_models")
    from safetensors.torch import load_file

    params = json.loads((PARITY / "sampler.json").read_text())
    io = load_file(str(PARITY / "sampler.io.safetensors"))
    model = trellis2_models.from_pretrained(str(PARITY / params["model"]), dtype=torch.float32)
    sampler = FlowEulerGuidanceIntervalSampler(sigma_min=params["sigma_min"])
    result = sampler.sample(
        model,
        io["noise"],
        io["cond"],
        torch.zeros_like(io["cond"]),
        steps=params["steps"],
        rescale_t=params["rescale_t"],
        guidance_strength=params["guidance_strength"],
        guidance_rescale=params["guidance_rescale"],
        guidance_interval=params["guidance_interval"],
        verbose=False,
    )
    assert len(result.pred_x_0) == params["steps"]
    errors = {f"pred_x0_{k}": relative_l2(x0, io[f"pred_x0_{k}"]) for k, x0 in enumerate(result.pred_x_0)}
    errors["samples"] = relative_l2(result.samples, io["samples"])
    assert max(errors.values()) <= 1e-3, errors
