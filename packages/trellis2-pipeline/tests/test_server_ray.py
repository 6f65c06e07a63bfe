"""`trellis2 serve --ray`: the same API on Ray Serve, on a local cluster with two CPU replicas of the tiny
random-weight pipeline.

The task store is Redis (a redis-server started for the test) when redis-server is installed, as in a multi-node
deployment, else SQLite in the data directory."""

import base64
import importlib.util
import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray.serve", reason="the Ray deployment needs the 'ray' extra")
httpx = pytest.importorskip("httpx")
sys.path.insert(0, str(Path(__file__).parent))
from live_servers import FAST_PREVIEWS, REDIS_SERVER, RedisServer, ray_backend  # noqa: E402
from trellis2.server.previews import PREVIEW_MODES  # noqa: E402

#: Sampler steps of a task that runs until it is cancelled (the API's maximum).
LONG = {stage: {"steps": 100} for stage in ("sparse_structure", "shape_slat", "tex_slat")}


def _png_base64() -> str:
    """A blue square on a transparent background: /preprocess crops it, tasks preprocess it themselves."""
    pixels = np.zeros((32, 32, 4), np.uint8)
    pixels[8:24, 10:26] = (10, 20, 200, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def store_env(tmp_path):
    """TRELLIS2_STORE_URL of a fresh redis-server when one (and the redis client) is installed, else no setting."""
    if REDIS_SERVER is None or importlib.util.find_spec("redis") is None:
        yield {}
        return
    server = RedisServer(tmp_path / "redis").start()
    yield {"TRELLIS2_STORE_URL": server.url}
    server.stop()


def _wait(client, task_id, statuses, timeout=300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/tasks/{task_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id}: {body}")


def test_ray_deployment_serves_the_contract_with_progress_and_cancel(tmp_path, tiny_model, store_env):
    server = ray_backend(tmp_path / "data", tiny_model, **FAST_PREVIEWS, **store_env)
    server.start(timeout_s=300)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            cropped = client.post("/preprocess", json={"image_base64": _png_base64()})
            assert cropped.status_code == 200, cropped.text
            width, height = Image.open(io.BytesIO(base64.b64decode(cropped.json()["image_base64"]))).size
            assert width == height and abs(width - 16) <= 2  # the square object, cropped on a replica
            body = {"image_base64": _png_base64(), "resolution": "512"}
            ids = [client.post("/tasks", json={**body, "seed": seed}).json()["task_id"] for seed in range(4)]
            cancel_id = client.post("/tasks", json={**body, "sampler_params": LONG}).json()["task_id"]
            # progress streams back from the replica step by step; cancelling stops the run between two steps
            progress = _wait(client, cancel_id, ("running",))["progress"]
            while progress["step"] is None:
                progress = _wait(client, cancel_id, ("running",))["progress"]
            assert progress["stage"] == "sparse_structure" and progress["total"] == 100
            client.delete(f"/tasks/{cancel_id}")
            cancelled = _wait(client, cancel_id, ("cancelled", "succeeded"))
            assert cancelled["status"] == "cancelled" and cancelled["error"] == "cancelled by request"
            for task_id in ids:
                status = _wait(client, task_id, ("succeeded", "failed"))
                assert status["status"] == "succeeded", status
                assert status["progress"] == {"stage": "previews", "step": 1, "total": 1}
            assert set(client.get(f"/tasks/{ids[1]}/result").json()["rendered"]) == set(PREVIEW_MODES)
            glb = client.post(f"/tasks/{ids[1]}/extract", json={"decimation_target": 1000, "texture_size": 256})
            assert glb.status_code == 200, glb.text
            assert client.get(glb.json()["glb_url"]).content[:4] == b"glTF"
            assert [task["task_id"] for task in client.get("/tasks").json()] == [*ids, cancel_id]
        # With Redis configured, no task lives in a SQLite file on the ingress's disk.
        assert (tmp_path / "data" / "tasks.sqlite3").exists() == (not store_env)
    finally:
        server.stop()
