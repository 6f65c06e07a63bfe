"""Several back-end processes sharing one Redis task store and one data directory, as on several nodes.

Each server is `uvicorn trellis2.server:app` on the tiny random-weight pipeline (CPU) with one worker. The store
records which node claimed a task last and how many runs it took; these tests read it from Redis directly.
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
from live_servers import FAST_PREVIEWS, redis_url_fixture, tiny_pipeline_backend  # noqa: E402

redis_url = pytest.fixture(scope="module")(redis_url_fixture)
#: Sampler steps per request: a task of a few seconds, and one that runs until it is cancelled (the API's maximum).
SLOW = {"sparse_structure": {"steps": 10}}
LONG = {stage: {"steps": 100} for stage in ("sparse_structure", "shape_slat", "tex_slat")}


def _png_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16), (200, 100, 10, 255)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def store(redis_url):
    """The shared Redis task store, emptied, as an observer (a node id no server uses)."""
    import redis
    from trellis2.server.redis_store import RedisTaskStore

    redis.Redis.from_url(redis_url).flushdb()
    observer = RedisTaskStore(redis_url, node_id="observer")
    yield observer
    observer.close()


@pytest.fixture
def start_node(tmp_path, tiny_model, redis_url, store):
    """Starts one server per node id, side by side; returns {node id: server} once all of them answer."""
    servers = []

    def start(*node_ids: str, **env: str) -> dict:
        launched = {node_id: tiny_pipeline_backend(tmp_path, tiny_model, TRELLIS2_STORE_URL=redis_url,
                                                   TRELLIS2_NODE_ID=node_id, **{**FAST_PREVIEWS, **env}).launch()
                    for node_id in node_ids}
        servers.extend(launched.values())
        return {node_id: server.wait_ready(timeout_s=180) for node_id, server in launched.items()}

    yield start
    for server in servers:
        server.stop()


def _submit(server, seed: int = 0, sampler_params: dict | None = None) -> str:
    body = {"image_base64": _png_base64(), "seed": seed, "resolution": "512", "sampler_params": sampler_params or {}}
    response = httpx.post(f"{server.url}/tasks", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def _wait(server, task_id: str, statuses=("succeeded", "failed", "cancelled"), timeout=300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/tasks/{task_id}", timeout=30).json()
        if body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} still {body} after {timeout} s")


def _long_and_slow_task(nodes: dict):
    """Start a LONG task, then a SLOW one; the node running the first is busy, so the other node claims the second.
    Returns both as stored, running."""
    server = next(iter(nodes.values()))
    long_task = _submit(server, 0, LONG)
    _wait(server, long_task, ("running",))
    slow_task = _submit(server, 1, SLOW)
    _wait(server, slow_task, ("running",))
    return long_task, slow_task


def test_two_servers_share_the_queue_and_run_each_task_once(start_node, store):
    nodes = start_node("node-a", "node-b")
    node_a, node_b = nodes["node-a"], nodes["node-b"]
    ids = [_submit(node_a, seed) for seed in range(6)]
    assert [_wait(node_b, task_id)["status"] for task_id in ids] == ["succeeded"] * 6  # visible on either node
    tasks = [store.get(task_id) for task_id in ids]
    assert [task.attempts for task in tasks] == [1] * 6
    assert {task.node for task in tasks} == {"node-a", "node-b"}, "both nodes should have worked"
    assert {task["task_id"] for task in httpx.get(f"{node_b.url}/tasks").json()} == set(ids)
    result = httpx.get(f"{node_b.url}/tasks/{ids[0]}/result").json()  # previews written by either node, one disk
    assert len(result["rendered"]["clay"]) == 1


def test_a_restarted_node_requeues_its_own_task_and_leaves_the_other_nodes_alone(start_node, store):
    # Leases far longer than the test: only the restart itself can re-queue anything here.
    nodes = start_node("node-a", "node-b", TRELLIS2_LEASE_S="600")
    other, victim = (store.get(task_id) for task_id in _long_and_slow_task(nodes))
    assert {other.node, victim.node} == set(nodes)
    nodes[victim.node].kill()
    restarted = start_node(victim.node, TRELLIS2_LEASE_S="600")[victim.node]
    assert '"recovered interrupted tasks: 1 re-queued, 0 ended"' in restarted.output()
    left_alone = store.get(other.id)
    assert (left_alone.status, left_alone.attempts, left_alone.claim) == ("running", 1, other.claim)
    # the re-queued task runs again on the restarted node (the other node's only worker is busy) and finishes
    assert _wait(restarted, victim.id)["status"] == "succeeded"
    rerun = store.get(victim.id)
    assert (rerun.attempts, rerun.node) == (2, victim.node) and rerun.claim != victim.claim
    httpx.delete(f"{restarted.url}/tasks/{other.id}")
    assert _wait(restarted, other.id)["status"] == "cancelled"
    assert (store.get(other.id).attempts, store.get(other.id).node) == (1, other.node)


def test_a_dead_nodes_task_moves_to_a_live_node_when_its_lease_expires(start_node, store):
    nodes = start_node("node-a", "node-b", TRELLIS2_LEASE_S="2")
    other, victim = (store.get(task_id) for task_id in _long_and_slow_task(nodes))
    nodes[victim.node].kill()  # never restarted: the live node's lease keeper must notice
    live = nodes[other.node]
    httpx.delete(f"{live.url}/tasks/{other.id}")  # frees the live node's only worker
    assert _wait(live, other.id)["status"] == "cancelled"
    assert _wait(live, victim.id)["status"] == "succeeded"
    moved = store.get(victim.id)
    assert (moved.attempts, moved.node) == (2, other.node)
