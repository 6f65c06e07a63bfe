"""Durable task store: tasks and their state live in SQLite (WAL), so queued and running work survives restarts."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    owner TEXT,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status, created_at);
"""


@dataclass
class Task:
    """One generation task as stored: its request, state and progress."""

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


def _row_to_task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"], owner=row["owner"], status=row["status"], request=json.loads(row["request"]),
        progress=json.loads(row["progress"]), error=row["error"], attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]), created_at=row["created_at"],
        started_at=row["started_at"], finished_at=row["finished_at"],
    )


class TaskStore:
    """Thread-safe SQLite task table; every state change is one short transaction."""

    def __init__(self, path: str | Path, max_attempts: int = 2):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_attempts = max_attempts
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def _execute(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def create(self, request: dict[str, Any], owner: str | None = None) -> Task:
        task_id = str(uuid.uuid4())
        self._execute(
            "INSERT INTO tasks (id, owner, status, request, created_at) VALUES (?, ?, ?, ?, ?)",
            (task_id, owner, QUEUED, json.dumps(request), time.time()),
        )
        return self.get(task_id)

    def get(self, task_id: str) -> Task | None:
        rows = self._execute("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _row_to_task(rows[0]) if rows else None

    def count_pending(self) -> int:
        return self._execute("SELECT COUNT(*) AS n FROM tasks WHERE status IN (?, ?)", (QUEUED, RUNNING))[0]["n"]

    def queue_position(self, task_id: str) -> int | None:
        """0-based place of a queued task in the queue (None when it is not queued)."""
        rows = self._execute(
            "SELECT (SELECT COUNT(*) FROM tasks AS earlier WHERE earlier.status = ? "
            "AND earlier.created_at < task.created_at) AS n FROM tasks AS task WHERE task.id = ? AND task.status = ?",
            (QUEUED, task_id, QUEUED),
        )
        return rows[0]["n"] if rows else None

    def claim_next(self) -> Task | None:
        """Atomically move the oldest queued task to running and return it (None when the queue is empty)."""
        rows = self._execute(
            "UPDATE tasks SET status = ?, started_at = ?, attempts = attempts + 1, progress = '{}' "
            "WHERE id = (SELECT id FROM tasks WHERE status = ? ORDER BY created_at LIMIT 1) RETURNING *",
            (RUNNING, time.time(), QUEUED),
        )
        return _row_to_task(rows[0]) if rows else None

    def set_progress(self, task_id: str, progress: dict[str, Any]) -> None:
        self._execute("UPDATE tasks SET progress = ? WHERE id = ?", (json.dumps(progress), task_id))

    def finish(self, task_id: str, status: str, error: str | None = None) -> None:
        """Record a terminal state (succeeded, failed or cancelled)."""
        if status not in TERMINAL:
            raise ValueError(f"not a terminal status: {status}")
        self._execute(
            "UPDATE tasks SET status = ?, error = ?, finished_at = ? WHERE id = ?",
            (status, error, time.time(), task_id),
        )

    def request_cancel(self, task_id: str) -> str | None:
        """Cancel a queued task at once, flag a running one; returns the status after the call."""
        self._execute(
            "UPDATE tasks SET status = ?, error = 'cancelled by request', finished_at = ? WHERE id = ? AND status = ?",
            (CANCELLED, time.time(), task_id, QUEUED),
        )
        self._execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND status = ?", (task_id, RUNNING))
        task = self.get(task_id)
        return task.status if task else None

    def cancel_requested(self, task_id: str) -> bool:
        rows = self._execute("SELECT cancel_requested FROM tasks WHERE id = ?", (task_id,))
        return bool(rows and rows[0]["cancel_requested"])

    def recover_interrupted(self) -> tuple[int, int]:
        """After a restart: re-queue running tasks that have attempts left, fail the rest with a reason."""
        requeued = self._execute(
            "UPDATE tasks SET status = ?, started_at = NULL, progress = '{}' "
            "WHERE status = ? AND attempts < ? AND cancel_requested = 0 RETURNING id",
            (QUEUED, RUNNING, self.max_attempts),
        )
        failed = self._execute(
            "UPDATE tasks SET status = ?, error = ?, finished_at = ? WHERE status = ? RETURNING id",
            (FAILED, "the server stopped while this task was running", time.time(), RUNNING),
        )
        return len(requeued), len(failed)

    def expired(self, older_than_s: float) -> list[str]:
        """Ids of terminal tasks finished more than `older_than_s` seconds ago."""
        cutoff = time.time() - older_than_s
        placeholders = ",".join("?" * len(TERMINAL))
        rows = self._execute(
            f"SELECT id FROM tasks WHERE status IN ({placeholders}) AND finished_at < ?", (*TERMINAL, cutoff)
        )
        return [row["id"] for row in rows]

    def delete(self, task_id: str) -> None:
        self._execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
