"""`trellis2 generate` on the tiny random-weight model: a valid GLB and a preview video from a real process, and one
clear line (no traceback, non-zero exit) for every mistake a user can make."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from trellis2.cli import main
from trellis2.pipelines import StageOutOfMemoryError, Trellis2ImageTo3DPipeline
from trellis2.testing import missing_requirements, write_tiny_pipeline

pygltflib = pytest.importorskip("pygltflib")
FAST = ["--device", "cpu", "--pipeline-type", "512", "--steps", "1", "--texture-size", "256",
        "--decimation-target", "20000"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A tiny model folder and input images: an object, a fully transparent one and a file that is no image."""
    missing = missing_requirements(for_running=True)
    if missing:
        pytest.skip(f"the tiny pipeline needs components this environment lacks: {', '.join(missing)}")
    root = tmp_path_factory.mktemp("cli_generate")
    pixels = np.zeros((64, 64, 4), np.uint8)
    pixels[16:48, 16:48] = (200, 120, 40, 255)
    Image.fromarray(pixels, "RGBA").save(root / "cube.png")
    Image.fromarray(np.zeros((32, 32, 4), np.uint8), "RGBA").save(root / "empty.png")
    (root / "notes.png").write_text("not an image")
    return {"model": write_tiny_pipeline(root / "model", seed=0, steps=2), "root": root,
            **{name: root / f"{name}.png" for name in ("cube", "empty", "notes")}}


def run_cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trellis2.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def invoke(*args: object):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line_error(exit_code: int, output: str, *fragments: str) -> None:
    assert exit_code != 0
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    for fragment in fragments:
        assert fragment in errors[0], output


def test_generate_writes_a_textured_glb_and_a_preview_video(files):
    out = files["root"] / "out"
    result = run_cli("generate", files["cube"], "-o", out, "--model", files["model"], *FAST, "--video",
                     "--video-resolution", 32, "--video-frames", 3)
    assert result.returncode == 0, result.stderr
    glb = out / "cube.glb"
    assert f"wrote {glb}" in result.stdout
    gltf = pygltflib.GLTF2().load(str(glb))
    faces = sum(gltf.accessors[p.indices].count // 3 for mesh in gltf.meshes for p in mesh.primitives)
    assert faces > 0 and len(gltf.images) >= 1
    assert gltf.materials[0].pbrMetallicRoughness.baseColorTexture is not None
    videos = sorted(out.glob("cube.mp4")) + sorted(out.glob("cube.gif"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0
    if videos[0].suffix == ".gif":  # no imageio-ffmpeg here: a GIF and a note saying how to get MP4
        assert "imageio-ffmpeg" in result.stderr
        with Image.open(videos[0]) as gif:
            assert gif.size == (64, 48)  # shaded + normal on top, four half-size maps below
            durations = []
            for index in range(gif.n_frames):  # identical frames are merged, their durations added
                gif.seek(index)
                durations.append(gif.info["duration"])
            assert sum(durations) == pytest.approx(3 * 1000 / 15, abs=10)  # GIF stores centiseconds


def test_unreadable_image(files):
    result = run_cli("generate", files["notes"], "--model", files["model"], "--device", "cpu")
    assert_one_line_error(result.returncode, result.stderr, "cannot read", "notes.png")


def test_no_gpu_without_device_cpu(files):
    result = run_cli("generate", files["cube"], "--model", files["model"], env={"CUDA_VISIBLE_DEVICES": ""})
    assert_one_line_error(result.returncode, result.stderr, "no CUDA GPU", "--device cpu")


def test_image_without_an_object(files):
    result = invoke("generate", files["empty"], "--model", files["model"], "--device", "cpu")
    assert_one_line_error(result.exit_code, result.output, "empty.png", "no object", "fully transparent")


@pytest.mark.parametrize("model", ["./no-such-model", "/no/such/folder", "no_slash_name"])
def test_missing_model_folder(files, model):
    result = invoke("generate", files["cube"], "--model", model, "--device", "cpu")
    assert_one_line_error(result.exit_code, result.output, model, "no such folder")


def test_hub_model_unavailable_offline(files, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    result = invoke("generate", files["cube"], "--model", "nobody/not-cached-model", "--device", "cpu")
    assert_one_line_error(result.exit_code, result.output, "nobody/not-cached-model", "not in the local")


def test_gated_repository_without_token(files, monkeypatch):
    from huggingface_hub.errors import GatedRepoError

    def refuse(repo_id, filename, **kwargs):
        response = types.SimpleNamespace(headers={}, request=None)
        raise GatedRepoError(f"401 Client Error: cannot access gated repo {repo_id}", response=response)

    monkeypatch.setattr("trellis2_models.loading.files.hf_hub_download", refuse)
    result = invoke("generate", files["cube"], "--model", "microsoft/TRELLIS.2-4B", "--device", "cpu")
    assert_one_line_error(result.exit_code, result.output, "gated repository", "hf auth login", "HF_TOKEN")


def test_out_of_gpu_memory(files, monkeypatch):
    def exhausted(self, image, **kwargs):
        raise StageOutOfMemoryError("shape latent sampling", "CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Trellis2ImageTo3DPipeline, "run", exhausted)
    result = invoke("generate", files["cube"], "--model", files["model"], "--device", "cpu")
    assert_one_line_error(result.exit_code, result.output, "out of GPU memory during shape latent sampling",
                          "--low-vram", "--pipeline-type 512")


def test_out_of_memory_while_loading(files, monkeypatch):
    def exhausted(self, device):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

    monkeypatch.setattr(Trellis2ImageTo3DPipeline, "to", exhausted)
    result = invoke("generate", files["cube"], "--model", files["model"], "--device", "cpu")
    assert_one_line_error(result.exit_code, result.output, "out of GPU memory", "Tried to allocate 8.00 GiB")


@pytest.mark.parametrize(("args", "fragments"), [
    (["--pipeline-type", "2048"], ["--pipeline-type", "512, 1024, 1024_cascade, 1536_cascade"]),
    (["--device", "tpu7"], ["unknown device 'tpu7'"]),
    (["--video", "--video-resolution", "33"], ["--video-resolution", "even"]),
    (["--video", "--envmap", "moon"], ["--envmap moon", "forest, sunset, courtyard"]),
])
def test_bad_options(files, args, fragments):
    result = invoke("generate", files["cube"], "--model", files["model"], "--device", "cpu", *args)
    assert_one_line_error(result.exit_code, result.output, *fragments)


def test_output_names(files):
    result = invoke("generate", files["cube"], files["cube"], "-o", files["root"] / "one.glb",
                    "--model", files["model"], "--device", "cpu")
    assert_one_line_error(result.exit_code, result.output, "names one file but 2 images")
    from trellis2.commands.generate import output_paths

    images = (Path("a/cube.png"), Path("b/cube.png"), Path("cube.jpg"))
    assert output_paths(images, Path("out")) == [Path("out/cube.glb"), Path("out/cube_2.glb"), Path("out/cube_3.glb")]
    assert output_paths(images[:1], Path("x/asset.GLB")) == [Path("x/asset.GLB")]
