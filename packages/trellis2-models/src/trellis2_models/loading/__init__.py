"""Strict checkpoint loading: `from_pretrained` for local `dir/ckpts/NAME` prefixes and hub references."""

from .errors import CheckpointAccessError, CheckpointMismatchError
from .files import download_hub_file, resolve_checkpoint_files
from .pretrained import build_model, from_pretrained, load_config
from .strict import load_weights_strict

__all__ = [
    "CheckpointAccessError",
    "CheckpointMismatchError",
    "build_model",
    "download_hub_file",
    "from_pretrained",
    "load_config",
    "load_weights_strict",
    "resolve_checkpoint_files",
]
