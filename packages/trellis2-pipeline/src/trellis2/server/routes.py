"""The FastAPI back end: the product brief's task API plus status, cancellation, downloads, auth and limits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import importlib
import json
import logging
import uuid
from collections.abc import Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from .config import ServiceSettings
from .engine import ArtifactStore, Engine, encode_png
from .images import ImageRejected, decode_image
from .schemas import (
    ErrorBody,
    ExtractRequest,
    ExtractResult,
    ImageBody,
    RenderedPreviews,
    StageProgress,
    TaskCreated,
    TaskRequest,
    TaskStatus,
    TaskSummary,
)
from .store import QUEUED, SUCCEEDED, Task, TaskStore, open_store
from .worker import WorkerPool

log = logging.getLogger("trellis2.server")
ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 429)}


class _JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "message": record.getMessage()}
        if getattr(record, "task_id", None):
            entry["task_id"] = record.task_id
        return json.dumps(entry)


def _configure_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_JsonLogFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def create_app(settings: ServiceSettings | None = None, engine_factory: Callable[[], Engine] | None = None) -> FastAPI:
    """Build the app; the engine (which loads the model) is created once at start-up, shared by all workers."""
    settings = settings or ServiceSettings.from_env()
    _configure_logging()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        store = await asyncio.to_thread(open_store, settings.store_url, settings.data_dir, settings.node_id,
                                        settings.lease_s, settings.max_attempts)
        # Nothing this node ran before the restart can still run; other nodes' tasks wait for their leases to expire.
        requeued, ended = store.recover_interrupted(restarted=True)
        if requeued or ended:
            log.info("recovered interrupted tasks: %d re-queued, %d ended", requeued, ended)
        artifacts = ArtifactStore(settings.data_dir / "tasks")
        factory = engine_factory or (lambda: build_engine(settings))
        engine = await asyncio.to_thread(factory)
        pool = WorkerPool(store, artifacts, engine, settings.worker_count, settings.max_active_tasks)
        app.state.store, app.state.artifacts, app.state.engine, app.state.pool = store, artifacts, engine, pool
        pool.start()
        janitor = asyncio.create_task(_expire_artifacts(store, artifacts, settings.artifact_ttl_s))
        try:
            yield
        finally:
            janitor.cancel()
            await pool.stop()
            store.close()

    app = FastAPI(title="TRELLIS.2 back end", version=_version(), lifespan=lifespan)
    app.state.settings = settings

    def owner_of(request: Request) -> str | None:
        if not settings.api_keys:
            return None
        header = request.headers.get("authorization", "")
        key = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if key not in settings.api_keys:
            raise HTTPException(401, "missing or unknown API key (send 'Authorization: Bearer <key>')")
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def load_task(task_id: str, request: Request, owner: str | None = Depends(owner_of)) -> Task:
        task = request.app.state.store.get(task_id)
        if task is None or (owner is not None and task.owner != owner):
            raise HTTPException(404, f"unknown task {task_id}")
        return task

    def succeeded(task: Task = Depends(load_task)) -> Task:
        if task.status != SUCCEEDED:
            raise HTTPException(409, f"task {task.id} is {task.status}, not succeeded")
        return task

    def decode(body: ImageBody):
        try:
            return decode_image(body.image_base64, settings.max_image_bytes, settings.max_image_pixels)
        except ImageRejected as error:
            raise HTTPException(error.status_code, str(error)) from None

    @app.get("/healthz")
    async def healthz(request: Request) -> dict:
        """Liveness and queue depth."""
        return {"status": "ok", "pending_tasks": request.app.state.store.count_pending(), "model": settings.model}

    @app.post("/preprocess", response_model=ImageBody, responses=ERRORS)
    async def preprocess(body: ImageBody, request: Request, _owner: str | None = Depends(owner_of)) -> ImageBody:
        """Remove the background and crop to the object.

        No device slot is taken: an image with alpha needs no model, and the engine serialises its own model use,
        so a quick crop never waits behind a whole running generation.
        """
        image = decode(body)
        try:
            result = await asyncio.to_thread(request.app.state.engine.preprocess, image)
        except ValueError as error:  # e.g. an empty alpha matte: nothing to crop around
            raise HTTPException(400, f"cannot preprocess this image: {error}") from None
        return ImageBody(image_base64=base64.b64encode(encode_png(result)).decode())

    def queue_full() -> JSONResponse:
        return JSONResponse({"detail": "the task queue is full; retry later"}, status_code=429,
                            headers={"Retry-After": str(settings.retry_after_s)})

    @app.post("/tasks", response_model=TaskCreated, responses=ERRORS)
    async def submit(body: TaskRequest, request: Request, owner: str | None = Depends(owner_of)):
        """Queue a generation task; answers 429 with Retry-After when the queue is full."""
        store: TaskStore = request.app.state.store
        artifacts: ArtifactStore = request.app.state.artifacts
        if store.count_pending() >= settings.max_queued_tasks:  # cheap early answer under overload
            return queue_full()
        image = decode(body)
        task_id = str(uuid.uuid4())
        await asyncio.to_thread(artifacts.save_input, task_id, image)  # before any worker can claim the task
        # The bound is checked again atomically: other nodes sharing the store may have queued tasks meanwhile.
        if store.create(body.model_dump(exclude={"image_base64"}), owner, settings.max_queued_tasks, task_id) is None:
            await asyncio.to_thread(artifacts.remove, task_id)
            return queue_full()
        request.app.state.pool.notify()
        return TaskCreated(task_id=task_id)

    @app.get("/tasks", response_model=list[TaskSummary], responses=ERRORS)
    async def list_tasks(request: Request, owner: str | None = Depends(owner_of)) -> list[TaskSummary]:
        """The caller's tasks (those of its API key), oldest first."""
        tasks = request.app.state.store.list_tasks(owner)
        return [TaskSummary(task_id=task.id, status=task.status, created_at=task.created_at) for task in tasks]

    @app.get("/tasks/{task_id}", response_model=TaskStatus, responses=ERRORS)
    async def status(request: Request, task: Task = Depends(load_task)) -> TaskStatus:
        """Status, error and per-stage progress of a task."""
        position = request.app.state.store.queue_position(task.id) if task.status == QUEUED else None
        return TaskStatus(status=task.status, error=task.error, progress=StageProgress(**task.progress),
                          queue_position=position)

    @app.delete("/tasks/{task_id}", response_model=TaskStatus, responses=ERRORS)
    async def cancel(request: Request, task: Task = Depends(load_task)) -> TaskStatus:
        """Cancel: a queued task is dropped, a running one stops at its next sampler step."""
        new_status = request.app.state.store.request_cancel(task.id)
        return TaskStatus(status=new_status, error=None)

    @app.get("/tasks/{task_id}/result", response_model=RenderedPreviews, responses=ERRORS)
    async def result(request: Request, task: Task = Depends(succeeded)) -> RenderedPreviews:
        """Turntable preview frames per mode as JPEG data URLs."""
        frames = request.app.state.artifacts.previews(task.id)
        rendered = {mode: [_jpeg_data_url(p) for p in paths] for mode, paths in frames.items()}
        return RenderedPreviews(rendered=rendered, resolution=task.request["resolution"])

    @app.post("/tasks/{task_id}/extract", response_model=ExtractResult, responses=ERRORS)
    async def extract(body: ExtractRequest, request: Request, task: Task = Depends(succeeded)) -> ExtractResult:
        """Export the asset as a GLB (simplified, UV-unwrapped, textured); downloadable at /tasks/{id}/glb."""
        artifacts: ArtifactStore = request.app.state.artifacts
        stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S.%f")[:-3]
        out_path = artifacts.task_dir(task.id) / f"sample_{stamp}.glb"
        async with request.app.state.pool.device_slots:
            try:
                await asyncio.to_thread(request.app.state.engine.extract_glb, artifacts.task_dir(task.id),
                                        body.decimation_target, body.texture_size, out_path)
            except ValueError as error:  # settings this asset cannot be exported with, e.g. too small a texture
                raise HTTPException(400, f"cannot export this asset: {error}") from None
            except Exception as error:  # answered with the reason, so clients can show more than "500"
                log.exception("GLB export failed", extra={"task_id": task.id})
                raise HTTPException(500, f"GLB export failed: {type(error).__name__}: {error}") from None
        return ExtractResult(glb_path=str(out_path.resolve()), glb_url=f"/tasks/{task.id}/glb")

    @app.get("/tasks/{task_id}/glb", response_class=FileResponse, responses=ERRORS)
    async def download_glb(request: Request, task: Task = Depends(succeeded)):
        """Download the most recently extracted GLB of a task."""
        path = request.app.state.artifacts.latest_glb(task.id)
        if path is None:
            raise HTTPException(409, f"task {task.id} has no GLB yet; POST /tasks/{task.id}/extract first")
        return FileResponse(path, media_type="model/gltf-binary", filename=path.name)

    return app


def _jpeg_data_url(path) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()


async def _expire_artifacts(store: TaskStore, artifacts: ArtifactStore, ttl_s: int) -> None:
    while True:
        for task_id in await asyncio.to_thread(store.expired, ttl_s):
            await asyncio.to_thread(artifacts.remove, task_id)
            store.delete(task_id)
        await asyncio.sleep(min(ttl_s, 600))


def build_engine(settings: ServiceSettings) -> Engine:
    """The pipeline engine, or `TRELLIS2_ENGINE="module:callable"` (called with the settings) to plug in another."""
    if settings.engine:
        module_name, _, attribute = settings.engine.partition(":")
        if not attribute:
            raise ValueError(f"TRELLIS2_ENGINE must look like 'module:callable', got {settings.engine!r}")
        return getattr(importlib.import_module(module_name), attribute)(settings)
    from .pipeline_engine import PipelineEngine

    return PipelineEngine.load(settings.model, settings.device, settings.preview_frames, settings.preview_size)


def _version() -> str:
    from .. import __version__

    return __version__
