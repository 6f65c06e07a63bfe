"""The web back end: `uvicorn trellis2.server:app` serves the task API (settings from TRELLIS2_* variables)."""

from .config import ServiceSettings
from .routes import create_app

__all__ = ["app", "create_app", "ServiceSettings"]


def __getattr__(name: str):
    # Built on first access so that importing the package (e.g. for create_app in tests) reads no environment.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
