import importlib.metadata

import trellis2_models


def test_version_matches_distribution_metadata():
    assert trellis2_models.__version__ == importlib.metadata.version("trellis2-models")
