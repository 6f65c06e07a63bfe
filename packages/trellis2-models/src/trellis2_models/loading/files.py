"""Locate a checkpoint's `NAME.json` + `NAME.safetensors`, locally or on the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)

from .errors import CheckpointAccessError

CHECKPOINT_SUFFIXES = (".json", ".safetensors")


def _looks_like_local_path(ref: str) -> bool:
    return Path(ref).expanduser().is_absolute() or ref.startswith(("./", "../", "~", "."))


def download_hub_file(repo_id: str, filename: str, revision: str | None = None) -> Path:
    """Fetch one file of a hub repository through the hub cache (honours HF_HUB_OFFLINE, HF_TOKEN, the cache dir).

    Hub failures become actionable errors: `CheckpointAccessError` for a gated repository, `FileNotFoundError`
    for a missing repository or file, or a cache miss while offline.
    """
    page = f"https://huggingface.co/{repo_id}"
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision))
    except GatedRepoError as error:
        raise CheckpointAccessError(
            f"{repo_id} is a gated repository. Open {page} while logged in and accept its licence, then "
            "authenticate on this machine with `hf auth login` (or set the HF_TOKEN environment variable) "
            f"and retry. Hub message: {error}"
        ) from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(
            f"hub repository {repo_id!r} was not found, or it is private and no valid token is configured "
            "(`hf auth login` or HF_TOKEN)"
        ) from None
    except LocalEntryNotFoundError:
        raise FileNotFoundError(
            f"{repo_id}/{filename} is not in the local Hugging Face cache and could not be downloaded "
            "(offline mode HF_HUB_OFFLINE=1, or the hub is unreachable); download it once with network access "
            "or pass a local 'dir/ckpts/NAME' prefix"
        ) from None
    except EntryNotFoundError:  # after LocalEntryNotFoundError, its subclass in recent huggingface_hub
        raise FileNotFoundError(f"{filename!r} does not exist in hub repository {repo_id!r}") from None


def resolve_checkpoint_files(ref: str | Path, revision: str | None = None) -> tuple[Path, Path]:
    """Return local paths of (config JSON, safetensors) for `ref`.

    `ref` is a local prefix `dir/ckpts/NAME` (files `NAME.json` and `NAME.safetensors` beside each other) or a hub
    reference `owner/repo/path/NAME`, downloaded into (or read from) the Hugging Face cache.
    """
    ref = str(ref)
    local = [Path(ref + suffix).expanduser() for suffix in CHECKPOINT_SUFFIXES]
    present = [path.is_file() for path in local]
    if all(present):
        return local[0], local[1]
    if any(present) or _looks_like_local_path(ref):
        absent = [str(path) for path, ok in zip(local, present, strict=True) if not ok]
        raise FileNotFoundError(f"checkpoint {ref!r}: missing {', '.join(absent)} (need NAME.json + NAME.safetensors)")
    parts = ref.split("/")
    if len(parts) < 3 or not all(parts):
        raise ValueError(
            f"checkpoint reference {ref!r} is neither an existing local prefix 'dir/ckpts/NAME' "
            "nor a hub reference 'owner/repo/path/NAME'"
        )
    repo_id, name = "/".join(parts[:2]), "/".join(parts[2:])
    config = download_hub_file(repo_id, name + ".json", revision)
    weights = download_hub_file(repo_id, name + ".safetensors", revision)
    return config, weights


#: Former private name, still imported by trellis2-pipeline (trellis2/pipelines/config.py); use download_hub_file.
_download = download_hub_file
