"""Queue consumers: WORKER_COUNT asyncio workers claim tasks; at most MAX_ACTIVE_TASKS run on the device at once.

A lease keeper renews the claims of the tasks this process runs and re-queues tasks whose lease expired (their node
died), so several processes can share one store.
"""

from __future__ import annotations

import asyncio
import logging
import traceback

from .engine import ArtifactStore, Engine, TaskCancelled
from .store import CANCELLED, CANCELLED_BY_REQUEST, FAILED, SUCCEEDED, Task, TaskStore

log = logging.getLogger("trellis2.server")
RETRY_AFTER_STORE_ERROR_S = 1.0


class LeaseLost(TaskCancelled):
    """Raised from the progress callback once this node no longer holds the task (it was re-queued elsewhere)."""


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
        self._loops: list[asyncio.Task] = []
        self._claims: dict[str, str] = {}  # task id -> claim, for the tasks this process is running
        self._lost: set[str] = set()

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._work(i), name=f"trellis2-worker-{i}")
                       for i in range(self.worker_count)]
        self._loops.append(asyncio.create_task(self._keep_leases(), name="trellis2-lease-keeper"))

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    def notify(self) -> None:
        """Wake idle workers after a submission."""
        self._wakeup.set()

    async def _work(self, index: int) -> None:
        while True:
            try:
                await self._claim_and_run()
            except Exception:  # e.g. the Redis server restarting: keep the worker, try again shortly
                log.exception("worker %d: task store error", index)
                await asyncio.sleep(RETRY_AFTER_STORE_ERROR_S)

    async def _claim_and_run(self) -> None:
        task = await asyncio.to_thread(self.store.claim_next)
        if task is None:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
            return
        async with self.device_slots:
            await asyncio.to_thread(self._run, task)

    async def _keep_leases(self) -> None:
        """Every third of a lease: renew this process's claims, then re-queue tasks whose lease expired."""
        while True:
            await asyncio.sleep(self.store.lease_s / 3)
            try:
                for task_id, claim in list(self._claims.items()):
                    if not await asyncio.to_thread(self.store.renew, task_id, claim):
                        self._lost.add(task_id)
                requeued, ended = await asyncio.to_thread(self.store.recover_interrupted)
            except Exception:
                log.exception("renewing task leases failed")
                continue
            if requeued or ended:
                log.info("tasks of stopped nodes: %d re-queued, %d ended", requeued, ended)
                self.notify()

    def _run(self, task: Task) -> None:
        log.info("task started", extra={"task_id": task.id})
        self._claims[task.id] = task.claim

        def progress(stage: str, step: int, total: int) -> None:
            report = {"stage": stage, "step": step, "total": total}
            if task.id in self._lost or not self.store.set_progress(task.id, task.claim, report):
                raise LeaseLost
            if self.store.cancel_requested(task.id):
                raise TaskCancelled

        try:
            image = self.artifacts.load_input(task.id)
            self.engine.generate(image, task.request, self.artifacts.task_dir(task.id), progress)
        except LeaseLost:
            outcome = None
        except TaskCancelled:
            outcome = (CANCELLED, CANCELLED_BY_REQUEST)
        except Exception as error:  # a failed task must never take the worker down
            outcome = (FAILED, f"{type(error).__name__}: {error}")
            log.error("task failed: %s\n%s", outcome[1], traceback.format_exc(), extra={"task_id": task.id})
        else:
            outcome = (SUCCEEDED, None)
        finally:
            self._claims.pop(task.id, None)
            self._lost.discard(task.id)
        if outcome is None or not self.store.finish(task.id, task.claim, *outcome):
            log.warning("task lease lost: another node runs it now; this run's outcome is dropped",
                        extra={"task_id": task.id})
        else:
            log.info("task %s", outcome[0], extra={"task_id": task.id})
