"""sparsetensor: see the package README for the public API."""

from importlib.metadata import version as _dist_version

from . import _core, nn, ops
from .tensor import SparseTensor, VarLenTensor, sparse_cat, sparse_unbind, varlen_cat, varlen_unbind

__version__ = _dist_version("sparsetensor")

__all__ = ["SparseTensor", "VarLenTensor", "nn", "ops", "sparse_cat", "sparse_unbind", "varlen_cat", "varlen_unbind"]


def native_threads() -> int:
    """Number of CPU threads the compiled extension may use (1 when built without OpenMP)."""
    return _core.max_threads()
