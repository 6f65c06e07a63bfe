import importlib.metadata

import ovoxel


def test_native_extension_loads_and_reports_threads():
    assert ovoxel.native_threads() >= 1


def test_version_matches_distribution_metadata():
    assert ovoxel.__version__ == importlib.metadata.version("ovoxel")
