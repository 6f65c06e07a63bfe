"""A small HTTP client for the back end, turning its answers into values or readable errors."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from PIL import Image


class BackendError(RuntimeError):
    """A failure worth showing to the user as it is: the back end's own message, or why it could not be reached."""


def image_to_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def data_url_to_image(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.partition(",")[2]))).copy()


class BackendClient:
    """Calls the task API; every method raises BackendError with a message fit for the UI."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 600.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise BackendError(f"cannot reach the back end at {self.base_url}: {error}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            if isinstance(detail, list):  # FastAPI validation errors
                detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
            raise BackendError(f"back end answered {response.status_code}: {detail}")
        return response

    def preprocess(self, image: Image.Image) -> Image.Image:
        body = self._call("POST", "/preprocess", json={"image_base64": image_to_base64(image)}).json()
        return Image.open(io.BytesIO(base64.b64decode(body["image_base64"]))).copy()

    def submit(self, image: Image.Image, seed: int, resolution: str, sampler_params: dict) -> str:
        body = {"image_base64": image_to_base64(image), "seed": seed, "resolution": resolution,
                "sampler_params": sampler_params}
        return self._call("POST", "/tasks", json=body).json()["task_id"]

    def follow(self, task_id: str, poll_s: float = 0.5) -> Iterator[dict]:
        """Yield status bodies until the task ends; raises BackendError if it failed or was cancelled."""
        while True:
            status = self._call("GET", f"/tasks/{task_id}").json()
            yield status
            if status["status"] == "succeeded":
                return
            if status["status"] in ("failed", "cancelled"):
                raise BackendError(f"generation {status['status']}: {status.get('error') or 'no reason given'}")
            time.sleep(poll_s)

    def cancel(self, task_id: str) -> None:
        self._call("DELETE", f"/tasks/{task_id}")

    def previews(self, task_id: str) -> dict[str, list[str]]:
        return self._call("GET", f"/tasks/{task_id}/result").json()["rendered"]

    def extract(self, task_id: str, decimation_target: int, texture_size: int, out_dir: Path) -> Path:
        """Ask for a GLB and download it into `out_dir` (the server's path is no use to a remote browser), named
        after the task so that a user's downloads say which generation they came from."""
        body = {"decimation_target": decimation_target, "texture_size": texture_size}
        glb = self._call("POST", f"/tasks/{task_id}/extract", json=body).json()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{task_id}_{Path(glb['glb_path']).name}"
        path.write_bytes(self._call("GET", glb["glb_url"]).content)
        return path
