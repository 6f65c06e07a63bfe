"""Helpers for tests, self-checks and examples: tiny random-weight pipelines in the real hub layout."""

from .selftest import run_selftest
from .tiny_pipeline import TINY_MODEL_CONFIGS, build_tiny_model, missing_requirements, write_tiny_pipeline

__all__ = ["TINY_MODEL_CONFIGS", "build_tiny_model", "missing_requirements", "run_selftest", "write_tiny_pipeline"]
