"""The `ovoxel` command line: convert meshes to O-Voxels and back, inspect files."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="ovoxel")
def main() -> None:
    """O-Voxel conversion tools."""


if __name__ == "__main__":
    main()
