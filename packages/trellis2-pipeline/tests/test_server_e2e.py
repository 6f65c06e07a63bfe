"""The whole web contract against the real engine: `uvicorn trellis2.server:app` on the tiny random-weight pipeline
(CPU), driven over HTTP from preprocessing to the downloaded, textured GLB. No scripted stand-ins."""

import base64
import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pygltflib = pytest.importorskip("pygltflib")
trimesh = pytest.importorskip("trimesh")
sys.path.insert(0, str(Path(__file__).parent))
from live_servers import tiny_pipeline_backend  # noqa: E402
from trellis2.server.previews import PREVIEW_MODES  # noqa: E402

FAST_SAMPLERS = {stage: {"steps": 2} for stage in ("sparse_structure", "shape_slat", "tex_slat")}


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_model):
    server = tiny_pipeline_backend(tmp_path_factory.mktemp("e2e"), tiny_model).start(timeout_s=180)
    with httpx.Client(base_url=server.url, timeout=120) as http:
        yield http
    server.stop()


def _png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _disc_on_transparent(width=160, height=120) -> Image.Image:
    """An orange disc off-centre on a transparent canvas: preprocessing must crop it square."""
    yy, xx = np.mgrid[:height, :width]
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[(xx - 100) ** 2 + (yy - 60) ** 2 < 30**2] = (230, 120, 30, 255)
    return Image.fromarray(pixels, "RGBA")


def _wait(client, task_id, statuses=("succeeded", "failed", "cancelled"), timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/tasks/{task_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not reach {statuses}: {body}")


def _decode_data_url(url: str) -> Image.Image:
    header, _, payload = url.partition(",")
    assert header == "data:image/jpeg;base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    image.load()
    return image


@pytest.fixture(scope="module")
def finished_task(client) -> str:
    processed = client.post("/preprocess", json={"image_base64": _png_base64(_disc_on_transparent())})
    assert processed.status_code == 200, processed.text
    image = Image.open(io.BytesIO(base64.b64decode(processed.json()["image_base64"])))
    assert image.mode == "RGB" and image.width == image.height  # object-centred square, premultiplied
    assert abs(image.width - 60) <= 2 and np.asarray(image)[image.height // 2, image.width // 2, 0] > 200

    body = {"image_base64": processed.json()["image_base64"], "seed": 1, "resolution": "512",
            "sampler_params": FAST_SAMPLERS}
    task_id = client.post("/tasks", json=body).json()["task_id"]
    status = _wait(client, task_id)
    assert status["status"] == "succeeded", status
    # the last progress report is the last preview frame
    assert status["progress"] == {"stage": "previews", "step": 2, "total": 2}
    return task_id


def test_result_has_every_preview_mode_as_non_blank_jpegs(client, finished_task):
    result = client.get(f"/tasks/{finished_task}/result").json()
    assert result["resolution"] == "512"
    assert set(result["rendered"]) == set(PREVIEW_MODES)
    frames = {mode: [np.asarray(_decode_data_url(url)) for url in urls] for mode, urls in result["rendered"].items()}
    for mode, images in frames.items():
        assert len(images) == 2, mode
        for image in images:
            assert image.shape == (96, 96, 3), mode
            assert int(image.max()) > 60, f"{mode} frame is blank"  # the surface shows up on the black background
        assert not np.array_equal(images[0], images[1]), f"{mode}: both turntable frames are the same view"
    # the same view of the same surface, drawn differently per mode
    assert not np.array_equal(frames["normal"][0], frames["clay"][0])
    assert not np.array_equal(frames["shaded_forest"][0], frames["shaded_sunset"][0])


def test_extract_and_download_a_textured_glb(client, finished_task):
    extracted = client.post(f"/tasks/{finished_task}/extract", json={"decimation_target": 10000, "texture_size": 1024})
    assert extracted.status_code == 200, extracted.text
    body = extracted.json()
    download = client.get(body["glb_url"])
    assert download.status_code == 200 and download.headers["content-type"] == "model/gltf-binary"
    assert Path(body["glb_path"]).read_bytes() == download.content

    gltf = pygltflib.GLTF2.load_from_bytes(download.content)
    material = gltf.materials[0].pbrMetallicRoughness
    assert material.baseColorTexture is not None and len(gltf.images) >= 1
    mesh = trimesh.load(io.BytesIO(download.content), file_type="glb", force="mesh")
    assert len(mesh.faces) > 0 and mesh.visual.uv.shape == (len(mesh.vertices), 2)
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
    assert texture.shape[:2] == (1024, 1024) and texture.std() > 1.0  # baked colours, not one flat fill


def test_a_running_generation_can_be_cancelled(client):
    slow = {stage: {"steps": 60} for stage in ("sparse_structure", "shape_slat", "tex_slat")}
    body = {"image_base64": _png_base64(_disc_on_transparent()), "seed": 2, "resolution": "512",
            "sampler_params": slow}
    task_id = client.post("/tasks", json=body).json()["task_id"]
    _wait(client, task_id, ("running",))
    assert client.delete(f"/tasks/{task_id}").status_code == 200
    status = _wait(client, task_id)
    assert status["status"] == "cancelled" and status["error"] == "cancelled by request"
    assert client.get(f"/tasks/{task_id}/result").status_code == 409


def test_an_image_without_an_object_is_rejected_with_a_reason(client):
    empty = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    response = client.post("/preprocess", json={"image_base64": _png_base64(empty)})
    assert response.status_code == 400 and "no object" in response.json()["detail"]
