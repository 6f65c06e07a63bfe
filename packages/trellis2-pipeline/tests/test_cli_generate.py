"""`trellis2 generate` on the tiny random-weight model: a valid GLB and a preview video from a real process, and one
clear line (no traceback, non-zero exit) for every mistake a user can make."""

from __future__ import annotations

import importlib.util
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
from trellis2.commands.generate import write_video
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


def assert_gif(path: Path, size: tuple[int, int], num_frames: int) -> None:
    """`path` is an animated GIF of `size` (width, height) lasting `num_frames` frames at the CLI's 15 fps."""
    with Image.open(path) as gif:
        assert gif.size == size
        durations = []
        for index in range(gif.n_frames):  # identical frames are merged, their durations added
            gif.seek(index)
            durations.append(gif.info["duration"])
        # GIF stores whole centiseconds per frame (66.7 ms becomes 60 or 70)
        assert sum(durations) == pytest.approx(num_frames * 1000 / 15, abs=10 * len(durations))


def read_mp4(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """The frames of `path`, checked to be an H.264 MP4 of `size` (width, height) at 15 fps."""
    imageio = pytest.importorskip("imageio.v2")
    with imageio.get_reader(path, "ffmpeg") as reader:
        meta = reader.get_meta_data()
        frames = list(reader.iter_data())  # list(reader) would preallocate its infinite length
    assert meta["codec"] == "h264" and meta["size"] == size and meta["fps"] == pytest.approx(15)
    assert all(frame.shape == (size[1], size[0], 3) for frame in frames)
    return frames


def test_generate_writes_a_textured_glb_and_a_preview_video(files):
    out = files["root"] / "out"
    result = run_cli("generate", files["cube"], "-o", out, "--model", files["model"], *FAST, "--video",
                     "--video-resolution", 34, "--video-frames", 3)
    assert result.returncode == 0, result.stderr
    glb = out / "cube.glb"
    assert f"wrote {glb}" in result.stdout
    gltf = pygltflib.GLTF2().load(str(glb))
    faces = sum(gltf.accessors[p.indices].count // 3 for mesh in gltf.meshes for p in mesh.primitives)
    assert faces > 0 and len(gltf.images) >= 1
    assert gltf.materials[0].pbrMetallicRoughness.baseColorTexture is not None
    # shaded + normal on top, four half-size maps below: 68 x 51 pixels, the MP4 padded to an even height
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        assert f"wrote {out / 'cube.mp4'}" in result.stdout and not (out / "cube.gif").exists()
        assert len(read_mp4(out / "cube.mp4", (68, 52))) == 3
    else:  # a GIF and a note saying how to get MP4
        assert "imageio-ffmpeg" in result.stderr and not (out / "cube.mp4").exists()
        assert_gif(out / "cube.gif", (68, 51), 3)


def turntable_stub(monkeypatch) -> list[np.ndarray]:
    """Replace the renderer with smooth, frame-dependent 34-pixel maps; returns the preview frames they compose to."""
    from trellis2.utils import render_utils

    ramp = np.linspace(0, 255, 34)

    def render_video(mesh, resolution, num_frames, envmap):
        assert resolution == 34

        def picture(frame: int, key: int) -> np.ndarray:
            blue = np.full((34, 34), 60.0 * frame)
            channels = np.broadcast_arrays(ramp[:, None], ramp[None, :] * (key + 1) / 6, blue)
            return np.stack(channels, -1).astype(np.uint8)

        keys = ("shaded", "normal", "base_color", "metallic", "roughness", "alpha")
        return {key: [picture(i, k) for i in range(num_frames)] for k, key in enumerate(keys)}

    monkeypatch.setattr(render_utils, "render_video", render_video)
    return render_utils.make_pbr_vis_frames(render_video(None, 34, 3, None), 34)


def test_write_video_mp4_pads_to_even_sides_and_keeps_the_pictures(tmp_path, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    expected = turntable_stub(monkeypatch)
    path, note = write_video(None, tmp_path / "cube", None, 34, 3)
    assert path == tmp_path / "cube.mp4" and note is None
    frames = read_mp4(path, (68, 52))  # 51 rows padded with a black one, not rescaled to 80 x 64
    assert len(frames) == 3
    for frame, wanted in zip(frames, expected, strict=True):
        assert np.abs(frame[:51].astype(float) - wanted).mean() < 6  # lossy H.264, same picture
        assert frame[51].mean() < frame[50].mean() / 3  # the padding is dark (chroma shared with row 50 bleeds)


def test_write_video_falls_back_to_gif_without_imageio_ffmpeg(tmp_path, monkeypatch):
    turntable_stub(monkeypatch)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # find_spec and import now report it missing
    path, note = write_video(None, tmp_path / "cube", None, 34, 3)
    assert path == tmp_path / "cube.gif" and not (tmp_path / "cube.mp4").exists()
    assert "imageio-ffmpeg" in note and str(path) in note
    assert_gif(path, (68, 51), 3)


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
