import importlib.metadata

import sparsetensor


def test_native_extension_loads_and_reports_threads():
    assert sparsetensor.native_threads() >= 1


def test_version_matches_distribution_metadata():
    assert sparsetensor.__version__ == importlib.metadata.version("sparsetensor")
