"""The task store on one machine: a SQLite table in WAL mode, so queued and running work survives restarts."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .store import CANCELLED, CANCELLED_BY_REQUEST, FAILED, QUEUED, RUNNING, TERMINAL, Task, interrupted_reason

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
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner, created_at);
"""
# Added with leases; ALTERed into databases written before them, together.
_LEASE_COLUMNS = {"claim": "TEXT", "node": "TEXT", "lease_expires_at": "REAL"}
_QUEUE_ORDER = "created_at, rowid"


def _row_to_task(row: sqlite3.Row) -> Task:
    values = dict(row)
    return Task(**{**values, "request": json.loads(values["request"]), "progress": json.loads(values["progress"]),
                   "cancel_requested": bool(values["cancel_requested"])})


class SqliteTaskStore:
    """Thread-safe SQLite task table; every state change is one short statement (atomic across processes too)."""

    def __init__(self, path: str | Path, node_id: str, lease_s: float = 30.0, max_attempts: int = 2):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.node_id, self.lease_s, self.max_attempts = node_id, lease_s, max_attempts
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        present = {row["name"] for row in self._db.execute("PRAGMA table_info(tasks)")}
        if "lease_expires_at" not in present:  # a database from before leases: its running tasks hold none
            for column, kind in _LEASE_COLUMNS.items():
                self._db.execute(f"ALTER TABLE tasks ADD COLUMN {column} {kind}")
            self._db.execute("UPDATE tasks SET lease_expires_at = 0 WHERE status = ?", (RUNNING,))

    def _execute(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def create(self, request: dict[str, Any], owner: str | None = None, max_pending: int | None = None,
               task_id: str | None = None) -> Task | None:
        rows = self._execute(
            "INSERT INTO tasks (id, owner, status, request, created_at) SELECT ?, ?, ?, ?, ? "
            "WHERE ? IS NULL OR (SELECT COUNT(*) FROM tasks WHERE status IN (?, ?)) < ? RETURNING *",
            (task_id or str(uuid.uuid4()), owner, QUEUED, json.dumps(request), time.time(),
             max_pending, QUEUED, RUNNING, max_pending),
        )
        return _row_to_task(rows[0]) if rows else None

    def get(self, task_id: str) -> Task | None:
        rows = self._execute("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _row_to_task(rows[0]) if rows else None

    def list_tasks(self, owner: str | None) -> list[Task]:
        rows = self._execute(f"SELECT * FROM tasks WHERE owner IS ? ORDER BY {_QUEUE_ORDER}", (owner,))
        return [_row_to_task(row) for row in rows]

    def count_pending(self) -> int:
        return self._execute("SELECT COUNT(*) AS n FROM tasks WHERE status IN (?, ?)", (QUEUED, RUNNING))[0]["n"]

    def queue_position(self, task_id: str) -> int | None:
        rows = self._execute(
            "SELECT (SELECT COUNT(*) FROM tasks AS earlier WHERE earlier.status = ? "
            "AND (earlier.created_at, earlier.rowid) < (task.created_at, task.rowid)) AS n "
            "FROM tasks AS task WHERE task.id = ? AND task.status = ?",
            (QUEUED, task_id, QUEUED),
        )
        return rows[0]["n"] if rows else None

    def claim_next(self) -> Task | None:
        now = time.time()
        rows = self._execute(
            "UPDATE tasks SET status = ?, started_at = ?, attempts = attempts + 1, progress = '{}', claim = ?, "
            "node = ?, lease_expires_at = ? "
            f"WHERE id = (SELECT id FROM tasks WHERE status = ? ORDER BY {_QUEUE_ORDER} LIMIT 1) RETURNING *",
            (RUNNING, now, str(uuid.uuid4()), self.node_id, now + self.lease_s, QUEUED),
        )
        return _row_to_task(rows[0]) if rows else None

    def renew(self, task_id: str, claim: str) -> bool:
        return bool(self._execute(
            "UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND claim = ? AND status = ? RETURNING id",
            (time.time() + self.lease_s, task_id, claim, RUNNING),
        ))

    def set_progress(self, task_id: str, claim: str, progress: dict[str, Any]) -> bool:
        return bool(self._execute(
            "UPDATE tasks SET progress = ?, lease_expires_at = ? WHERE id = ? AND claim = ? AND status = ? "
            "RETURNING id",
            (json.dumps(progress), time.time() + self.lease_s, task_id, claim, RUNNING),
        ))

    def finish(self, task_id: str, claim: str, status: str, error: str | None = None) -> bool:
        if status not in TERMINAL:
            raise ValueError(f"not a terminal status: {status}")
        return bool(self._execute(
            "UPDATE tasks SET status = ?, error = ?, finished_at = ? WHERE id = ? AND claim = ? AND status = ? "
            "RETURNING id",
            (status, error, time.time(), task_id, claim, RUNNING),
        ))

    def request_cancel(self, task_id: str) -> str | None:
        self._execute(
            "UPDATE tasks SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status = ?",
            (CANCELLED, CANCELLED_BY_REQUEST, time.time(), task_id, QUEUED),
        )
        self._execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND status = ?", (task_id, RUNNING))
        task = self.get(task_id)
        return task.status if task else None

    def cancel_requested(self, task_id: str) -> bool:
        rows = self._execute("SELECT cancel_requested FROM tasks WHERE id = ?", (task_id,))
        return bool(rows and rows[0]["cancel_requested"])

    def recover_interrupted(self, restarted: bool = False) -> tuple[int, int]:
        # One `now` for all three statements, so they agree on which tasks are stale.
        now = time.time()
        stale = "status = ? AND (lease_expires_at <= ? OR (? AND node = ?))"
        stale_params = (RUNNING, now, restarted, self.node_id)
        cancelled = self._execute(
            f"UPDATE tasks SET status = ?, error = ?, finished_at = ? WHERE {stale} AND cancel_requested = 1 "
            "RETURNING id",
            (CANCELLED, CANCELLED_BY_REQUEST, now, *stale_params),
        )
        requeued = self._execute(
            "UPDATE tasks SET status = ?, started_at = NULL, progress = '{}', claim = NULL, node = NULL, "
            f"lease_expires_at = NULL WHERE {stale} AND attempts < ? RETURNING id",
            (QUEUED, *stale_params, self.max_attempts),
        )
        failed = self._execute(
            f"UPDATE tasks SET status = ?, error = ?, finished_at = ? WHERE {stale} RETURNING id",
            (FAILED, interrupted_reason(self.max_attempts), now, *stale_params),
        )
        return len(requeued), len(cancelled) + len(failed)

    def expired(self, older_than_s: float) -> list[str]:
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
