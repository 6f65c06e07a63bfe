"""The back end as users run it: `uvicorn trellis2.server:app` in a subprocess, driven over real HTTP.

The engine is the scripted one (TRELLIS2_ENGINE) so that crash recovery, load and schema fuzzing run in seconds;
test_server_e2e.py repeats the contract with the real tiny pipeline.
"""

import base64
import io
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

sys.path.insert(0, str(Path(__file__).parent))
from live_servers import backend  # noqa: E402


def _png_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16), (10, 200, 10, 255)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def make(**env):
        server = backend(tmp_path / "data", **env).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _wait_terminal(client, task_id, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/tasks/{task_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} not finished: {body}")


def test_kill_9_mid_run_then_restart_loses_nothing(server_factory):
    env = {"SCRIPTED_STEPS": "40", "SCRIPTED_STEP_S": "0.05", "TRELLIS2_WORKER_COUNT": "1"}
    server = server_factory(**env)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        ids = [client.post("/tasks", json={"image_base64": _png_base64(), "seed": i}).json()["task_id"]
               for i in range(4)]
        deadline = time.monotonic() + 20
        while client.get(f"/tasks/{ids[0]}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    server.kill()

    restarted = server_factory(**{**env, "SCRIPTED_STEP_S": "0"})
    with httpx.Client(base_url=restarted.url, timeout=10) as client:
        statuses = [_wait_terminal(client, task_id)["status"] for task_id in ids]
        assert statuses == ["succeeded"] * 4
        assert len(client.get(f"/tasks/{ids[0]}/result").json()["rendered"]["clay"]) == 2


def test_load_200_submissions_from_20_clients_all_finish_without_5xx(server_factory):
    server = server_factory(TRELLIS2_WORKER_COUNT="4", TRELLIS2_MAX_ACTIVE_TASKS="2", TRELLIS2_MAX_QUEUED_TASKS="64")
    image = _png_base64()
    server_errors = []

    def client_session(client_index: int) -> list[str]:
        task_ids = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for submission in range(10):
                for _attempt in range(400):
                    body = {"image_base64": image, "seed": client_index * 10 + submission}
                    response = client.post("/tasks", json=body)
                    if response.status_code == 429:
                        time.sleep(min(float(response.headers["retry-after"]), 0.05))
                        continue
                    if response.status_code >= 500:
                        server_errors.append(response.text)
                    task_ids.append(response.json()["task_id"])
                    break
        return task_ids

    with ThreadPoolExecutor(20) as pool:
        task_ids = [task_id for ids in pool.map(client_session, range(20)) for task_id in ids]
    assert not server_errors
    assert len(task_ids) == 200 and len(set(task_ids)) == 200
    with httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = {_wait_terminal(client, task_id, timeout=120)["status"] for task_id in task_ids}
    assert statuses == {"succeeded"}


# on PATH, or next to this interpreter (a virtual environment that is not activated)
SCHEMATHESIS = shutil.which("schemathesis") or shutil.which("schemathesis", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is not installed")
def test_schemathesis_finds_no_server_errors(server_factory, tmp_path):
    server = server_factory()
    result = subprocess.run(
        [SCHEMATHESIS, "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "30", "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
