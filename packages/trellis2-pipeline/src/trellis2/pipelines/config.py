"""Reading `pipeline.json` and resolving the model references in it (local folder first, then the hub)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REQUIRED_SECTIONS = (
    "models", "sparse_structure_sampler", "shape_slat_sampler", "tex_slat_sampler",
    "shape_slat_normalization", "tex_slat_normalization", "image_cond_model",
)


def locate_pipeline_config(repo_or_dir: str | Path, config_file: str = "pipeline.json") -> tuple[Path, Path | None]:
    """Return (path of the config file, local root folder or None for a hub repository).

    A folder holding `config_file` is used as is; anything else is treated as a hub repository id and the file is
    fetched through the Hugging Face cache (which honours HF_HUB_OFFLINE and HF_TOKEN).
    """
    root = Path(repo_or_dir).expanduser()
    if (root / config_file).is_file():
        return root / config_file, root
    if root.is_dir():
        raise FileNotFoundError(f"{root} is a folder but has no {config_file}")
    if str(repo_or_dir).count("/") != 1:
        raise FileNotFoundError(
            f"{repo_or_dir!r} is neither a folder with {config_file} nor a hub repository id 'owner/name'"
        )
    from trellis2_models.loading import download_hub_file

    return download_hub_file(str(repo_or_dir), config_file), None


def read_pipeline_config(path: Path) -> dict[str, Any]:
    """Parse a pipeline config and check that every section the image-to-3D pipeline reads is present."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    args = config.get("args") if isinstance(config, dict) else None
    if not isinstance(args, dict):
        raise ValueError(f"{path}: a pipeline config must be an object {{'name': ..., 'args': {{...}}}}")
    missing = [key for key in REQUIRED_SECTIONS if key not in args]
    if missing:
        raise ValueError(f"{path}: pipeline config lacks {', '.join(missing)}")
    return args


def model_reference(path: str, root: Path | None, repo_id: str | None) -> str:
    """Checkpoint reference for `trellis2_models.from_pretrained`: `root/path` when its files exist locally,
    `repo_id/path` for a `ckpts/...` path of a hub pipeline, otherwise `path` itself as a full hub reference
    `owner/repo/sub/NAME` (a shorter path that is not on disk is an error)."""
    if root is not None and (root / f"{path}.json").is_file() and (root / f"{path}.safetensors").is_file():
        return str(root / path)
    if repo_id is not None and path.startswith("ckpts/"):
        return f"{repo_id}/{path}"
    if path.count("/") < 2:
        raise FileNotFoundError(
            f"model {path!r}: {root / path if root is not None else path}.json/.safetensors not found, and the path "
            "is too short to be a hub reference 'owner/repo/path/NAME'"
        )
    return path


def local_model_name(name: str, root: Path | None) -> str:
    """A conditioning/matting model name, turned into an absolute path when it names a folder inside `root`."""
    if root is not None and (root / name).is_dir():
        return str(root / name)
    return name
