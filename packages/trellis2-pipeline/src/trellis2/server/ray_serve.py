"""Scale-out on Ray Serve: the same FastAPI app as ingress, GPU work on replicas that each hold the model.

`trellis2 serve --ray` builds two deployments: `Generator` (one replica per GPU, each loading the engine once)
and `Ingress` (the FastAPI app, its task store and queue workers). Workers hand each task to a Generator replica
and stream its progress back, so status, cancellation and persistence behave as on one machine. The data directory
must be visible to every node (a shared file system), and the task store should be Redis (TRELLIS2_STORE_URL) so that
the ingress keeps no state on one node's disk; see docs/serving.md.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

from PIL import Image
from ray import serve

from .config import ServiceSettings
from .engine import TaskCancelled, encode_png
from .routes import build_engine, create_app

APP_NAME = "trellis2"


class GeneratorReplica:
    """Holds one engine (one model copy on one device) and runs preprocess / generate / extract for the ingress."""

    def __init__(self, settings: ServiceSettings):
        self.engine = build_engine(settings)

    def preprocess(self, png: bytes) -> bytes:
        return encode_png(self.engine.preprocess(Image.open(io.BytesIO(png))))

    def generate(self, png: bytes, request: dict, workdir: str) -> Iterator[tuple[str, int, int]]:
        """Run the engine in a thread and yield its progress events; closing the stream cancels the run."""
        events: queue.Queue = queue.Queue()
        stop = threading.Event()
        done = object()

        def progress(stage: str, step: int, total: int) -> None:
            if stop.is_set():
                raise TaskCancelled
            events.put((stage, step, total))

        def run() -> None:
            try:
                self.engine.generate(Image.open(io.BytesIO(png)), request, Path(workdir), progress)
                events.put(done)
            except BaseException as error:  # handed to the caller's thread below
                events.put(error)

        threading.Thread(target=run, daemon=True).start()
        try:
            while (event := events.get()) is not done:
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            stop.set()

    def extract_glb(self, workdir: str, decimation_target: int, texture_size: int, out_path: str) -> None:
        self.engine.extract_glb(Path(workdir), decimation_target, texture_size, Path(out_path))


class RemoteEngine:
    """The Engine protocol, implemented by calls to Generator replicas through a Serve handle."""

    @functools.cached_property
    def handle(self):
        # Looked up on first use: the ingress app starts before Serve hands its constructor any bound handles.
        return serve.get_deployment_handle("Generator", app_name=APP_NAME)

    def preprocess(self, image: Image.Image) -> Image.Image:
        return Image.open(io.BytesIO(self.handle.preprocess.remote(encode_png(image)).result())).copy()

    def generate(self, image, request, workdir, progress) -> None:
        stream = self.handle.options(stream=True).generate.remote(encode_png(image), request, str(workdir))
        try:
            for stage, step, total in stream:
                progress(stage, step, total)
        except TaskCancelled:
            stream.cancel()
            raise

    def extract_glb(self, workdir, decimation_target, texture_size, out_path) -> None:
        self.handle.extract_glb.remote(str(workdir), decimation_target, texture_size, str(out_path)).result()


def build_application(settings: ServiceSettings, replicas: int = 1, gpus_per_replica: float = 1.0):
    """The Serve application: `Ingress` (FastAPI) in front of `replicas` Generator replicas."""
    generator = serve.deployment(
        GeneratorReplica, name="Generator", num_replicas=replicas,
        # A GPU replica needs little CPU of its own; a CPU replica (tests, no GPU) takes one core.
        ray_actor_options={"num_gpus": gpus_per_replica, "num_cpus": 0 if gpus_per_replica else 1},
        max_ongoing_requests=settings.max_active_tasks,
    )
    # Every replica can run max_active_tasks at once, so the ingress may keep that many per replica busy.
    ingress_settings = dataclasses.replace(settings, max_active_tasks=settings.max_active_tasks * replicas)
    fastapi_app = create_app(ingress_settings, engine_factory=RemoteEngine)

    @serve.deployment(name="Ingress", num_replicas=1, ray_actor_options={"num_cpus": 0})
    @serve.ingress(fastapi_app)
    class Ingress:
        def __init__(self, generator_handle):
            self.generator_handle = generator_handle  # binding it makes Serve deploy the Generator replicas

    return Ingress.bind(generator.bind(settings))


def run(settings: ServiceSettings, host: str, port: int, replicas: int, gpus_per_replica: float) -> None:
    """Start (or join) a Ray cluster, deploy the application and serve until interrupted."""
    import ray

    ray.init(address=os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True)
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_application(settings, replicas, gpus_per_replica), name=APP_NAME, route_prefix="/",
              blocking=True)
