"""Session fixtures shared by the test modules of this package."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # live_servers, scripted_engine


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random-weight pipeline folder (live_servers.TINY_MODEL), written once per test session."""
    from live_servers import write_tiny_model
    from trellis2.testing import missing_requirements

    missing = missing_requirements(for_running=True)
    if missing:
        pytest.skip(f"the tiny pipeline cannot run here: {', '.join(missing)}")
    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"))
