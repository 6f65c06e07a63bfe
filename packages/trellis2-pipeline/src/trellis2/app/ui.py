"""The Gradio front end: upload, preprocess, generate with live progress, browse previews, extract and download."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import gradio as gr
from PIL import Image

from .backend import BackendClient, BackendError, data_url_to_image

PREVIEW_MODES = {
    "Normal": "normal", "Clay": "clay", "Base color": "base_color",
    "Forest": "shaded_forest", "Sunset": "shaded_sunset", "Courtyard": "shaded_courtyard",
}
STAGES = {"sparse_structure": "sparse structure", "shape_slat_lr": "coarse shape", "shape_slat": "shape",
          "tex_slat": "texture"}
DEFAULTS = {  # the published pipeline.json defaults, shown in the advanced panel
    "sparse_structure": {"steps": 12, "guidance_strength": 7.5, "guidance_rescale": 0.7, "rescale_t": 5.0},
    "shape_slat": {"steps": 12, "guidance_strength": 7.5, "guidance_rescale": 0.5, "rescale_t": 3.0},
    "tex_slat": {"steps": 12, "guidance_strength": 1.0, "guidance_rescale": 0.0, "rescale_t": 3.0},
}
EXAMPLES_DIR = Path(__file__).parent / "examples"


def bundled_examples() -> list[str]:
    """The example input images shipped with the package (made by scripts/make_demo_examples.py)."""
    examples = sorted(str(path) for path in EXAMPLES_DIR.glob("*.png"))
    if not examples:
        raise FileNotFoundError(f"no example images in {EXAMPLES_DIR}: the package is incomplete, reinstall it")
    return examples


def _progress_text(status: dict) -> str:
    progress = status.get("progress") or {}
    if status["status"] == "queued":
        position = status.get("queue_position")
        return "Queued" + (f" (position {position + 1})" if position is not None else "")
    if progress.get("stage") == "previews":
        return f"Rendering previews: frame {progress['step']} / {progress['total']}"
    if progress.get("stage"):
        stage = STAGES.get(progress["stage"], progress["stage"])
        return f"Generating {stage}: step {progress['step']} / {progress['total']}"
    return status["status"].capitalize()


def build_ui(backend: BackendClient, downloads_dir: Path | None = None) -> gr.Blocks:
    """All per-user state (task id, preview frames) lives in gr.State, so browser sessions never see each other's."""
    downloads_dir = downloads_dir or Path(tempfile.mkdtemp(prefix="trellis2-demo-"))

    def preprocess(image: Image.Image | None):
        if image is None:
            return None, ""
        try:
            return backend.preprocess(image), "Background removed and cropped."
        except BackendError as error:
            return None, f"**Error:** {error}"

    def generate(image, seed, resolution, mode_label, *sampler_values):
        if image is None:
            yield None, None, {}, "**Error:** upload an image first.", gr.update()
            return
        params, values = {}, iter(sampler_values)
        for stage, defaults in DEFAULTS.items():
            params[stage] = {name: next(values) for name in defaults}
        try:
            task_id = backend.submit(image, int(seed), resolution, params)
            for status in backend.follow(task_id):
                yield task_id, None, {}, f"{_progress_text(status)} (task `{task_id}`)", gr.update()
            frames = backend.previews(task_id)
        except BackendError as error:
            yield None, None, {}, f"**Error:** {error}", gr.update()
            return
        count = max((len(v) for v in frames.values()), default=1)
        yield (task_id, show_frame(frames, mode_label, 0), frames,
               f"Done (task `{task_id}`). Browse the previews, then extract a GLB.",
               gr.update(maximum=max(count - 1, 1), value=0))

    def show_frame(frames: dict, mode_label: str, frame: int):
        urls = (frames or {}).get(PREVIEW_MODES[mode_label], [])
        return data_url_to_image(urls[min(int(frame), len(urls) - 1)]) if urls else None

    def extract(task_id, decimation_target, texture_size, session_dir):
        if not task_id:
            return None, None, "**Error:** generate an asset first.", session_dir
        session_dir = session_dir or str(downloads_dir / uuid.uuid4().hex)
        try:
            path = backend.extract(task_id, int(decimation_target), int(texture_size), Path(session_dir))
        except BackendError as error:
            return None, None, f"**Error:** {error}", session_dir
        return str(path), str(path), f"GLB ready: {path.name} ({path.stat().st_size / 2**20:.1f} MiB).", session_dir

    with gr.Blocks(title="TRELLIS.2 image to 3D") as demo:
        task_state, frames_state, session_dir_state = gr.State(None), gr.State({}), gr.State(None)
        gr.Markdown("# TRELLIS.2: image to 3D\n"
                    "Upload an image of one object (or pick an example), generate, preview, export a GLB.")
        with gr.Row():
            with gr.Column():
                upload = gr.Image(label="Input image", type="pil", image_mode="RGBA", height=280, elem_id="input-image")
                gr.Examples(examples=bundled_examples(), inputs=upload, label="Examples: click one to use it",
                            elem_id="examples")
                processed = gr.Image(label="Preprocessed", type="pil", image_mode="RGBA", interactive=False, height=280,
                                     elem_id="processed-image")
                seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, elem_id="seed")
                resolution = gr.Radio(["512", "1024", "1536"], value="1024", label="Resolution", elem_id="resolution")
                sampler_inputs = []
                with gr.Accordion("Advanced sampler settings", open=False):
                    for stage, defaults in DEFAULTS.items():
                        gr.Markdown(f"**{STAGES[stage].capitalize()}**")
                        with gr.Row():
                            sampler_inputs += [
                                gr.Slider(1, 50, value=defaults["steps"], step=1, label="Steps"),
                                gr.Slider(0.0, 20.0, value=defaults["guidance_strength"], step=0.1, label="Guidance"),
                                gr.Slider(0.0, 1.0, value=defaults["guidance_rescale"], step=0.05, label="Rescale"),
                                gr.Slider(0.5, 10.0, value=defaults["rescale_t"], step=0.1, label="Time warp"),
                            ]
                generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
                status = gr.Markdown("", elem_id="status")
            with gr.Column():
                mode = gr.Radio(list(PREVIEW_MODES), value="Normal", label="Preview", elem_id="preview-mode")
                preview = gr.Image(label="Preview", interactive=False, height=420, format="png", elem_id="preview")
                frame = gr.Slider(0, 1, value=0, step=1, label="Turntable frame", elem_id="frame")
                with gr.Row():
                    decimation = gr.Slider(10000, 2000000, value=500000, step=10000, label="Decimation target")
                    texture_size = gr.Dropdown([512, 1024, 2048, 4096], value=2048, label="Texture size")
                extract_button = gr.Button("Extract GLB", elem_id="extract")
                viewer = gr.Model3D(label="GLB", elem_id="viewer")
                download = gr.File(label="Download", elem_id="download")

        upload.change(preprocess, upload, [processed, status])
        generate_button.click(generate, [processed, seed, resolution, mode, *sampler_inputs],
                              [task_state, preview, frames_state, status, frame])
        for control in (mode, frame):
            control.change(show_frame, [frames_state, mode, frame], preview)
        extract_button.click(extract, [task_state, decimation, texture_size, session_dir_state],
                             [viewer, download, status, session_dir_state])
    return demo


def main(host: str | None = None, port: int | None = None) -> None:
    """Start the front end against TRELLIS2_BACKEND_URL and print the URL to open (port: GRADIO_SERVER_PORT)."""
    backend_url = os.environ.get("TRELLIS2_BACKEND_URL", "http://127.0.0.1:8000")
    demo = build_ui(BackendClient(backend_url, os.environ.get("TRELLIS2_API_KEY")))
    # System fonts: the theme's bundled web font misses glyphs at bold weights ("Extract GLB" drew a thin "B").
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    demo.queue(default_concurrency_limit=16).launch(server_name=host, server_port=port, prevent_thread_lock=True,
                                                    theme=theme)
    print(f"TRELLIS.2 demo: open {demo.local_url} (back end: {backend_url})", flush=True)
    demo.block_thread()
