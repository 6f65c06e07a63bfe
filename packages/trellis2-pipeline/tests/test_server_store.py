"""The task store contract, run against both back ends: SQLite (one machine) and Redis (several nodes).

The Redis runs use a redis-server started on a free port (skipped when it is not installed). Several store handles
with different node ids stand in for several server processes sharing one store.
"""

import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from live_servers import redis_url_fixture  # noqa: E402
from trellis2.server.store import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, open_store  # noqa: E402

redis_url = pytest.fixture(scope="module")(redis_url_fixture)


@dataclass
class Backend:
    """Where one test's store lives; `open` gives another handle onto it, as another process would have."""

    url: str | None
    data_dir: Path
    handles: list = field(default_factory=list)

    def open(self, node_id: str = "node-a", lease_s: float = 60.0, max_attempts: int = 2):
        store = open_store(self.url, self.data_dir, node_id, lease_s, max_attempts)
        self.handles.append(store)
        return store


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path):
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        import redis

        redis.Redis.from_url(url).flushdb()
    backend = Backend(url, tmp_path)
    yield backend
    for store in backend.handles:
        store.close()


def test_create_get_and_list_by_owner(backend):
    store = backend.open()
    first = store.create({"seed": 1}, owner="alice")
    anonymous = store.create({"seed": 2})
    third = store.create({"seed": 3}, owner="alice")
    stored = store.get(first.id)
    assert stored == first
    assert (stored.status, stored.request, stored.owner, stored.attempts) == (QUEUED, {"seed": 1}, "alice", 0)
    assert stored.progress == {} and stored.claim is None and stored.error is None and not stored.cancel_requested
    assert stored.created_at == pytest.approx(time.time(), abs=60)
    assert [task.id for task in store.list_tasks("alice")] == [first.id, third.id]
    assert [task.id for task in store.list_tasks(None)] == [anonymous.id]
    assert store.list_tasks("bob") == [] and store.get("no-such-task") is None


def test_claims_are_fifo_and_only_the_claim_holder_reports_and_finishes(backend):
    store = backend.open()
    ids = [store.create({"seed": i}).id for i in range(3)]
    assert [store.queue_position(task_id) for task_id in ids] == [0, 1, 2]
    claimed = store.claim_next()
    assert (claimed.id, claimed.status, claimed.attempts, claimed.node) == (ids[0], RUNNING, 1, "node-a")
    assert claimed.lease_expires_at == pytest.approx(claimed.started_at + 60)
    assert store.queue_position(ids[0]) is None and store.queue_position(ids[1]) == 0
    report = {"stage": "tex_slat", "step": 2, "total": 12}
    assert store.set_progress(ids[0], claimed.claim, report) and store.get(ids[0]).progress == report
    assert not store.set_progress(ids[0], "another run's claim", {"stage": "x", "step": 1, "total": 1})
    with pytest.raises(ValueError, match="not a terminal status: running"):
        store.finish(ids[0], claimed.claim, RUNNING)
    assert store.finish(ids[0], claimed.claim, FAILED, "RuntimeError: boom")
    done = store.get(ids[0])
    assert (done.status, done.error, done.progress) == (FAILED, "RuntimeError: boom", report)
    assert done.finished_at >= done.started_at
    assert not store.finish(ids[0], claimed.claim, SUCCEEDED)  # a task ends once
    assert store.claim_next().id == ids[1] and store.count_pending() == 2


def test_create_is_bounded_by_queued_plus_running_tasks(backend):
    store = backend.open()
    for _ in range(2):
        assert store.create({}, max_pending=2) is not None
    assert store.create({}, max_pending=2) is None
    running = store.claim_next()  # running tasks count as pending too
    assert store.create({}, max_pending=2) is None and len(store.list_tasks(None)) == 2
    assert store.finish(running.id, running.claim, SUCCEEDED)
    assert store.create({}, max_pending=2, task_id="chosen-id").id == "chosen-id"
    assert store.count_pending() == 2


def test_cancel_drops_a_queued_task_and_flags_a_running_one(backend):
    store = backend.open()
    running, queued = store.create({}), store.create({})
    claimed = store.claim_next()
    assert store.request_cancel(queued.id) == CANCELLED
    assert store.get(queued.id).error == "cancelled by request" and store.queue_position(queued.id) is None
    assert store.request_cancel(running.id) == RUNNING and store.cancel_requested(running.id)
    assert not store.cancel_requested(queued.id)
    assert store.claim_next() is None and store.count_pending() == 1
    assert store.request_cancel("no-such-task") is None
    assert store.finish(running.id, claimed.claim, CANCELLED, "cancelled by request")
    assert store.request_cancel(running.id) == CANCELLED and store.count_pending() == 0


def test_a_live_lease_survives_other_nodes_recovery_and_restarts(backend):
    node_a, node_b = backend.open("node-a"), backend.open("node-b")
    task = node_a.create({})
    claimed = node_a.claim_next()
    assert node_b.recover_interrupted() == (0, 0)
    assert node_b.recover_interrupted(restarted=True) == (0, 0)
    assert node_b.get(task.id).status == RUNNING and node_a.renew(task.id, claimed.claim)


def test_a_restarted_node_requeues_its_own_running_tasks_at_once(backend):
    before = backend.open("node-a")
    task = before.create({})
    old = before.claim_next()
    assert before.set_progress(task.id, old.claim, {"stage": "shape_slat", "step": 3, "total": 12})
    after = backend.open("node-a")
    assert after.recover_interrupted(restarted=True) == (1, 0)
    requeued = after.get(task.id)
    assert (requeued.status, requeued.progress, requeued.claim, requeued.node) == (QUEUED, {}, None, None)
    assert requeued.attempts == 1 and after.queue_position(task.id) == 0
    assert not before.set_progress(task.id, old.claim, {"stage": "tex_slat", "step": 1, "total": 12})
    rerun = after.claim_next()
    assert rerun.id == task.id and rerun.attempts == 2 and rerun.claim != old.claim


def test_an_expired_lease_is_requeued_by_another_node_and_the_old_run_is_locked_out(backend):
    dying, survivor = backend.open("node-a", lease_s=0.2), backend.open("node-b")
    task = dying.create({"seed": 5})
    old = dying.claim_next()
    deadline = time.monotonic() + 30
    while (recovered := survivor.recover_interrupted()) == (0, 0):
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)
    assert recovered == (1, 0) and survivor.get(task.id).status == QUEUED
    assert not dying.renew(task.id, old.claim)
    assert not dying.finish(task.id, old.claim, SUCCEEDED)
    rerun = survivor.claim_next()
    assert (rerun.id, rerun.attempts, rerun.node) == (task.id, 2, "node-b")
    assert survivor.finish(task.id, rerun.claim, SUCCEEDED)
    assert survivor.get(task.id).status == SUCCEEDED and survivor.get(task.id).error is None


def test_a_task_that_keeps_killing_its_node_is_failed_with_a_reason(backend):
    store = backend.open(max_attempts=2)
    task = store.create({"seed": 1})
    for _ in range(2):
        assert store.claim_next().id == task.id
        store.recover_interrupted(restarted=True)
    stored = store.get(task.id)
    assert stored.status == FAILED and stored.error == "the server stopped while this task was running (2 attempts)"
    assert store.claim_next() is None and store.count_pending() == 0


def test_a_stopped_nodes_task_whose_cancel_was_requested_ends_cancelled(backend):
    store = backend.open()
    task = store.create({})
    store.claim_next()
    assert store.request_cancel(task.id) == RUNNING
    assert store.recover_interrupted(restarted=True) == (0, 1)
    assert (store.get(task.id).status, store.get(task.id).error) == (CANCELLED, "cancelled by request")


def test_expired_lists_old_finished_tasks_and_delete_removes_them(backend):
    store = backend.open()
    done = store.create({}, owner="alice")
    claimed = store.claim_next()
    store.finish(done.id, claimed.claim, SUCCEEDED)
    queued = store.create({}, owner="alice")
    assert store.expired(0) == [done.id] and store.expired(3600) == []
    store.delete(done.id)
    assert store.get(done.id) is None and store.expired(0) == []
    assert [task.id for task in store.list_tasks("alice")] == [queued.id]


def test_a_sqlite_database_from_before_leases_is_upgraded_and_its_running_task_requeued(tmp_path):
    with sqlite3.connect(tmp_path / "tasks.sqlite3") as old:
        old.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, owner TEXT, status TEXT NOT NULL, request TEXT NOT NULL, "
                    "progress TEXT NOT NULL DEFAULT '{}', error TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
                    "cancel_requested INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, started_at REAL, "
                    "finished_at REAL)")
        old.execute("INSERT INTO tasks (id, status, request, attempts, created_at, started_at) "
                    "VALUES ('old-task', 'running', '{\"seed\": 4}', 1, 1.0, 2.0)")
    old.close()
    store = open_store(None, tmp_path, "node-a")
    try:
        assert store.recover_interrupted() == (1, 0)
        claimed = store.claim_next()
        assert (claimed.id, claimed.request, claimed.attempts, claimed.node) == ("old-task", {"seed": 4}, 2, "node-a")
    finally:
        store.close()


# Claims tasks until the queue is empty, after a "go" line, printing each id.
CLAIMER = """
import sys, time
from pathlib import Path
from trellis2.server.store import open_store
store = open_store(sys.argv[1] or None, Path(sys.argv[2]), sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
while (task := store.claim_next()) is not None:
    print(task.id, flush=True)
    time.sleep(0.001)
"""


def test_two_processes_never_claim_the_same_task(backend):
    store = backend.open()
    ids = [store.create({"seed": i}).id for i in range(100)]
    claimers = [subprocess.Popen([sys.executable, "-c", CLAIMER, backend.url or "", str(backend.data_dir), node],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for node in ("node-a", "node-b")]
    for claimer in claimers:
        assert claimer.stdout.readline().strip() == "ready"
    for claimer in claimers:
        claimer.stdin.write("go\n")
        claimer.stdin.flush()
    claimed = [claimer.communicate(timeout=120)[0].split() for claimer in claimers]
    assert all(claimed), "both processes should have claimed tasks"
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)
    assert {store.get(task_id).node for task_id in claimed[1]} == {"node-b"}
