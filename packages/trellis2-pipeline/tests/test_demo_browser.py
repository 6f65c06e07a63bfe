"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against the Gradio front end and
the real back end running the tiny random-weight pipeline on the CPU. Screenshots of every step go to
$TRELLIS2_TEST_ARTIFACTS/demo_browser (or the test's tmp folder)."""

import base64
import io
import os
import re
import shutil
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip)")
pytest.importorskip("gradio", reason="the front end needs the 'demo' extra")
CHROMIUM = os.environ.get("TRELLIS2_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
import pygltflib  # noqa: E402
import trimesh  # noqa: E402
from live_servers import frontend, tiny_pipeline_backend  # noqa: E402
from trellis2.app.ui import EXAMPLES_DIR, bundled_examples  # noqa: E402
from trellis2.testing import missing_requirements  # noqa: E402

MISSING = missing_requirements(for_running=True)
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the tiny pipeline cannot run here: {', '.join(MISSING)}")
SHARED_IMAGE = Path(__file__).parents[3].parent / "shared" / "images" / "T.png"
# SwiftShader gives WebGL without a GPU, so the GLB viewer draws in the screenshots.
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]
MODES = ("Normal", "Clay", "Base color", "Forest", "Sunset", "Courtyard")


@pytest.fixture(scope="module")
def live_backend(tmp_path_factory):
    # previews large enough to see in the screenshots
    server = tiny_pipeline_backend(tmp_path_factory.mktemp("browser"), TRELLIS2_PREVIEW_SIZE="256").start(timeout_s=180)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_stack(live_backend):
    demo = frontend(live_backend.url).start(timeout_s=120)
    yield demo
    demo.stop()


@pytest.fixture
def artifacts_dir(tmp_path) -> Path:
    path = Path(os.environ.get("TRELLIS2_TEST_ARTIFACTS", tmp_path / "screens")) / "demo_browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def input_image() -> Path:
    """The upstream example (RGBA, from ../shared) when present, else one of our bundled examples."""
    return SHARED_IMAGE if SHARED_IMAGE.exists() else EXAMPLES_DIR / "mushroom.png"


def _status_contains(page, text: str, timeout_ms: int) -> None:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text,
                           timeout=timeout_ms)


def _open(playwright, url: str):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#generate", timeout=60000)
    return browser, page


def test_upload_generate_preview_extract_download(live_stack, artifacts_dir, input_image, tmp_path):
    with playwright_api.sync_playwright() as playwright:
        browser, page = _open(playwright, live_stack.url)
        page.screenshot(path=artifacts_dir / "1_loaded.png", full_page=True)

        page.locator("#input-image input[type=file]").set_input_files(input_image)
        page.wait_for_selector("#processed-image img", timeout=60000)
        _status_contains(page, "Background removed", 10000)
        page.screenshot(path=artifacts_dir / "2_preprocessed.png", full_page=True)

        page.get_by_label("512").check()
        page.click("#generate")
        _status_contains(page, "step", 60000)  # live progress while the task runs
        page.screenshot(path=artifacts_dir / "3_progress.png", full_page=True)
        _status_contains(page, "Done", 120000)
        page.wait_for_selector("#preview img", timeout=10000)
        page.screenshot(path=artifacts_dir / "4_generated.png", full_page=True)

        seen = [page.locator("#preview img").get_attribute("src")]
        for mode in MODES[1:]:
            page.get_by_label(mode, exact=True).check()
            page.wait_for_function("s => document.querySelector('#preview img')?.getAttribute('src') !== s",
                                   arg=seen[-1], timeout=10000)
            seen.append(page.locator("#preview img").get_attribute("src"))
            page.screenshot(path=artifacts_dir / f"5_mode_{mode.lower().replace(' ', '_')}.png", full_page=True)
        assert len(set(seen)) == len(MODES)  # every mode shows its own frame

        page.click("#extract")
        _status_contains(page, "GLB ready", 120000)
        page.wait_for_timeout(1500)  # let the 3D viewer draw before the screenshot
        page.screenshot(path=artifacts_dir / "6_extracted.png", full_page=True)
        with page.expect_download() as download_info:
            page.locator("#download a").first.click()
        glb_path = tmp_path / "downloaded.glb"
        download_info.value.save_as(glb_path)
        browser.close()

    content = glb_path.read_bytes()
    gltf = pygltflib.GLTF2.load_from_bytes(content)
    assert gltf.materials[0].pbrMetallicRoughness.baseColorTexture is not None and gltf.images
    mesh = trimesh.load(io.BytesIO(content), file_type="glb", force="mesh")
    assert len(mesh.faces) > 0


def _object_colour(image: Image.Image) -> np.ndarray:
    """Mean RGB of the object: opaque pixels of an RGBA input, non-black ones of a preprocessed (opaque) image."""
    pixels = np.asarray(image.convert("RGBA"), np.float64)
    inside = pixels[..., 3] > 250 if (pixels[..., 3] < 255).any() else pixels[..., :3].max(axis=-1) > 30
    return pixels[inside, :3].mean(axis=0)


def test_pick_a_bundled_example_and_generate(live_stack, artifacts_dir):
    example = EXAMPLES_DIR / "donut.png"
    with playwright_api.sync_playwright() as playwright:
        browser, page = _open(playwright, live_stack.url)
        thumbnails = page.locator("#examples img")
        assert [Path(src).name for src in thumbnails.evaluate_all("images => images.map(i => i.src)")] == [
            Path(path).name for path in bundled_examples()]

        page.locator(f"#examples img[src$='/{example.name}']").click()
        page.wait_for_selector("#processed-image img", timeout=60000)
        _status_contains(page, "Background removed", 10000)
        assert page.locator("#input-image img").get_attribute("src").endswith(f"/{example.name}")
        processed_url = page.locator("#processed-image img").get_attribute("src")
        processed = Image.open(io.BytesIO(page.request.get(processed_url).body()))
        page.screenshot(path=artifacts_dir / "example_picked.png", full_page=True)

        page.get_by_label("512").check()
        page.click("#generate")
        _status_contains(page, "Done", 120000)
        page.wait_for_selector("#preview img", timeout=10000)
        page.screenshot(path=artifacts_dir / "example_generated.png", full_page=True)
        browser.close()

    # the back end cropped the picked example into a square, colours kept (the pink icing dominates the donut)
    assert processed.width == processed.height
    expected = _object_colour(Image.open(example))
    assert np.abs(_object_colour(processed) - expected).max() < 20, (_object_colour(processed), expected)
    assert expected[0] > expected[1] + 40


def test_backend_rejections_are_shown_as_readable_messages(live_stack, artifacts_dir, tmp_path):
    empty = tmp_path / "empty.png"
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(empty)
    with playwright_api.sync_playwright() as playwright:
        browser, page = _open(playwright, live_stack.url)
        page.locator("#input-image input[type=file]").set_input_files(empty)
        _status_contains(page, "cannot preprocess this image: the image contains no object", 30000)
        page.screenshot(path=artifacts_dir / "error_no_object.png", full_page=True)
        page.click("#extract")
        _status_contains(page, "generate an asset first", 10000)
        browser.close()


def test_unreachable_backend_is_shown_as_a_readable_message(tmp_path, artifacts_dir):
    demo = frontend("http://127.0.0.1:9").start(timeout_s=120)  # nothing listens on port 9
    image_path = tmp_path / "object.png"
    Image.new("RGBA", (32, 32), (20, 40, 220, 255)).save(image_path)
    try:
        with playwright_api.sync_playwright() as playwright:
            browser, page = _open(playwright, demo.url)
            page.locator("#input-image input[type=file]").set_input_files(image_path)
            _status_contains(page, "cannot reach the back end", 30000)
            page.screenshot(path=artifacts_dir / "error_unreachable.png", full_page=True)
            browser.close()
    finally:
        demo.stop()


TASK_ID = re.compile(r"Done \(task ([0-9a-f-]{36})\)")
# Two users at once: (example picked, seed); a red and a blue object so that their inputs tell them apart.
USERS = (("mushroom.png", 11), ("vase.png", 22))


def _rgb(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def _viewer_pixels(page, path: Path, deadline_s: float = 60.0) -> np.ndarray:
    """Screenshot the 3D viewer's canvas until the GLB shows (it loads asynchronously); the last screenshot's pixels
    away from the label and buttons drawn over the canvas's top edge."""
    canvas = page.locator("#viewer canvas")
    canvas.wait_for(timeout=30000)
    deadline = time.monotonic() + deadline_s
    while True:
        pixels = _rgb(canvas.screenshot(path=path))
        height, width = pixels.shape[:2]
        pixels = pixels[height // 6:, width // 10:-width // 10]
        if _drawn_fraction(pixels) > 0 or time.monotonic() > deadline:
            return pixels
        page.wait_for_timeout(500)


def _drawn_fraction(pixels: np.ndarray) -> float:
    """Share of pixels that differ clearly from the most common colour (the viewer's clear colour)."""
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    background = colours[counts.argmax()].astype(np.int16)
    return float((np.abs(pixels.astype(np.int16) - background).max(axis=-1) > 24).mean())


def test_two_sessions_at_once_each_see_only_their_own_task(live_stack, live_backend, artifacts_dir, tmp_path):
    backend = httpx.Client(base_url=live_backend.url, timeout=30)
    tasks_dir = Path(live_backend.env["TRELLIS2_DATA_DIR"]) / "tasks"  # the back end's artifact folders
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        pages = []
        for _ in USERS:  # separate contexts: separate cookies and storage, as two people's browsers
            page = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True).new_page()
            page.goto(live_stack.url, wait_until="domcontentloaded")
            pages.append(page)
        for page, (example, seed) in zip(pages, USERS, strict=True):
            page.wait_for_selector("#generate", timeout=60000)
            page.locator(f"#examples img[src$='/{example}']").click()
            page.locator("#seed input").fill(str(seed))
            page.locator("#seed input").press("Tab")
            page.get_by_label("512").check()
        for page in pages:
            page.wait_for_selector("#processed-image img", timeout=60000)
        for page in pages:  # both press Generate together; the back end queues one behind the other
            page.click("#generate")
        task_ids = []
        for page in pages:
            _status_contains(page, "Done", 120000)
            task_ids.append(TASK_ID.search(page.locator("#status").inner_text()).group(1))
        previews = [_rgb(page.request.get(page.locator("#preview img").get_attribute("src")).body()) for page in pages]
        for page in pages:  # small exports: the tiny asset has no detail that 512 texels would lose
            page.get_by_label("Texture size").click()
            page.get_by_role("option", name="512", exact=True).click()
            page.click("#extract")
        downloads = []
        for index, page in enumerate(pages):
            _status_contains(page, "GLB ready", 120000)
            viewer = _viewer_pixels(page, artifacts_dir / f"two_users_{index}_viewer.png")
            page.screenshot(path=artifacts_dir / f"two_users_{index}_extracted.png", full_page=True)
            with page.expect_download() as download_info:
                page.locator("#download a").first.click()
            downloads.append((download_info.value.suggested_filename, tmp_path / f"{index}.glb"))
            download_info.value.save_as(downloads[-1][1])
            assert _drawn_fraction(viewer) > 0.001, f"the GLB viewer of user {index} stayed blank"
        browser.close()

    assert len(set(task_ids)) == 2
    listed = {task["task_id"]: task["status"] for task in backend.get("/tasks").json()}
    expected_colours = [_object_colour(Image.open(EXAMPLES_DIR / example)) for example, _ in USERS]
    for index, task_id in enumerate(task_ids):
        assert listed[task_id] == "succeeded"
        # the back end received this user's picture (the preprocessed crop of their example) ...
        received = _object_colour(Image.open(tasks_dir / task_id / "input.png"))
        assert np.abs(received - expected_colours[index]).max() < 20, (index, received, expected_colours[index])
        # ... and this user's page shows exactly that task's first Normal preview frame ...
        frame = backend.get(f"/tasks/{task_id}/result").json()["rendered"]["normal"][0]
        assert np.array_equal(previews[index], _rgb(base64.b64decode(frame.partition(",")[2])))
        # ... and offers that task's GLB, named after it.
        name, path = downloads[index]
        assert name.startswith(task_id) and name.endswith(".glb")
        assert path.read_bytes() == backend.get(f"/tasks/{task_id}/glb").content
    assert not np.array_equal(previews[0], previews[1])
    assert downloads[0][1].read_bytes() != downloads[1][1].read_bytes()
