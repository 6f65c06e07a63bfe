"""Pipeline building blocks: image preparation, cascade resolution choice, latent normalisation, config, output."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from trellis2.pipelines.cascade import choose_cascade_resolution, quantize_coords
from trellis2.pipelines.config import local_model_name, locate_pipeline_config, model_reference, read_pipeline_config
from trellis2.pipelines.image_preprocessing import has_transparency, preprocess_image
from trellis2.pipelines.normalization import LatentNormalization
from trellis2.pipelines.pipeline_types import PIPELINE_TYPES, pipeline_type
from trellis2.representations import MeshWithVoxel


class Latent:
    """Sparse latent with feats/coords/replace, enough for normalisation."""

    def __init__(self, feats, coords):
        self.feats, self.coords = feats, coords

    def replace(self, feats):
        return Latent(feats, self.coords)


def rgba_square(size=(200, 120), box=(50, 30, 90, 100), alpha=255) -> Image.Image:
    pixels = np.zeros((size[1], size[0], 4), np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = (200, 100, 50, alpha)
    return Image.fromarray(pixels, "RGBA")


def test_alpha_images_are_cropped_square_around_the_object_and_premultiplied():
    out = preprocess_image(rgba_square(), remove_background=None)
    assert out.mode == "RGB"
    assert out.width == out.height == 68  # extent 69 px -> half 34 on each side of the centre
    pixels = np.asarray(out)
    assert tuple(pixels[34, 34]) == (200, 100, 50)
    assert tuple(pixels[34, 0]) == (0, 0, 0)  # outside the object: premultiplied to black


def test_half_transparent_pixels_are_premultiplied():
    image = rgba_square(alpha=255)
    pixels = np.asarray(image).copy()
    pixels[60, 60, 3] = 128
    out = np.asarray(preprocess_image(Image.fromarray(pixels, "RGBA"), remove_background=None))
    assert sorted(set(out[:, :, 0].flatten().tolist())) == [0, 200 * 128 // 255, 200]


def test_opaque_images_go_through_background_removal_and_large_ones_are_downscaled():
    seen = []

    def remove(rgb):
        seen.append(rgb.size)
        return rgba_square(size=rgb.size, box=(10, 10, 50, 40))

    opaque = Image.new("RGB", (2048, 1024), (10, 20, 30))
    assert not has_transparency(opaque) and has_transparency(rgba_square())
    out = preprocess_image(opaque, remove)
    assert seen == [(1024, 512)]
    assert out.size == (38, 38)


def test_preprocessing_errors_are_clear():
    with pytest.raises(ValueError, match="no object"):
        preprocess_image(rgba_square(alpha=100), remove_background=None)
    with pytest.raises(ValueError, match="no background-removal model"):
        preprocess_image(Image.new("RGB", (8, 8)), remove_background=None)
    with pytest.raises(TypeError, match="PIL"):
        preprocess_image(np.zeros((4, 4, 3)), remove_background=None)


def test_quantize_maps_voxel_centres_onto_the_coarser_latent_grid():
    hr = torch.tensor([[0, 0, 0, 0], [0, 7, 7, 7], [0, 8, 0, 511], [1, 0, 0, 0]], dtype=torch.int32)
    coords = quantize_coords(hr, 512, 1024)  # 512 voxels -> 64 latent cells: 8 voxels per cell
    assert coords.tolist() == [[0, 0, 0, 0], [0, 1, 0, 63], [1, 0, 0, 0]]
    assert quantize_coords(hr, 512, 1536)[:, 1:].max() == 95


def test_cascade_resolution_steps_down_by_128_until_the_token_budget_fits():
    generator = torch.Generator().manual_seed(0)
    hr = torch.cat([torch.zeros(4000, 1, dtype=torch.int32), torch.randint(0, 512, (4000, 3), generator=generator,
                                                                         dtype=torch.int32)], 1)
    counts = {res: quantize_coords(hr, 512, res).shape[0] for res in (1536, 1408, 1280, 1152, 1024)}
    coords, res = choose_cascade_resolution(hr, 512, 1536, max_num_tokens=10**6)
    assert res == 1536 and coords.shape[0] == counts[1536]
    coords, res = choose_cascade_resolution(hr, 512, 1536, max_num_tokens=counts[1280] + 1)
    assert res == 1280 and coords.shape[0] == counts[1280] and counts[1408] >= counts[1280] + 1
    coords, res = choose_cascade_resolution(hr, 512, 1536, max_num_tokens=1)
    assert res == 1024 and coords.shape[0] == counts[1024]  # never below 1024
    with pytest.raises(ValueError, match="max_num_tokens"):
        choose_cascade_resolution(hr, 512, 1536, max_num_tokens=0)


def test_normalization_round_trips_and_checks_channels():
    norm = LatentNormalization([1.0, -2.0], [2.0, 0.5])
    latent = Latent(torch.tensor([[0.5, 4.0]]), torch.zeros(1, 4, dtype=torch.int32))
    assert norm.denormalize(latent).feats.tolist() == [[2.0, 0.0]]
    torch.testing.assert_close(norm.normalize(norm.denormalize(latent)).feats, latent.feats)
    with pytest.raises(ValueError, match="3 channels"):
        norm.denormalize(Latent(torch.zeros(1, 3), None))
    with pytest.raises(ValueError, match="positive"):
        LatentNormalization([0.0], [0.0])


def test_pipeline_types_match_the_spec():
    assert {name: spec.sparse_structure_resolution for name, spec in PIPELINE_TYPES.items()} == {
        "512": 32, "1024": 64, "1024_cascade": 32, "1536_cascade": 32}
    assert pipeline_type("512").cond_resolution == 512 and pipeline_type("1536_cascade").cond_resolution == 1024
    assert pipeline_type("1024_cascade").lr_shape_flow == "shape_slat_flow_model_512"
    with pytest.raises(ValueError, match="invalid pipeline type '2048'"):
        pipeline_type("2048")


def test_config_location_and_model_resolution(tmp_path):
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "a.json").write_text("{}")
    (tmp_path / "ckpts" / "a.safetensors").write_bytes(b"")
    (tmp_path / "dinov3").mkdir()
    assert model_reference("ckpts/a", tmp_path, None) == str(tmp_path / "ckpts" / "a")
    assert model_reference("owner/repo/ckpts/b", tmp_path, None) == "owner/repo/ckpts/b"
    assert model_reference("ckpts/b", None, "microsoft/TRELLIS.2-4B") == "microsoft/TRELLIS.2-4B/ckpts/b"
    with pytest.raises(FileNotFoundError, match="too short to be a hub reference"):
        model_reference("ckpts/b", tmp_path, None)
    assert local_model_name("dinov3", tmp_path) == str(tmp_path / "dinov3")
    assert local_model_name("facebook/dinov3", tmp_path) == "facebook/dinov3"
    with pytest.raises(FileNotFoundError, match="no pipeline.json"):
        locate_pipeline_config(tmp_path)
    (tmp_path / "pipeline.json").write_text(json.dumps({"name": "X", "args": {"models": {}}}))
    path, root = locate_pipeline_config(tmp_path)
    assert root == tmp_path
    with pytest.raises(ValueError, match="lacks sparse_structure_sampler"):
        read_pipeline_config(path)
    (tmp_path / "pipeline.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_pipeline_config(path)


def test_mesh_with_voxel_exposes_attributes_by_layout_and_fills_holes():
    meshkit = pytest.importorskip("meshkit")
    if not hasattr(meshkit.Mesh, "fill_holes"):
        pytest.skip("meshkit.Mesh.fill_holes is not available yet")
    vertices = torch.tensor([[0, 0, 0], [0.01, 0, 0], [0, 0.01, 0], [0, 0, 0.01]], dtype=torch.float32)
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2]], dtype=torch.int32)  # tetrahedron missing one face
    attrs = torch.rand(2, 6)
    mesh = MeshWithVoxel(vertices, faces, [-0.5] * 3, 1 / 64, torch.zeros(2, 3, dtype=torch.int32), attrs,
                         (1, 6, 64, 64, 64))
    assert torch.equal(mesh.attr("roughness"), attrs[:, 4:5]) and mesh.voxel_size == 1 / 64
    mesh.fill_holes(max_hole_perimeter=1.0)
    assert mesh.faces.shape == (4, 3) and mesh.faces.dtype == torch.int32
    with pytest.raises(KeyError, match="unknown attribute 'emission'"):
        mesh.attr("emission")
    with pytest.raises(ValueError, match="disagree"):
        MeshWithVoxel(vertices, faces, [-0.5] * 3, 1.0, torch.zeros(3, 3), attrs, (1, 6, 1, 1, 1))


def uv_sphere(rings: int = 16, segments: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack(np.meshgrid(theta, phi, indexing="ij"), -1).reshape(-1, 2)
    body = np.stack([np.sin(ring[:, 0]) * np.cos(ring[:, 1]), np.sin(ring[:, 0]) * np.sin(ring[:, 1]),
                     np.cos(ring[:, 0])], 1)
    vertices = 0.4 * np.concatenate([[[0, 0, 1]], body, [[0, 0, -1]]])
    faces = []
    for r in range(rings - 2):
        for s in range(segments):
            a, b = 1 + r * segments + s, 1 + r * segments + (s + 1) % segments
            faces += [[a, a + segments, b], [b, a + segments, b + segments]]
    bottom = len(vertices) - 1
    for s in range(segments):
        faces += [[0, 1 + s, 1 + (s + 1) % segments]]
        last = 1 + (rings - 2) * segments
        faces += [[bottom, last + (s + 1) % segments, last + s]]
    return torch.tensor(vertices, dtype=torch.float32), torch.tensor(faces, dtype=torch.int32)


def test_mesh_with_voxel_simplify_reaches_the_target_and_keeps_the_volume():
    meshkit = pytest.importorskip("meshkit")
    if not hasattr(meshkit.Mesh, "simplify"):
        pytest.skip("meshkit.Mesh.simplify is not available yet")
    vertices, faces = uv_sphere()
    attrs = torch.rand(5, 6)
    mesh = MeshWithVoxel(vertices, faces, [-0.5] * 3, 1 / 64, torch.zeros(5, 3, dtype=torch.int32), attrs,
                         (1, 6, 64, 64, 64))
    before = faces.shape[0]
    mesh.simplify(before)  # already within the target: unchanged
    assert mesh.faces.shape[0] == before
    mesh.simplify(200)
    assert 150 <= mesh.faces.shape[0] <= 200 and mesh.faces.dtype == torch.int32
    radii = mesh.vertices.norm(dim=1)
    assert float((radii - 0.4).abs().max()) < 0.05 and torch.equal(mesh.attrs, attrs)
    with pytest.raises(ValueError, match="positive face count"):
        mesh.simplify(0)


class RecordingComponent:
    """Records the devices it is moved to (placement only calls `.to`)."""

    def __init__(self):
        self.moves: list[str] = []

    def to(self, device):
        self.moves.append(str(device))
        return self


def test_low_vram_placement_visits_the_device_only_while_in_use():
    from trellis2.pipelines.placement import ComponentPlacement

    component = RecordingComponent()
    with ComponentPlacement("cuda:1", low_vram=True).using(component) as used:
        assert used is component and component.moves == ["cuda:1"]
    assert component.moves == ["cuda:1", "cpu"]
    with pytest.raises(RuntimeError), ComponentPlacement("cuda:1", low_vram=True).using(component):
        raise RuntimeError("stage failed")
    assert component.moves[-1] == "cpu"  # parked again even when the stage fails
    resident = RecordingComponent()
    with ComponentPlacement("cuda:1", low_vram=False).using(resident):
        pass
    assert resident.moves == []


def test_from_pretrained_rejects_overrides_for_unknown_models(tmp_path):
    from trellis2.pipelines import Trellis2ImageTo3DPipeline

    sampler = {"name": "FlowEulerSampler", "args": {"sigma_min": 1e-5}, "params": {}}
    args = {"models": {"sparse_structure_flow_model": "ckpts/ss"}, "sparse_structure_sampler": sampler,
            "shape_slat_sampler": sampler, "tex_slat_sampler": sampler,
            "shape_slat_normalization": {"mean": [0.0], "std": [1.0]},
            "tex_slat_normalization": {"mean": [0.0], "std": [1.0]},
            "image_cond_model": {"name": "DinoV3FeatureExtractor", "args": {"model_name": "dinov3"}}}
    (tmp_path / "pipeline.json").write_text(json.dumps({"name": "Trellis2ImageTo3DPipeline", "args": args}))
    with pytest.raises(ValueError, match=r"unknown models \['shape_decoder'\]; known: sparse_structure_flow_model"):
        Trellis2ImageTo3DPipeline.from_pretrained(tmp_path, model_overrides={"shape_decoder": "x/ckpts/y"})
    with pytest.raises(FileNotFoundError, match="missing"):
        Trellis2ImageTo3DPipeline.from_pretrained(tmp_path, model_overrides={"sparse_structure_flow_model": "./nope"})


def test_hub_pipeline_config_offline_without_cache_gives_an_actionable_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FileNotFoundError, match="not in the local Hugging Face cache"):
        locate_pipeline_config("someone/not-cached-pipeline")
    with pytest.raises(FileNotFoundError, match="neither a folder"):
        locate_pipeline_config("not/a/repo/id")


def test_gpu_out_of_memory_names_the_stage_and_what_to_change():
    from trellis2.pipelines import StageOutOfMemoryError
    from trellis2.pipelines.errors import name_stage_on_oom

    with pytest.raises(StageOutOfMemoryError, match="during shape latent sampling: try low_vram=True") as caught:
        with name_stage_on_oom("shape latent sampling"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")
    assert caught.value.stage == "shape latent sampling" and "Tried to allocate 2.00 GiB)" in str(caught.value)
    with pytest.raises(KeyError), name_stage_on_oom("decoding"):
        raise KeyError("other errors pass through unchanged")
