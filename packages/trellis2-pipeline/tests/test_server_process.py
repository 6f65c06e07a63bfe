"""The back end as users run it: `uvicorn trellis2.server:app` on the tiny random-weight pipeline (CPU) in a
subprocess, driven over real HTTP: kill -9 and restart, a load test, and schemathesis against the OpenAPI schema.

Tasks are the cheapest real ones (512, one sampler step, one 32-pixel preview frame); a task that must still be
running when the server is killed asks for more sparse-structure steps.
"""

import base64
import io
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
sys.path.insert(0, str(Path(__file__).parent))
from live_servers import FAST_PREVIEWS, tiny_pipeline_backend  # noqa: E402
from trellis2.server.previews import PREVIEW_MODES  # noqa: E402

TERMINAL = ("succeeded", "failed", "cancelled")
#: A task of a second or more on a CPU: long enough to be caught running, reported step by step.
SLOW_SAMPLERS = {"sparse_structure": {"steps": 10}}
#: The cheapest task the API allows: the one sampler step of each stage unguided (one model call instead of two).
UNGUIDED = {stage: {"guidance_strength": 1.0} for stage in ("sparse_structure", "shape_slat", "tex_slat")}


def _png_base64(alpha: int = 255) -> str:
    """A green disc; opaque (taken as already preprocessed) or, with `alpha` 0, on a transparent background."""
    yy, xx = np.mgrid[:48, :48]
    pixels = np.zeros((48, 48, 4), np.uint8)
    pixels[...] = (0, 0, 0, alpha)
    pixels[(xx - 24) ** 2 + (yy - 24) ** 2 < 16**2] = (20, 200, 40, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def server_factory(tmp_path, tiny_model):
    """Starts back ends on the session's tiny model, all on one data directory (a restart sees the same tasks)."""
    servers = []

    def make(**env):
        server = tiny_pipeline_backend(tmp_path, tiny_model, **{**FAST_PREVIEWS, **env}).start(timeout_s=180)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _wait(client, task_id, statuses=TERMINAL, timeout=300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/tasks/{task_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not reach {statuses}: {body}")


def _submit(client, seed: int, **fields) -> str:
    response = client.post("/tasks", json={"image_base64": _png_base64(), "seed": seed, "resolution": "512", **fields})
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def test_kill_9_mid_run_then_restart_loses_nothing(server_factory):
    server = server_factory()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        running = _submit(client, 0, sampler_params=SLOW_SAMPLERS)
        queued = [_submit(client, seed) for seed in (1, 2, 3)]
        # killed after the first task reported a sampler step, the others still queued behind it (one worker)
        while _wait(client, running, ("running",))["progress"]["step"] is None:
            time.sleep(0.02)
        assert [client.get(f"/tasks/{task_id}").json()["status"] for task_id in queued] == ["queued"] * 3
    server.kill()

    restarted = server_factory()
    assert '"recovered interrupted tasks: 1 re-queued, 0 ended"' in restarted.output()
    with httpx.Client(base_url=restarted.url, timeout=30) as client:
        assert [task["task_id"] for task in client.get("/tasks").json()] == [running, *queued]
        for task_id in (running, *queued):
            status = _wait(client, task_id)
            assert status["status"] == "succeeded", status
            assert status["progress"] == {"stage": "previews", "step": 1, "total": 1}
        result = client.get(f"/tasks/{running}/result").json()  # the re-run wrote every preview again
        assert set(result["rendered"]) == set(PREVIEW_MODES) and all(len(f) == 1 for f in result["rendered"].values())


def test_load_200_submissions_from_20_clients_all_finish_without_5xx(server_factory):
    # A short bounded queue: most submissions first meet a full queue and come back after Retry-After.
    server = server_factory(TRELLIS2_WORKER_COUNT="2", TRELLIS2_MAX_ACTIVE_TASKS="2", TRELLIS2_MAX_QUEUED_TASKS="6",
                            TRELLIS2_RETRY_AFTER_S="1")
    image = _png_base64()
    server_errors, retry_afters = [], []

    def client_session(client_index: int) -> list[str]:
        task_ids = []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for submission in range(10):
                while True:
                    body = {"image_base64": image, "seed": client_index * 10 + submission, "resolution": "512",
                            "sampler_params": UNGUIDED}
                    response = client.post("/tasks", json=body)
                    if response.status_code >= 500:
                        server_errors.append(response.text)
                    if response.status_code != 429:
                        break
                    retry_afters.append(response.headers["retry-after"])
                    time.sleep(float(response.headers["retry-after"]))
                task_ids.append(response.json()["task_id"])
        return task_ids

    started = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        task_ids = [task_id for ids in pool.map(client_session, range(20)) for task_id in ids]
    assert not server_errors
    assert len(task_ids) == 200 and len(set(task_ids)) == 200
    assert retry_afters and set(retry_afters) == {"1"}  # the bound held and told clients when to come back
    with httpx.Client(base_url=server.url, timeout=60) as client:
        statuses = {_wait(client, task_id)["status"] for task_id in task_ids}
        assert statuses == {"succeeded"}
        assert client.get("/healthz").json()["pending_tasks"] == 0
    print(f"\n200 tasks from 20 clients: {time.monotonic() - started:.1f} s, {len(retry_afters)} answers 429")


# on PATH, or next to this interpreter (a virtual environment that is not activated)
SCHEMATHESIS = shutil.which("schemathesis") or shutil.which("schemathesis", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is not installed")
def test_schemathesis_finds_no_server_errors(server_factory, tmp_path):
    # Fuzzed tasks run one at a time (one worker) and the short queue answers the rest 429; the second device slot
    # keeps /preprocess from waiting for a fuzzed generation to finish.
    server = server_factory(TRELLIS2_WORKER_COUNT="1", TRELLIS2_MAX_ACTIVE_TASKS="2", TRELLIS2_MAX_QUEUED_TASKS="2")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        finished = _submit(client, 0)
        assert _wait(client, finished)["status"] == "succeeded"
    # Half the generated bodies carry a real image (with transparency, so /preprocess runs the real cropping) and
    # half the task ids name the finished task, so the fuzzer reaches the engine and not only the validation.
    # Exports are left out of that (an 8192-pixel texture bake takes minutes on a CPU; test_server_e2e exports).
    (tmp_path / "schemathesis.toml").write_text(
        f'[dictionaries.images]\nvalues = ["{_png_base64(alpha=0)}"]\n'
        f'[dictionaries.tasks]\nvalues = ["{finished}"]\n'
        '[parameters]\n"body.image_base64" = { dictionary = "images", probability = 0.5 }\n'
        '"path.task_id" = { dictionary = "tasks", probability = 0.5 }\n'
        '[[operations]]\ninclude-name = "POST /tasks/{task_id}/extract"\n'
        f'parameters = {{ "path.task_id" = "{uuid.UUID(int=0)}" }}\n'
    )
    result = subprocess.run(
        [SCHEMATHESIS, "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "30", "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
