"""Several back-end processes sharing one Redis task store and one data directory, as on several nodes.

Each server is `uvicorn trellis2.server:app` with the scripted engine, which logs the process id of every run in the
task folder (`runs.log`): that is how these tests see which node ran a task and how often.
"""

import base64
import io
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
sys.path.insert(0, str(Path(__file__).parent))
from live_servers import backend, redis_url_fixture  # noqa: E402

redis_url = pytest.fixture(scope="module")(redis_url_fixture)
SLOW = {"SCRIPTED_STEPS": "60", "SCRIPTED_STEP_S": "0.05"}


def _png_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16), (200, 100, 10, 255)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def start_node(data_dir, redis_url):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    servers = []

    def start(node_id: str, **env: str):
        server = backend(data_dir, TRELLIS2_STORE_URL=redis_url, TRELLIS2_NODE_ID=node_id,
                         TRELLIS2_WORKER_COUNT="1", **env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _submit(server, seed: int = 0) -> str:
    response = httpx.post(f"{server.url}/tasks", json={"image_base64": _png_base64(), "seed": seed}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def _wait(server, task_id: str, statuses=("succeeded", "failed", "cancelled"), timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/tasks/{task_id}", timeout=10).json()
        if body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} still {body} after {timeout} s")


def _runs(data_dir: Path, task_id: str) -> list[int]:
    """Process ids of the runs of a task, in order."""
    return [int(pid) for pid in (data_dir / "tasks" / task_id / "runs.log").read_text().split()]


def test_two_servers_share_the_queue_and_run_each_task_once(start_node, data_dir):
    fast = {"SCRIPTED_STEPS": "10", "SCRIPTED_STEP_S": "0.05"}
    node_a, node_b = start_node("node-a", **fast), start_node("node-b", **fast)
    ids = [_submit(node_a, seed) for seed in range(6)]
    assert [_wait(node_b, task_id)["status"] for task_id in ids] == ["succeeded"] * 6  # visible on either node
    runs = [_runs(data_dir, task_id) for task_id in ids]
    assert all(len(pids) == 1 for pids in runs), runs
    assert {pids[0] for pids in runs} == {node_a.process.pid, node_b.process.pid}, "both nodes should have worked"
    assert {task["task_id"] for task in httpx.get(f"{node_b.url}/tasks").json()} == set(ids)
    result = httpx.get(f"{node_b.url}/tasks/{ids[0]}/result").json()
    assert len(result["rendered"]["clay"]) == 2


def test_a_restarted_node_requeues_its_own_task_and_leaves_the_other_nodes_alone(start_node, data_dir):
    # Leases far longer than the test: only the restart itself can re-queue anything here.
    node_b = start_node("node-b", TRELLIS2_LEASE_S="600", **SLOW)
    on_b = _submit(node_b)
    _wait(node_b, on_b, ("running",))
    node_a = start_node("node-a", TRELLIS2_LEASE_S="600", **SLOW)
    on_a = _submit(node_a)  # node-b's only worker is busy, so node-a runs it
    _wait(node_a, on_a, ("running",))
    node_a.kill()
    restarted = start_node("node-a", TRELLIS2_LEASE_S="600", **SLOW)
    assert _wait(restarted, on_a)["status"] == "succeeded"
    assert _wait(restarted, on_b)["status"] == "succeeded"
    first, rerun = _runs(data_dir, on_a)
    assert first == node_a.process.pid and rerun in (restarted.process.pid, node_b.process.pid)
    assert _runs(data_dir, on_b) == [node_b.process.pid]


def test_a_dead_nodes_task_moves_to_a_live_node_when_its_lease_expires(start_node, data_dir):
    node_a, node_b = (start_node(node, TRELLIS2_LEASE_S="2", **SLOW) for node in ("node-a", "node-b"))
    on_b = _submit(node_b)
    _wait(node_b, on_b, ("running",))
    on_a = _submit(node_a)
    _wait(node_a, on_a, ("running",))
    node_a.kill()  # never restarted: node-b's lease keeper must notice
    assert _wait(node_b, on_a)["status"] == "succeeded"
    assert _runs(data_dir, on_a) == [node_a.process.pid, node_b.process.pid]
    assert _runs(data_dir, on_b) == [node_b.process.pid]
