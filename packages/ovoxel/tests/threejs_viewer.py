"""Drive tests/js/viewer.html (three.js GLTFLoader) in Debian's headless Chromium through Playwright: a local
http.server thread serves the page, three.js from tests/js/node_modules, and files from named folders."""

from __future__ import annotations

import base64
import functools
import io
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

JS_DIR = Path(__file__).resolve().parent / "js"
CHROMIUM = os.environ.get("TRELLIS2_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# SwiftShader gives WebGL without a GPU; the rest keeps Chromium from reaching out to the network.
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--headless", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
MIME_TYPES = {".html": "text/html", ".js": "text/javascript", ".glb": "model/gltf-binary",
              ".gltf": "model/gltf+json", ".bin": "application/octet-stream", ".png": "image/png",
              ".jpg": "image/jpeg", ".webp": "image/webp"}


def missing() -> str | None:
    """Why the viewer cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright Python package (ovoxel's test extra)"
    if not Path(CHROMIUM).exists():
        return "needs Debian's chromium (apt-get install chromium)"
    if not (JS_DIR / "node_modules" / "three" / "build" / "three.module.js").is_file():
        return "needs three.js: npm install --prefix packages/ovoxel/tests/js"
    return None


class _Handler(SimpleHTTPRequestHandler):
    """Static files from JS_DIR, and from `mounts` (URL prefix -> folder) under their prefixes."""

    mounts: dict[str, Path] = {}
    extensions_map = MIME_TYPES

    def translate_path(self, path: str) -> str:
        for prefix, folder in self.mounts.items():
            if path.startswith(prefix):  # the base class cleans the path (query, quoting, '..') under JS_DIR
                inside = Path(super().translate_path("/" + path[len(prefix):])).relative_to(self.directory)
                return str(folder / inside)
        return super().translate_path(path)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


class Viewer:
    """One browser page holding viewer.html; `load` a model by URL path, `render` it, read pixels back.
    `console_errors` collects the page's console errors and uncaught exceptions since the last load."""

    def __init__(self, page, base_url: str) -> None:
        self.page, self.base_url = page, base_url
        self.console_errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def load(self, path: str) -> dict:
        """Load a model by URL path; its description, or {"error": ...}. Error lists restart with each load."""
        self.console_errors.clear()
        return self.page.evaluate("url => window.viewer.load(url)", self.base_url + path)

    def render(self, eye, target, fov: float = 35.0, lit: bool = True) -> np.ndarray:
        """The canvas after a draw, as uint8 RGBA (transparent where nothing was drawn)."""
        self.page.evaluate("args => window.viewer.render(args)",
                           {"eye": list(map(float, eye)), "target": list(map(float, target)), "fov": fov, "lit": lit})
        png = self.page.locator("canvas").screenshot(omit_background=True)
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))

    def texture(self, slot: str) -> np.ndarray:
        """Pixels of the model's texture in material slot `slot` as the browser decoded them (uint8 RGBA)."""
        url = self.page.evaluate("slot => window.viewer.texturePng(slot)", slot)
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))

    def errors(self) -> list[str]:
        return self.page.evaluate("window.viewer.errors")


@contextmanager
def threejs_viewer(mounts: dict[str, Path]) -> Iterator[Viewer]:
    """Serve viewer.html with `mounts` (e.g. {"/files/": folder}) and open it in one headless Chromium."""
    from playwright.sync_api import sync_playwright

    handler = type("Handler", (_Handler,), {"mounts": mounts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(JS_DIR)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 600, "height": 600})
            viewer = Viewer(page, f"http://127.0.0.1:{server.server_address[1]}")
            page.goto(f"{viewer.base_url}/viewer.html")
            page.wait_for_function("window.viewerReady === true", timeout=30_000)
            yield viewer
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
