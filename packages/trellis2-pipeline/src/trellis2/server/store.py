"""The task store interface shared by the SQLite (one machine) and Redis (several nodes) back ends, and its factory.

Running tasks hold an expiring claim (a lease): the node running a task renews it with every progress report and
heartbeat, and only tasks whose lease expired, or that the restarting node itself was running, are queued again.
That is what lets several ingress/worker processes share one store without re-running each other's work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
CANCELLED_BY_REQUEST = "cancelled by request"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def interrupted_reason(attempts: int) -> str:
    """Error recorded on a task whose runs kept being interrupted until its attempts were used up."""
    return f"the server stopped while this task was running ({attempts} attempts)"


@dataclass
class Task:
    """One generation task as stored: its request, state and progress, and while running, who holds it until when."""

    id: str
    owner: str | None
    status: str
    request: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    cancel_requested: bool = False
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    claim: str | None = None
    node: str | None = None
    lease_expires_at: float | None = None


class TaskStore(Protocol):
    """What the routes and workers need from a task store; both back ends give these calls the same meaning."""

    node_id: str
    lease_s: float
    max_attempts: int

    def create(self, request: dict[str, Any], owner: str | None = None, max_pending: int | None = None,
               task_id: str | None = None) -> Task | None:
        """Queue a task; None (nothing stored) when `max_pending` queued + running tasks already exist."""

    def get(self, task_id: str) -> Task | None: ...

    def list_tasks(self, owner: str | None) -> list[Task]:
        """Tasks submitted by `owner` (None: without an API key), oldest first."""

    def count_pending(self) -> int:
        """Queued plus running tasks."""

    def queue_position(self, task_id: str) -> int | None:
        """0-based place of a queued task in the queue (None when it is not queued)."""

    def claim_next(self) -> Task | None:
        """Atomically move the oldest queued task to running under a fresh claim leased to this node."""

    def renew(self, task_id: str, claim: str) -> bool:
        """Extend the lease; False when the claim is no longer this task's (re-queued or ended meanwhile)."""

    def set_progress(self, task_id: str, claim: str, progress: dict[str, Any]) -> bool:
        """Record progress and renew the lease; False as for `renew`."""

    def finish(self, task_id: str, claim: str, status: str, error: str | None = None) -> bool:
        """Record a terminal state; False (nothing recorded) when the claim was lost to another run."""

    def request_cancel(self, task_id: str) -> str | None:
        """Cancel a queued task at once, flag a running one; returns the status after the call."""

    def cancel_requested(self, task_id: str) -> bool: ...

    def recover_interrupted(self, restarted: bool = False) -> tuple[int, int]:
        """Re-queue running tasks whose lease expired (with `restarted`, also all this node was running) if they
        have attempts left; fail the rest with a reason (cancel those whose cancellation was requested).
        Returns (re-queued, ended)."""

    def expired(self, older_than_s: float) -> list[str]:
        """Ids of terminal tasks finished more than `older_than_s` seconds ago."""

    def delete(self, task_id: str) -> None: ...

    def close(self) -> None: ...


def check_store_url(url: str) -> None:
    """Raise ValueError unless `url` names a task store this package can open."""
    if not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"unsupported task store URL {url!r} (TRELLIS2_STORE_URL): use redis://HOST:PORT/DB "
                         "(or rediss://, unix://), or leave it unset for SQLite in the data directory")


def open_store(url: str | None, data_dir: Path, node_id: str, lease_s: float = 30.0,
               max_attempts: int = 2) -> TaskStore:
    """SQLite in `data_dir` when `url` is empty, else the Redis database `url` names (redis://, rediss://, unix://)."""
    options = {"node_id": node_id, "lease_s": lease_s, "max_attempts": max_attempts}
    if not url:
        from .sqlite_store import SqliteTaskStore

        return SqliteTaskStore(Path(data_dir) / "tasks.sqlite3", **options)
    check_store_url(url)
    try:
        from .redis_store import RedisTaskStore
    except ImportError:
        raise ImportError("a redis:// task store needs the extra: pip install 'trellis2-pipeline[redis]'") from None
    return RedisTaskStore(url, **options)
