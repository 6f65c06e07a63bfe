"""The `trellis2` command line: generation, self-test, environment report and serving."""

from __future__ import annotations

import importlib.metadata
import importlib.util

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
