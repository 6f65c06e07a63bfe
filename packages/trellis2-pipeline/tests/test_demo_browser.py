"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against the Gradio front end and
a live back end. Screenshots of every step go to $TRELLIS2_TEST_ARTIFACTS (or the test's tmp folder)."""

import io
import os
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip)")
pytest.importorskip("gradio", reason="the front end needs the 'demo' extra")
CHROMIUM = os.environ.get("TRELLIS2_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
import trimesh  # noqa: E402
from live_servers import backend, frontend  # noqa: E402

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


@pytest.fixture
def live_stack(tmp_path):
    server = backend(tmp_path / "data", SCRIPTED_STEPS="6", SCRIPTED_STEP_S="0.2").start()
    demo = frontend(server.url).start(timeout_s=120)
    yield demo
    demo.stop()
    server.stop()


@pytest.fixture
def artifacts_dir(tmp_path) -> Path:
    path = Path(os.environ.get("TRELLIS2_TEST_ARTIFACTS", tmp_path / "screens")) / "demo_browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _status_contains(page, text: str, timeout_ms: int) -> None:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text,
                           timeout=timeout_ms)


def test_upload_generate_preview_extract_download(live_stack, artifacts_dir, tmp_path):
    image_path = tmp_path / "object.png"
    Image.new("RGBA", (96, 96), (220, 40, 40, 255)).save(image_path)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        page.goto(live_stack.url, wait_until="domcontentloaded")
        page.wait_for_selector("#generate", timeout=60000)
        page.screenshot(path=artifacts_dir / "1_loaded.png", full_page=True)

        page.locator("#input-image input[type=file]").set_input_files(image_path)
        page.wait_for_selector("#processed-image img", timeout=30000)
        page.screenshot(path=artifacts_dir / "2_preprocessed.png", full_page=True)

        page.click("#generate")
        _status_contains(page, "step", 30000)  # live progress appears while the task runs
        page.screenshot(path=artifacts_dir / "3_progress.png", full_page=True)
        _status_contains(page, "Done", 60000)
        page.wait_for_selector("#preview img", timeout=10000)
        page.screenshot(path=artifacts_dir / "4_generated.png", full_page=True)

        first_preview = page.locator("#preview img").get_attribute("src")
        page.get_by_label("Clay").check()
        page.wait_for_function("s => document.querySelector('#preview img')?.getAttribute('src') !== s",
                               arg=first_preview, timeout=10000)
        page.screenshot(path=artifacts_dir / "5_clay_mode.png", full_page=True)

        page.click("#extract")
        _status_contains(page, "GLB ready", 60000)
        page.screenshot(path=artifacts_dir / "6_extracted.png", full_page=True)
        with page.expect_download() as download_info:
            page.locator("#download a").first.click()
        glb_path = tmp_path / "downloaded.glb"
        download_info.value.save_as(glb_path)
        browser.close()

    assert glb_path.read_bytes()[:4] == b"glTF"
    mesh = trimesh.load(io.BytesIO(glb_path.read_bytes()), file_type="glb", force="mesh")
    assert len(mesh.faces) > 0


def test_backend_errors_are_shown_as_readable_messages(tmp_path, artifacts_dir):
    demo = frontend("http://127.0.0.1:9").start(timeout_s=120)  # nothing listens on port 9
    image_path = tmp_path / "object.png"
    Image.new("RGBA", (32, 32), (20, 40, 220, 255)).save(image_path)
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page()
            page.goto(demo.url, wait_until="domcontentloaded")
            page.wait_for_selector("#generate", timeout=60000)
            page.locator("#input-image input[type=file]").set_input_files(image_path)
            _status_contains(page, "cannot reach the back end", 30000)
            page.screenshot(path=artifacts_dir / "error_unreachable.png", full_page=True)
            browser.close()
    finally:
        demo.stop()
