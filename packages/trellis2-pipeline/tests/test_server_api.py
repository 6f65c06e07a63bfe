"""HTTP contract of the back end, driven through FastAPI's TestClient with a small scripted engine.

The engine here stands in for the model so the queue, persistence, validation and error paths can be exercised in
milliseconds; the end-to-end test with the real tiny pipeline lives in test_server_e2e.py.
"""

import base64
import io
import sys
import time
from pathlib import Path

import pytest
import trimesh
from PIL import Image

fastapi = pytest.importorskip("fastapi")
sys.path.insert(0, str(Path(__file__).parent))
from fastapi.testclient import TestClient  # noqa: E402
from scripted_engine import MODES, ScriptedEngine  # noqa: E402
from trellis2.server import ServiceSettings, create_app  # noqa: E402
from trellis2.server.store import open_store  # noqa: E402


def png_base64(size=(16, 16)) -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", size, (200, 10, 10, 255)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def make_client(tmp_path):
    clients = []

    def make(engine=None, **overrides):
        settings = ServiceSettings(data_dir=tmp_path / "data", **overrides)
        client = TestClient(create_app(settings, engine_factory=lambda: engine or ScriptedEngine()))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def wait_for(client, task_id, statuses=("succeeded", "failed", "cancelled"), timeout=10.0, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/tasks/{task_id}", headers=headers).json()
        if body["status"] in statuses:
            return body
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} still {body} after {timeout}s")


def test_full_contract_submit_status_result_extract_download(make_client):
    client = make_client()
    response = client.post("/tasks", json={"image_base64": png_base64(), "seed": 3, "resolution": "512"})
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    status = wait_for(client, task_id)
    assert status["status"] == "succeeded" and status["error"] is None
    assert status["progress"] == {"stage": "sparse_structure", "step": 3, "total": 3}

    result = client.get(f"/tasks/{task_id}/result").json()
    assert result["resolution"] == "512"
    assert set(result["rendered"]) == set(MODES)
    frame = result["rendered"]["normal"][1]
    assert frame.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(frame.split(",", 1)[1])))
    assert decoded.format == "JPEG" and decoded.getpixel((1, 1))[0] > 50  # frame 1 is the red one

    extracted = client.post(f"/tasks/{task_id}/extract", json={"decimation_target": 20000, "texture_size": 512})
    assert extracted.status_code == 200, extracted.text
    body = extracted.json()
    assert Path(body["glb_path"]).is_absolute() and Path(body["glb_path"]).name.startswith("sample_")
    download = client.get(body["glb_url"])
    assert download.status_code == 200
    assert download.content[:4] == b"glTF"
    cube = trimesh.load(io.BytesIO(download.content), file_type="glb", force="mesh")
    assert cube.extents == pytest.approx([2.0, 2.0, 2.0])
    assert download.headers["content-type"] == "model/gltf-binary"


def test_preprocess_returns_png(make_client):
    client = make_client()
    response = client.post("/preprocess", json={"image_base64": png_base64()})
    assert response.status_code == 200
    image = Image.open(io.BytesIO(base64.b64decode(response.json()["image_base64"])))
    assert image.format == "PNG" and image.size == (8, 8)


class FailingEngine(ScriptedEngine):
    """Preprocessing and export fail the way the real engine does for bad input, or with an internal error."""

    def __init__(self, extract_error: Exception):
        super().__init__()
        self.extract_error = extract_error

    def preprocess(self, image):
        raise ValueError("the image contains no object: its alpha matte is (almost) empty")

    def extract_glb(self, workdir, decimation_target, texture_size, out_path):
        raise self.extract_error


@pytest.mark.parametrize(("error", "status", "fragment"), [
    (ValueError("charts cannot be packed: raise texture_size"), 400, "cannot export this asset: charts cannot"),
    (RuntimeError("bake kernel crashed"), 500, "GLB export failed: RuntimeError: bake kernel crashed"),
])
def test_engine_errors_come_back_as_readable_messages(make_client, error, status, fragment):
    client = make_client(engine=FailingEngine(error))
    response = client.post("/preprocess", json={"image_base64": png_base64()})
    assert response.status_code == 400 and "contains no object" in response.json()["detail"]
    task_id = client.post("/tasks", json={"image_base64": png_base64()}).json()["task_id"]
    wait_for(client, task_id)
    response = client.post(f"/tasks/{task_id}/extract", json={})
    assert response.status_code == status and fragment in response.json()["detail"]
    assert client.get(f"/tasks/{task_id}/glb").status_code == 409  # nothing half-written is served


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"image_base64": "@@not base64@@"}, 400, "not valid base64"),
        ({"image_base64": base64.b64encode(b"hello world, no image").decode()}, 400, "does not decode to an image"),
        ({"image_base64": png_base64(), "resolution": "2048"}, 422, "resolution"),
        ({"image_base64": png_base64(), "sampler_params": {"shape_slat": {"steps": 0}}}, 422, "steps"),
        ({"image_base64": png_base64(), "sampler_params": {"tex_slat": {"guidance_rescale": 3}}}, 422,
         "guidance_rescale"),
        ({"image_base64": png_base64(), "sampler_params": {"tex_slat": {"bogus": 1}}}, 422, "bogus"),
        ({"image_base64": png_base64(), "seed": -1}, 422, "seed"),
    ],
)
def test_invalid_submissions_get_4xx_with_a_message(make_client, body, status, fragment):
    response = make_client().post("/tasks", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_oversized_image_is_rejected_with_413(make_client):
    client = make_client(max_image_pixels=100)
    response = client.post("/tasks", json={"image_base64": png_base64((20, 20))})
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_unknown_task_404_and_result_before_success_409(make_client):
    client = make_client(engine=ScriptedEngine(steps=50, step_s=0.02))
    assert client.get("/tasks/nope").status_code == 404
    assert client.get("/tasks/nope/result").status_code == 404
    task_id = client.post("/tasks", json={"image_base64": png_base64()}).json()["task_id"]
    assert client.get(f"/tasks/{task_id}/result").status_code == 409
    assert client.post(f"/tasks/{task_id}/extract", json={}).status_code == 409
    assert client.get(f"/tasks/{task_id}/glb").status_code == 409
    client.delete(f"/tasks/{task_id}")


def test_failed_task_reports_the_error(make_client):
    client = make_client(engine=ScriptedEngine(fail_on_seed=7))
    task_id = client.post("/tasks", json={"image_base64": png_base64(), "seed": 7}).json()["task_id"]
    status = wait_for(client, task_id)
    assert status["status"] == "failed" and "out of memory in stage shape_slat" in status["error"]


def test_cancel_running_and_queued_tasks(make_client):
    engine = ScriptedEngine(steps=200, step_s=0.01)
    client = make_client(engine=engine, worker_count=1, max_active_tasks=1)
    running = client.post("/tasks", json={"image_base64": png_base64()}).json()["task_id"]
    queued = client.post("/tasks", json={"image_base64": png_base64()}).json()["task_id"]
    wait_for(client, running, statuses=("running",))
    assert client.get(f"/tasks/{queued}").json()["queue_position"] == 0
    assert client.delete(f"/tasks/{queued}").json()["status"] == "cancelled"
    client.delete(f"/tasks/{running}")
    status = wait_for(client, running)
    assert status["status"] == "cancelled"
    assert status["progress"]["step"] < 200


def test_full_queue_answers_429_with_retry_after(make_client):
    client = make_client(engine=ScriptedEngine(steps=100, step_s=0.02), max_queued_tasks=2, worker_count=1,
                         retry_after_s=3)
    ids = [client.post("/tasks", json={"image_base64": png_base64()}).json()["task_id"] for _ in range(2)]
    response = client.post("/tasks", json={"image_base64": png_base64()})
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    for task_id in ids:
        client.delete(f"/tasks/{task_id}")


def test_api_keys_authenticate_and_isolate_tasks(make_client):
    client = make_client(api_keys=frozenset({"alice", "bob"}))
    image = {"image_base64": png_base64()}
    assert client.post("/tasks", json=image).status_code == 401
    assert client.post("/tasks", json=image, headers={"Authorization": "Bearer mallory"}).status_code == 401
    alice = {"Authorization": "Bearer alice"}
    task_id = client.post("/tasks", json=image, headers=alice).json()["task_id"]
    assert client.get(f"/tasks/{task_id}", headers=alice).status_code == 200
    assert client.get(f"/tasks/{task_id}", headers={"X-API-Key": "bob"}).status_code == 404
    assert [task["task_id"] for task in client.get("/tasks", headers=alice).json()] == [task_id]
    assert client.get("/tasks", headers={"X-API-Key": "bob"}).json() == []
    wait_for(client, task_id, headers=alice)


def test_restart_requeues_interrupted_running_task(tmp_path):
    settings = ServiceSettings(data_dir=tmp_path / "data")
    store = open_store(None, settings.data_dir, settings.node_id)  # the same node, before its restart
    task = store.create({"seed": 1, "resolution": "512", "sampler_params": {}})
    assert store.claim_next().id == task.id  # the server "dies" while it runs
    store.close()
    client = TestClient(create_app(settings, engine_factory=ScriptedEngine))
    # save the input the dead server had stored before it crashed
    from trellis2.server.engine import ArtifactStore

    ArtifactStore(tmp_path / "data" / "tasks").save_input(task.id, Image.new("RGB", (4, 4)))
    with client:
        assert wait_for(client, task.id)["status"] == "succeeded"


def test_openapi_schema_lists_the_contract(make_client):
    schema = make_client().get("/openapi.json").json()
    for path in ("/preprocess", "/tasks", "/tasks/{task_id}", "/tasks/{task_id}/result",
                 "/tasks/{task_id}/extract", "/tasks/{task_id}/glb", "/healthz"):
        assert path in schema["paths"], path
    assert "delete" in schema["paths"]["/tasks/{task_id}"]

