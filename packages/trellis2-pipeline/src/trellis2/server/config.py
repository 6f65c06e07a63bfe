"""Service settings, read once from TRELLIS2_* environment variables."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from .store import check_store_url


def _int_env(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the back end is configured by; `from_env()` is what `uvicorn trellis2.server:app` uses."""

    model: str = "microsoft/TRELLIS.2-4B"
    engine: str | None = None
    device: str | None = None
    data_dir: Path = Path("trellis2-data")
    max_active_tasks: int = 1
    worker_count: int = 2
    max_queued_tasks: int = 64
    retry_after_s: int = 10
    api_keys: frozenset[str] = field(default_factory=frozenset)
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    artifact_ttl_s: int = 7 * 24 * 3600
    preview_frames: int = 8
    preview_size: int = 512
    store_url: str | None = None
    node_id: str = field(default_factory=socket.gethostname)
    lease_s: int = 30
    max_attempts: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.store_url:
            check_store_url(self.store_url)

    @classmethod
    def from_env(cls) -> ServiceSettings:
        keys = os.environ.get("TRELLIS2_API_KEY", "")
        return cls(
            model=os.environ.get("TRELLIS2_MODEL", cls.model),
            engine=os.environ.get("TRELLIS2_ENGINE") or None,
            device=os.environ.get("TRELLIS2_DEVICE") or None,
            data_dir=Path(os.environ.get("TRELLIS2_DATA_DIR", str(cls.data_dir))),
            max_active_tasks=_int_env("TRELLIS2_MAX_ACTIVE_TASKS", cls.max_active_tasks, 1),
            worker_count=_int_env("TRELLIS2_WORKER_COUNT", cls.worker_count, 1),
            max_queued_tasks=_int_env("TRELLIS2_MAX_QUEUED_TASKS", cls.max_queued_tasks, 1),
            retry_after_s=_int_env("TRELLIS2_RETRY_AFTER_S", cls.retry_after_s, 1),
            api_keys=frozenset(k.strip() for k in keys.split(",") if k.strip()),
            max_image_bytes=_int_env("TRELLIS2_MAX_IMAGE_BYTES", cls.max_image_bytes, 1),
            max_image_pixels=_int_env("TRELLIS2_MAX_IMAGE_PIXELS", cls.max_image_pixels, 1),
            artifact_ttl_s=_int_env("TRELLIS2_ARTIFACT_TTL_S", cls.artifact_ttl_s, 1),
            preview_frames=_int_env("TRELLIS2_PREVIEW_FRAMES", cls.preview_frames, 1),
            preview_size=_int_env("TRELLIS2_PREVIEW_SIZE", cls.preview_size, 16),
            store_url=os.environ.get("TRELLIS2_STORE_URL") or None,
            node_id=os.environ.get("TRELLIS2_NODE_ID") or socket.gethostname(),
            lease_s=_int_env("TRELLIS2_LEASE_S", cls.lease_s, 1),
            max_attempts=_int_env("TRELLIS2_MAX_ATTEMPTS", cls.max_attempts, 1),
        )
