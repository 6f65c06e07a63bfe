"""The `trellis2` command line: generation, self-test, environment report and serving."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import click

OUR_DISTRIBUTIONS = ("sparsetensor", "meshkit", "ovoxel", "trellis2-models", "trellis2-pipeline")
OPTIONAL_MODULES = ("triton", "flash_attn", "transformers", "fastapi", "uvicorn", "gradio", "nvdiffrast", "xatlas")


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@click.group()
@click.version_option(package_name="trellis2-pipeline")
def main() -> None:
    """TRELLIS.2 image-to-3D: generate textured GLB assets from single images."""


@main.command()
def info() -> None:
    """Report package versions, torch devices and which optional dependencies are present."""
    for name in OUR_DISTRIBUTIONS:
        click.echo(f"{name:20s} {_distribution_version(name)}")
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    click.echo(f"{'torch':20s} {torch.__version__} (CUDA device: {cuda})")
    for module in OPTIONAL_MODULES:
        present = importlib.util.find_spec(module) is not None
        click.echo(f"{module:20s} {'present' if present else 'absent'}")

@main.command()
@click.option("--device", help="torch device: cuda, cuda:N or cpu (default: cuda when a GPU is present, else cpu).")
@click.option("--keep-model", type=click.Path(file_okay=False, path_type=Path),
              help="Write the tiny model into this folder and leave it there (for `trellis2 generate --model DIR`, "
                   "`trellis2 serve --model DIR` or `from_pretrained(DIR)`).")
def selftest(device: str | None, keep_model: Path | None) -> None:
    """Run the whole chain offline on a tiny random-weight model: every pipeline type, GLB export, preview render.

    \b
    Needs no download and no GPU; takes well under a minute on a CPU.
    Example:
      trellis2 selftest --device cpu --keep-model ./tiny-trellis2
    """
    from .commands.devices import resolve_device
    from .testing import run_selftest

    if not run_selftest(resolve_device(device, cpu_fallback=True), keep_model, echo=click.echo):
        raise click.ClickException("self-test failed (see the FAIL lines above)")
    click.echo("self-test passed")


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", default=".", show_default=True, type=click.Path(path_type=Path),
              help="Folder for IMAGE_STEM.glb (created), or a .glb file name for a single image.")
@click.option("--model", envvar="TRELLIS2_MODEL", default="microsoft/TRELLIS.2-4B", show_default=True,
              help="Hub id or local folder holding pipeline.json.")
@click.option("--device", envvar="TRELLIS2_DEVICE", help="torch device: cuda (default when a GPU is present) or cpu.")
@click.option("--pipeline-type", help="512, 1024, 1024_cascade or 1536_cascade (default: the model's, 1024_cascade).")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--steps", type=click.IntRange(1), help="Sampler steps for every stage (default: the model's).")
@click.option("--texture-size", default=4096, show_default=True, type=click.IntRange(8), help="Texture edge, px.")
@click.option("--decimation-target", default=1_000_000, show_default=True, type=click.IntRange(1),
              help="Face count of the exported mesh.")
@click.option("--remesh/--no-remesh", default=True, show_default=True, help="Narrow-band remesh before baking.")
@click.option("--low-vram/--no-low-vram", default=None, help="Keep models on the CPU between stages (default: the "
              "model's setting).")
@click.option("--video", is_flag=True, help="Also write a PBR turntable preview (IMAGE_STEM.mp4, or .gif without "
              "imageio-ffmpeg).")
@click.option("--envmap", default="forest", show_default=True,
              help="Lighting for --video: forest, sunset, courtyard or an .exr/.hdr file.")
@click.option("--video-resolution", default=512, show_default=True, type=click.IntRange(2),
              help="Size of the large preview panels, px (even).")
@click.option("--video-frames", default=120, show_default=True, type=click.IntRange(1))
def generate(images: tuple[Path, ...], output: Path, model: str, device: str | None, pipeline_type: str | None,
             seed: int, steps: int | None, texture_size: int, decimation_target: int, remesh: bool,
             low_vram: bool | None, video: bool, envmap: str, video_resolution: int, video_frames: int) -> None:
    """Generate a textured GLB from each IMAGE (RGBA with the object cut out, or any photo: the background is then
    removed with BiRefNet).

    \b
    Examples:
      trellis2 generate T.png -o out/                       # out/T.glb with microsoft/TRELLIS.2-4B on the GPU
      trellis2 generate a.png b.png -o out --video --envmap sunset
      trellis2 selftest --device cpu --keep-model tiny && \\
      trellis2 generate T.png -o out --model tiny --device cpu   # the offline tiny model (random weights)
    """
    from tqdm import tqdm

    from .commands import generate as steps_of
    from .commands.devices import resolve_device

    if video and video_resolution % 2:
        raise click.BadParameter("must be even", param_hint="--video-resolution")
    steps_of.check_pipeline_type(pipeline_type)
    steps_of.check_model_reference(model)
    device = resolve_device(device)
    pictures = [steps_of.read_image(path) for path in images]
    targets = steps_of.output_paths(images, output)
    light = steps_of.load_envmap(envmap) if video else None
    options = steps_of.GlbOptions(decimation_target, texture_size, remesh)
    click.echo(f"loading {model} on {device} ...", err=True)
    pipeline = steps_of.load_pipeline(model, device, low_vram)
    for path, picture, target in tqdm(list(zip(images, pictures, targets, strict=True)), desc="Images", unit="image",
                                      disable=len(images) < 2):
        mesh = steps_of.generate_mesh(pipeline, picture, path, seed, pipeline_type, steps).cpu()
        target.parent.mkdir(parents=True, exist_ok=True)
        click.echo(f"wrote {steps_of.write_glb(mesh, target, options)}")
        if video:
            written, note = steps_of.write_video(mesh, target.with_suffix(""), light, video_resolution, video_frames)
            if note:
                click.echo(note, err=True)
            click.echo(f"wrote {written}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--model", envvar="TRELLIS2_MODEL", help="Hub id or local folder of the pipeline.")
@click.option("--device", envvar="TRELLIS2_DEVICE", help="torch device, e.g. cuda or cpu.")
@click.option("--data-dir", envvar="TRELLIS2_DATA_DIR", type=click.Path(file_okay=False), help="Task store folder.")
@click.option("--workers", envvar="TRELLIS2_WORKER_COUNT", type=click.IntRange(1), help="Queue consumers.")
@click.option("--max-active", envvar="TRELLIS2_MAX_ACTIVE_TASKS", type=click.IntRange(1), help="GPU tasks at once.")
@click.option("--ray", "use_ray", is_flag=True, help="Deploy on Ray Serve (RAY_ADDRESS or a local cluster).")
@click.option("--replicas", default=1, show_default=True, type=click.IntRange(1), help="With --ray: model replicas.")
@click.option("--gpus-per-replica", default=1.0, show_default=True, type=click.FloatRange(0), help="With --ray.")
def serve(host, port, model, device, data_dir, workers, max_active, use_ray, replicas, gpus_per_replica) -> None:
    """Start the web back end (the same app as `uvicorn trellis2.server:app`).

    \b
    Example:
      trellis2 serve --model ./my-trellis2-folder --device cuda --port 8000
      trellis2 serve --ray --replicas 4        # one model replica per GPU on a Ray cluster
    """
    import os

    try:
        import uvicorn
    except ImportError:
        raise click.ClickException("serving needs the extra: pip install 'trellis2-pipeline[server]'") from None
    settings = {"TRELLIS2_MODEL": model, "TRELLIS2_DEVICE": device, "TRELLIS2_DATA_DIR": data_dir,
                "TRELLIS2_WORKER_COUNT": workers, "TRELLIS2_MAX_ACTIVE_TASKS": max_active}
    os.environ.update({name: str(value) for name, value in settings.items() if value is not None})
    if not use_ray:
        uvicorn.run("trellis2.server:app", host=host, port=port)
        return
    try:
        from .server import ray_serve
    except ImportError:
        raise click.ClickException("--ray needs the extra: pip install 'trellis2-pipeline[ray]'") from None
    from .server import ServiceSettings

    ray_serve.run(ServiceSettings.from_env(), host, port, replicas, gpus_per_replica)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--backend-url", envvar="TRELLIS2_BACKEND_URL", default="http://127.0.0.1:8000", show_default=True,
              help="URL of a running back end (trellis2 serve).")
def demo(host, port, backend_url) -> None:
    """Start the Gradio front end against a running back end and print the URL to open.

    \b
    Example:
      trellis2 serve &            # the back end, on port 8000
      trellis2 demo               # then open the printed URL
    """
    import os

    try:
        from .app.ui import main as run_demo
    except ImportError:
        raise click.ClickException("the front end needs the extra: pip install 'trellis2-pipeline[demo]'") from None
    os.environ["TRELLIS2_BACKEND_URL"] = backend_url
    run_demo(host, port)


if __name__ == "__main__":
    main()
