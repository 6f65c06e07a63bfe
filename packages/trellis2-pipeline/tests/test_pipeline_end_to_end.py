"""Every pipeline type end to end on the CPU with the tiny random pipeline in the hub layout (no stand-ins)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from trellis2.testing import missing_requirements, write_tiny_pipeline

EXPECTED_RESOLUTION = {"512": 512, "1024": 1024, "1024_cascade": 1024, "1536_cascade": 1536}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    missing = missing_requirements(for_running=True)
    if missing:
        pytest.skip(f"end-to-end run needs components not available yet: {', '.join(missing)}")
    return write_tiny_pipeline(tmp_path_factory.mktemp("tiny_e2e"), seed=0, steps=2)


@pytest.fixture(scope="module")
def pipeline(tiny_dir):
    from trellis2.pipelines import Trellis2ImageTo3DPipeline

    return Trellis2ImageTo3DPipeline.from_pretrained(tiny_dir, low_vram=False)


@pytest.fixture(scope="module")
def image() -> Image.Image:
    """An RGBA disc on a transparent background (so no matting model is needed)."""
    yy, xx = np.mgrid[:96, :128]
    inside = (xx - 64) ** 2 + (yy - 48) ** 2 < 30**2
    pixels = np.zeros((96, 128, 4), np.uint8)
    pixels[inside] = (220, 120, 40, 255)
    return Image.fromarray(pixels, "RGBA")


@pytest.fixture(scope="module")
def runs(pipeline, image):
    return {name: pipeline.run(image, seed=3, pipeline_type=name, return_latent=True) for name in EXPECTED_RESOLUTION}


@pytest.mark.parametrize("name", list(EXPECTED_RESOLUTION))
def test_each_pipeline_type_produces_a_mesh_with_pbr_voxels(runs, name):
    meshes, (shape_slat, tex_slat, resolution) = runs[name]
    assert resolution == EXPECTED_RESOLUTION[name] and len(meshes) == 1
    mesh = meshes[0]
    assert mesh.voxel_size == pytest.approx(1 / resolution)
    assert mesh.vertices.dtype == torch.float32 and mesh.faces.dtype == torch.int32
    assert mesh.faces.shape[0] > 0 and mesh.faces.shape[1] == 3  # a real extracted surface
    assert int(mesh.faces.min()) >= 0 and int(mesh.faces.max()) < mesh.vertices.shape[0]
    assert float(mesh.vertices.abs().max()) <= 0.5 + 1.0 / resolution  # dual vertices may sit half a voxel out
    assert mesh.attrs.shape == (mesh.coords.shape[0], 6) and set(mesh.layout) >= {"base_color", "alpha"}
    assert int(mesh.coords.min()) >= 0 and int(mesh.coords.max()) < resolution
    assert shape_slat.feats.shape[1] == 32 and tex_slat.feats.shape[1] == 32
    assert torch.equal(shape_slat.coords, tex_slat.coords)
    assert int(shape_slat.coords[:, 1:].max()) < resolution // 16


def test_latents_are_denormalized_with_the_configured_statistics(runs, tiny_dir, image):
    """Other statistics in pipeline.json change the returned latents exactly by the affine map between them: the
    flows sample the same normalised latents, and the texture flow sees the same re-normalised shape latent."""
    from trellis2.pipelines import Trellis2ImageTo3DPipeline

    config = json.loads((tiny_dir / "pipeline.json").read_text())
    stats = {}
    for name in ("shape_slat_normalization", "tex_slat_normalization"):
        old = {key: torch.tensor(value) for key, value in config["args"][name].items()}
        new = {"mean": old["mean"] + 3.0, "std": old["std"] * 2.0}
        config["args"][name] = {key: value.tolist() for key, value in new.items()}
        stats[name] = (old, new)
    (tiny_dir / "pipeline_restated.json").write_text(json.dumps(config))
    restated = Trellis2ImageTo3DPipeline.from_pretrained(tiny_dir, config_file="pipeline_restated.json",
                                                         low_vram=False)
    _, (shape_new, tex_new, _) = restated.run(image, seed=3, pipeline_type="512", return_latent=True)
    _, (shape_old, tex_old, _) = runs["512"]
    for (old_latent, new_latent), name in (((shape_old, shape_new), "shape_slat_normalization"),
                                           ((tex_old, tex_new), "tex_slat_normalization")):
        old, new = stats[name]
        expected = (old_latent.feats - old["mean"]) / old["std"] * new["std"] + new["mean"]
        torch.testing.assert_close(new_latent.feats, expected, rtol=1e-4, atol=1e-4)


def test_cascade_falls_back_in_steps_of_128_to_fit_the_token_budget(pipeline, image, runs):
    _, (full, _, _) = runs["1536_cascade"]
    budget = full.coords.shape[0]  # the 1536 latent has exactly this many tokens, so it no longer fits
    _, (reduced, _, resolution) = pipeline.run(image, seed=3, pipeline_type="1536_cascade", return_latent=True,
                                              max_num_tokens=budget)
    assert resolution in (1408, 1280, 1152, 1024)
    assert reduced.coords.shape[0] < budget or resolution == 1024


def test_same_seed_is_deterministic_and_another_seed_differs(pipeline, image, runs):
    meshes, (shape_slat, _, _) = runs["512"]
    again, (shape_again, _, _) = pipeline.run(image, seed=3, pipeline_type="512", return_latent=True)
    assert torch.equal(shape_slat.feats, shape_again.feats)
    assert torch.equal(meshes[0].vertices, again[0].vertices) and torch.equal(meshes[0].attrs, again[0].attrs)
    _, (other, _, _) = pipeline.run(image, seed=4, pipeline_type="512", return_latent=True)
    assert other.feats.shape != shape_slat.feats.shape or not torch.equal(other.feats, shape_slat.feats)


def test_batches_progress_and_errors(pipeline, image):
    events = []
    meshes = pipeline.run(image, num_samples=2, seed=1, pipeline_type="512", progress=lambda *e: events.append(e))
    assert len(meshes) == 2
    assert [stage for stage, step, _ in events if step == 1] == ["sparse_structure", "shape_slat", "tex_slat"]
    with pytest.raises(ValueError, match="invalid pipeline type"):
        pipeline.run(image, pipeline_type="2048")
    with pytest.raises(ValueError, match="no object"):
        pipeline.run(Image.new("RGBA", (32, 32)))
