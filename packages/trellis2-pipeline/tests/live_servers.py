"""Start the real back end / front end as subprocesses on free loopback ports, for tests that drive them over HTTP."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveProcess:
    """A server subprocess that counts as started once `health_path` answers 200."""

    def __init__(self, command: list[str], env: dict[str, str], port: int, health_path: str):
        self.command, self.env, self.port, self.health_path = command, env, port, health_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> "LiveProcess":
        return self.launch().wait_ready(timeout_s)

    def launch(self) -> "LiveProcess":
        """Start the process without waiting for it, so several servers can start side by side."""
        # Output goes to a file, not a pipe: a chatty server would block once an unread pipe fills up.
        self.log = tempfile.NamedTemporaryFile(prefix="trellis2-live-", suffix=".log", delete=False)
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> "LiveProcess":
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.command} exited: {self.output()[-3000:]}")
            try:
                if httpx.get(self.url + self.health_path, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        tail = self.output()[-3000:]
        raise AssertionError(f"{self.command} not answering on {self.url} after {timeout_s} s:\n{tail}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _server_env(data_dir: Path, env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "TRELLIS2_DATA_DIR": str(data_dir), **env}


def backend(data_dir: Path, **env: str) -> LiveProcess:
    """`uvicorn trellis2.server:app` with the TRELLIS2_* settings in `env` (the model among them)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "trellis2.server:app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    return LiveProcess(command, _server_env(data_dir, env), port, "/healthz")


#: The tiny random-weight pipeline of the live-server tests: one sampler step by default and a few hundred voxels
#: (occupancy 0.002 keeps enough surface for previews with visible pixels while staying fast).
TINY_MODEL = {"seed": 0, "steps": 1, "occupancy": 0.002}
#: The cheapest real tasks: one small turntable frame per preview mode.
FAST_PREVIEWS = {"TRELLIS2_PREVIEW_FRAMES": "1", "TRELLIS2_PREVIEW_SIZE": "32"}
#: The tiny pipeline on the CPU with one torch thread: several servers and the test process share a few cores, and
#: torch's default of one thread per core slows every one of them down when the cores are busy.
TINY_SETTINGS = {"TRELLIS2_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}


def write_tiny_model(folder: Path) -> Path:
    """Write the TINY_MODEL pipeline folder into `folder` (a session fixture does this once, see conftest.py)."""
    from trellis2.testing import write_tiny_pipeline

    return write_tiny_pipeline(folder, **TINY_MODEL)


def tiny_pipeline_backend(folder: Path, model: Path | None = None, **env: str) -> LiveProcess:
    """The back end on the tiny pipeline `model` (default: one written into `folder/model`) on the CPU, data in
    `folder/data`, with two 96-pixel preview frames and one worker unless `env` says otherwise."""
    model = model or write_tiny_model(folder / "model")
    settings = {"TRELLIS2_MODEL": str(model), **TINY_SETTINGS, "TRELLIS2_PREVIEW_FRAMES": "2",
                "TRELLIS2_PREVIEW_SIZE": "96", "TRELLIS2_WORKER_COUNT": "1"}
    return backend(folder / "data", **{**settings, **env})


def frontend(backend_url: str) -> LiveProcess:
    """`python -m trellis2.app` (the Gradio front end) pointed at `backend_url`."""
    port = free_port()
    env = {**os.environ, "TRELLIS2_BACKEND_URL": backend_url, "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    return LiveProcess([sys.executable, "-m", "trellis2.app"], env, port, "/")


def ray_backend(data_dir: Path, model: Path, **env: str) -> LiveProcess:
    """`trellis2 serve --ray` on a fresh local Ray cluster: two CPU replicas of the tiny pipeline `model`."""
    port = free_port()
    settings = {"TRELLIS2_MODEL": str(model), **TINY_SETTINGS, "RAY_ADDRESS": "local", "RAY_USAGE_STATS_ENABLED": "0"}
    command = [sys.executable, "-m", "trellis2.cli", "serve", "--ray", "--host", "127.0.0.1", "--port", str(port),
               "--replicas", "2", "--gpus-per-replica", "0"]
    return LiveProcess(command, _server_env(data_dir, {**settings, **env}), port, "/healthz")


class RedisServer:
    """A throw-away `redis-server` on a free loopback port, without persistence, for the Redis task store."""

    def __init__(self, folder: Path):
        self.folder, self.port = Path(folder), free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 20.0) -> "RedisServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server exited: {(self.folder / 'redis.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server not answering on port {self.port} after {timeout_s} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def redis_url_fixture(tmp_path_factory):
    """Body of a module-scoped `redis_url` fixture: a fresh redis-server's URL, or a skip when it is not installed."""
    import pytest

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); the Redis task store needs it")
    pytest.importorskip("redis", reason="the Redis task store needs the 'redis' extra")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()
