"""`trellis2 serve --ray`: the same API on Ray Serve, on a local cluster with two CPU model replicas.

The task store is Redis (a redis-server started for the test) when redis-server is installed, as in a multi-node
deployment, else SQLite in the data directory."""

import base64
import importlib.util
import io
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("ray.serve", reason="the Ray deployment needs the 'ray' extra")
httpx = pytest.importorskip("httpx")
sys.path.insert(0, str(Path(__file__).parent))
from live_servers import REDIS_SERVER, RedisServer, ray_backend  # noqa: E402


def _png_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16), (10, 20, 200, 255)).save(buffer, format="PNG")
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


def _wait(client, task_id, statuses, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/tasks/{task_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id}: {body}")


def test_ray_deployment_serves_the_contract_with_progress_and_cancel(tmp_path, store_env):
    server = ray_backend(tmp_path / "data", SCRIPTED_STEPS="20", SCRIPTED_STEP_S="0.05", **store_env)
    server.start(timeout_s=180)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.post("/preprocess", json={"image_base64": _png_base64()}).status_code == 200
            ids = [client.post("/tasks", json={"image_base64": _png_base64(), "seed": i}).json()["task_id"]
                   for i in range(4)]
            running = _wait(client, ids[0], ("running",))
            assert running["status"] == "running"
            seen_progress = _wait(client, ids[0], ("succeeded",))["progress"]
            assert seen_progress == {"stage": "sparse_structure", "step": 20, "total": 20}
            cancel_id = client.post("/tasks", json={"image_base64": _png_base64()}).json()["task_id"]
            _wait(client, cancel_id, ("running",))
            client.delete(f"/tasks/{cancel_id}")
            assert _wait(client, cancel_id, ("cancelled", "succeeded"))["status"] == "cancelled"
            for task_id in ids:
                assert _wait(client, task_id, ("succeeded", "failed"))["status"] == "succeeded"
            assert set(client.get(f"/tasks/{ids[1]}/result").json()["rendered"]) >= {"normal", "clay"}
            glb = client.post(f"/tasks/{ids[1]}/extract", json={}).json()
            assert client.get(glb["glb_url"]).content[:4] == b"glTF"
            assert [task["task_id"] for task in client.get("/tasks").json()] == [*ids, cancel_id]
        # With Redis configured, no task lives in a SQLite file on the ingress's disk.
        assert (tmp_path / "data" / "tasks.sqlite3").exists() == (not store_env)
    finally:
        server.stop()
