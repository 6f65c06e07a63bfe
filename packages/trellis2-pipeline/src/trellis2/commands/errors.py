"""Turn the failures a user can act on into one-line `click.ClickException`s instead of tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import torch

from ..pipelines import StageOutOfMemoryError

CLI_MEMORY_ADVICE = "From the command line: --low-vram, --pipeline-type 512 or 1024_cascade, or a smaller GPU load."


@contextmanager
def user_errors(context: str) -> Iterator[None]:
    """Re-raise access, memory, missing-file and missing-dependency errors inside the block as ClickExceptions
    prefixed with `context` (e.g. "loading the model")."""
    from trellis2_models.loading.errors import CheckpointAccessError, CheckpointMismatchError

    try:
        yield
    except CheckpointAccessError as error:
        raise click.ClickException(f"{context}: {error}") from None
    except StageOutOfMemoryError as error:
        raise click.ClickException(f"{context}: {error} {CLI_MEMORY_ADVICE}") from None
    except torch.cuda.OutOfMemoryError as error:
        first_line = str(error).splitlines()[0] if str(error) else "CUDA out of memory"
        raise click.ClickException(f"{context}: out of GPU memory ({first_line}). {CLI_MEMORY_ADVICE}") from None
    except (FileNotFoundError, ImportError, CheckpointMismatchError) as error:
        raise click.ClickException(f"{context}: {error}") from None
