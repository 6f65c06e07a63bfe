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
if __name__ == "__main__":
    main()
