"""The task store for several nodes: one Redis database shared by every ingress/worker process.

Each task is a hash; sorted sets index the queue (by submission number), running tasks (by lease expiry), finished
tasks (by finish time) and each owner's tasks. Every state change is one Lua script, so it is atomic across
processes (two workers can never claim the same task), and times come from the Redis server's clock, so leases do
not depend on the nodes' clocks agreeing. Needs one Redis server (not Redis Cluster) with persistence enabled.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from .store import CANCELLED_BY_REQUEST, TERMINAL, Task, interrupted_reason

KEY_PREFIX = "trellis2:"

# Every script gets the key prefix as ARGV[1] and sees the server's time as `now` (seconds, float).
_PRELUDE = """
local p = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local function task_key(id) return p .. 'task:' .. id end
local function holds(key, claim)
    return redis.call('HGET', key, 'claim') == claim and redis.call('HGET', key, 'status') == 'running'
end
"""

# ARGV: prefix, id, owner ('' for none), request JSON, max pending (-1: unbounded). Returns 1, or 0 when full.
_CREATE = _PRELUDE + """
local max = tonumber(ARGV[5])
if max >= 0 and redis.call('ZCARD', p .. 'queued') + redis.call('ZCARD', p .. 'running') >= max then return 0 end
local key, seq = task_key(ARGV[2]), redis.call('INCR', p .. 'seq')
redis.call('HSET', key, 'id', ARGV[2], 'status', 'queued', 'request', ARGV[4], 'progress', '{}', 'attempts', 0,
           'cancel_requested', 0, 'created_at', now, 'seq', seq)
if ARGV[3] ~= '' then redis.call('HSET', key, 'owner', ARGV[3]) end
redis.call('ZADD', p .. 'queued', seq, ARGV[2])
redis.call('ZADD', p .. 'owner:' .. ARGV[3], seq, ARGV[2])
return 1
"""

# ARGV: prefix, claim, node, lease seconds. Returns the claimed task's fields, or nil when the queue is empty.
_CLAIM = _PRELUDE + """
local ids = redis.call('ZRANGE', p .. 'queued', 0, 0)
if #ids == 0 then return false end
local id = ids[1]
local key, lease = task_key(id), now + tonumber(ARGV[4])
redis.call('ZREM', p .. 'queued', id)
redis.call('HSET', key, 'status', 'running', 'started_at', now, 'progress', '{}', 'claim', ARGV[2], 'node', ARGV[3],
           'lease_expires_at', lease)
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('ZADD', p .. 'running', lease, id)
return redis.call('HGETALL', key)
"""

# ARGV: prefix, id, claim, lease seconds, progress JSON ('' to keep it). Returns 1, or 0 when the claim is lost.
_RENEW = _PRELUDE + """
local key = task_key(ARGV[2])
if not holds(key, ARGV[3]) then return 0 end
local lease = now + tonumber(ARGV[4])
redis.call('HSET', key, 'lease_expires_at', lease)
if ARGV[5] ~= '' then redis.call('HSET', key, 'progress', ARGV[5]) end
redis.call('ZADD', p .. 'running', lease, ARGV[2])
return 1
"""

# ARGV: prefix, id, claim, status, error ('' with ARGV[6] '0' for none), has error. Returns 1, or 0 when lost.
_FINISH = _PRELUDE + """
local key = task_key(ARGV[2])
if not holds(key, ARGV[3]) then return 0 end
redis.call('HSET', key, 'status', ARGV[4], 'finished_at', now)
if ARGV[6] == '1' then redis.call('HSET', key, 'error', ARGV[5]) end
redis.call('ZREM', p .. 'running', ARGV[2])
redis.call('ZADD', p .. 'finished', now, ARGV[2])
return 1
"""

# ARGV: prefix, id, error for a cancelled task. Returns the status after the call (nil for an unknown task).
_CANCEL = _PRELUDE + """
local key = task_key(ARGV[2])
local status = redis.call('HGET', key, 'status')
if status == 'queued' then
    redis.call('HSET', key, 'status', 'cancelled', 'error', ARGV[3], 'finished_at', now)
    redis.call('ZREM', p .. 'queued', ARGV[2])
    redis.call('ZADD', p .. 'finished', now, ARGV[2])
elseif status == 'running' then
    redis.call('HSET', key, 'cancel_requested', 1)
end
return redis.call('HGET', key, 'status')
"""

# ARGV: prefix, node, restarted ('1'/'0'), max attempts, failure reason, cancel reason. Returns {re-queued, ended}.
_RECOVER = _PRELUDE + """
local stale = redis.call('ZRANGEBYSCORE', p .. 'running', '-inf', now)
if ARGV[3] == '1' then
    for _, id in ipairs(redis.call('ZRANGE', p .. 'running', 0, -1)) do
        if redis.call('HGET', task_key(id), 'node') == ARGV[2] then table.insert(stale, id) end
    end
end
local requeued, ended, seen = 0, 0, {}
for _, id in ipairs(stale) do
    if not seen[id] then
        seen[id] = true
        local key = task_key(id)
        redis.call('ZREM', p .. 'running', id)
        if redis.call('HGET', key, 'cancel_requested') == '1' then
            redis.call('HSET', key, 'status', 'cancelled', 'error', ARGV[6], 'finished_at', now)
            redis.call('ZADD', p .. 'finished', now, id)
            ended = ended + 1
        elseif tonumber(redis.call('HGET', key, 'attempts')) < tonumber(ARGV[4]) then
            redis.call('HSET', key, 'status', 'queued', 'progress', '{}')
            redis.call('HDEL', key, 'started_at', 'claim', 'node', 'lease_expires_at')
            redis.call('ZADD', p .. 'queued', redis.call('HGET', key, 'seq'), id)
            requeued = requeued + 1
        else
            redis.call('HSET', key, 'status', 'failed', 'error', ARGV[5], 'finished_at', now)
            redis.call('ZADD', p .. 'finished', now, id)
            ended = ended + 1
        end
    end
end
return {requeued, ended}
"""

# ARGV: prefix, id.
_DELETE = _PRELUDE + """
local key = task_key(ARGV[2])
local owner = redis.call('HGET', key, 'owner') or ''
for _, index in ipairs({'queued', 'running', 'finished', 'owner:' .. owner}) do
    redis.call('ZREM', p .. index, ARGV[2])
end
redis.call('DEL', key)
"""


def _optional_float(value: str | None) -> float | None:
    return None if value is None else float(value)


def _hash_to_task(fields: dict[str, str]) -> Task:
    return Task(
        id=fields["id"], owner=fields.get("owner"), status=fields["status"], request=json.loads(fields["request"]),
        progress=json.loads(fields["progress"]), error=fields.get("error"), attempts=int(fields["attempts"]),
        cancel_requested=fields["cancel_requested"] == "1", created_at=float(fields["created_at"]),
        started_at=_optional_float(fields.get("started_at")), finished_at=_optional_float(fields.get("finished_at")),
        claim=fields.get("claim"), node=fields.get("node"),
        lease_expires_at=_optional_float(fields.get("lease_expires_at")),
    )


class RedisTaskStore:
    """The TaskStore interface on a Redis database (`redis://host:6379/0`); thread-safe through redis-py's pool."""

    def __init__(self, url: str, node_id: str, lease_s: float = 30.0, max_attempts: int = 2):
        self.node_id, self.lease_s, self.max_attempts = node_id, lease_s, max_attempts
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._redis.ping()  # fail at start-up, not on the first request, when the server is unreachable
        scripts = {"create": _CREATE, "claim": _CLAIM, "renew": _RENEW, "finish": _FINISH, "cancel": _CANCEL,
                   "recover": _RECOVER, "delete": _DELETE}
        self._scripts = {name: self._redis.register_script(source) for name, source in scripts.items()}

    def _run(self, script: str, *args: Any) -> Any:
        return self._scripts[script](args=[KEY_PREFIX, *args])

    def _key(self, task_id: str) -> str:
        return f"{KEY_PREFIX}task:{task_id}"

    def create(self, request: dict[str, Any], owner: str | None = None, max_pending: int | None = None,
               task_id: str | None = None) -> Task | None:
        task_id = task_id or str(uuid.uuid4())
        limit = -1 if max_pending is None else max_pending
        created = self._run("create", task_id, owner or "", json.dumps(request), limit)
        return self.get(task_id) if created else None

    def get(self, task_id: str) -> Task | None:
        fields = self._redis.hgetall(self._key(task_id))
        return _hash_to_task(fields) if fields else None

    def list_tasks(self, owner: str | None) -> list[Task]:
        ids = self._redis.zrange(f"{KEY_PREFIX}owner:{owner or ''}", 0, -1)
        pipeline = self._redis.pipeline(transaction=False)
        for task_id in ids:
            pipeline.hgetall(self._key(task_id))
        return [_hash_to_task(fields) for fields in pipeline.execute() if fields]

    def count_pending(self) -> int:
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.zcard(f"{KEY_PREFIX}queued").zcard(f"{KEY_PREFIX}running")
        return sum(pipeline.execute())

    def queue_position(self, task_id: str) -> int | None:
        return self._redis.zrank(f"{KEY_PREFIX}queued", task_id)

    def claim_next(self) -> Task | None:
        flat = self._run("claim", str(uuid.uuid4()), self.node_id, self.lease_s)
        return _hash_to_task(dict(zip(flat[::2], flat[1::2], strict=True))) if flat else None

    def renew(self, task_id: str, claim: str) -> bool:
        return self._run("renew", task_id, claim, self.lease_s, "") == 1

    def set_progress(self, task_id: str, claim: str, progress: dict[str, Any]) -> bool:
        return self._run("renew", task_id, claim, self.lease_s, json.dumps(progress)) == 1

    def finish(self, task_id: str, claim: str, status: str, error: str | None = None) -> bool:
        if status not in TERMINAL:
            raise ValueError(f"not a terminal status: {status}")
        return self._run("finish", task_id, claim, status, error or "", "0" if error is None else "1") == 1

    def request_cancel(self, task_id: str) -> str | None:
        return self._run("cancel", task_id, CANCELLED_BY_REQUEST)

    def cancel_requested(self, task_id: str) -> bool:
        return self._redis.hget(self._key(task_id), "cancel_requested") == "1"

    def recover_interrupted(self, restarted: bool = False) -> tuple[int, int]:
        requeued, ended = self._run("recover", self.node_id, "1" if restarted else "0", self.max_attempts,
                                    interrupted_reason(self.max_attempts), CANCELLED_BY_REQUEST)
        return requeued, ended

    def expired(self, older_than_s: float) -> list[str]:
        seconds, microseconds = self._redis.time()
        cutoff = seconds + microseconds / 1e6 - older_than_s
        return self._redis.zrangebyscore(f"{KEY_PREFIX}finished", "-inf", f"({cutoff!r}")

    def delete(self, task_id: str) -> None:
        self._run("delete", task_id)

    def close(self) -> None:
        self._redis.close()
