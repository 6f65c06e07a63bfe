"""Queue consumers: WORKER_COUNT asyncio workers claim tasks; at most MAX_ACTIVE_TASKS run on the device at once."""

from __future__ import annotations

import asyncio
import logging
import traceback

from .engine import ArtifactStore, Engine, TaskCancelled
from .store import CANCELLED, FAILED, SUCCEEDED, TaskStore

log = logging.getLogger("trellis2.server")


class WorkerPool:
    """Runs the queue: claims tasks from the store and runs them on the engine in threads."""

    def __init__(self, store: TaskStore, artifacts: ArtifactStore, engine: Engine, worker_count: int,
                 max_active_tasks: int):
        self.store = store
        self.artifacts = artifacts
        self.engine = engine
        self.worker_count = worker_count
        self.device_slots = asyncio.Semaphore(max_active_tasks)
        self._wakeup = asyncio.Event()
        self._workers: list[asyncio.Task] = []

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(i), name=f"trellis2-worker-{i}")
                         for i in range(self.worker_count)]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    def notify(self) -> None:
        """Wake idle workers after a submission."""
        self._wakeup.set()

    async def _work(self, index: int) -> None:
        while True:
            task = await asyncio.to_thread(self.store.claim_next)
            if task is None:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass
                continue
            async with self.device_slots:
                await asyncio.to_thread(self._run, task.id, task.request)

    def _run(self, task_id: str, request: dict) -> None:
        log.info("task started", extra={"task_id": task_id})

        def progress(stage: str, step: int, total: int) -> None:
            if self.store.cancel_requested(task_id):
                raise TaskCancelled
            self.store.set_progress(task_id, {"stage": stage, "step": step, "total": total})

        try:
            image = self.artifacts.load_input(task_id)
            self.engine.generate(image, request, self.artifacts.task_dir(task_id), progress)
        except TaskCancelled:
            self.store.finish(task_id, CANCELLED, "cancelled by request")
            log.info("task cancelled", extra={"task_id": task_id})
        except Exception as error:  # a failed task must never take the worker down
            message = f"{type(error).__name__}: {error}"
            self.store.finish(task_id, FAILED, message)
            log.error("task failed: %s\n%s", message, traceback.format_exc(), extra={"task_id": task_id})
        else:
            self.store.finish(task_id, SUCCEEDED)
            log.info("task succeeded", extra={"task_id": task_id})
