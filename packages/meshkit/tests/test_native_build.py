import importlib.metadata

import meshkit


def test_native_extension_loads_and_reports_threads():
    assert meshkit.native_threads() >= 1


def test_version_matches_distribution_metadata():
    assert meshkit.__version__ == importlib.metadata.version("meshkit")
