"""Test sessions: one per package (installed alone with its own deps), integration, lint.

Environments are reused between runs (they live in $NOX_ENVDIR, default .nox) and the CPU torch wheel that the
machine provides is installed instead of a multi-GB CUDA build.
"""

import os

import nox

nox.options.envdir = os.environ.get("NOX_ENVDIR", ".nox")
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = [
    "lint", "sparsetensor", "meshkit", "ovoxel", "optional_torch", "trellis2_models", "trellis2_pipeline",
    "integration",
]

TORCH = os.environ.get("TRELLIS2_TORCH_REQUIREMENT", "torch==2.13.0")

# Each package with the project packages it depends on, lowest first; pip gets the local folders so it never
# looks these names up on an index.
PACKAGE_CHAINS = {
    "sparsetensor": ["sparsetensor"],
    "meshkit": ["meshkit"],
    "ovoxel": ["meshkit", "ovoxel"],
    "trellis2_models": ["sparsetensor", "trellis2-models"],
    "trellis2_pipeline": ["sparsetensor", "meshkit", "ovoxel", "trellis2-models", "trellis2-pipeline"],
}
NEEDS_TORCH = {"sparsetensor", "trellis2_models", "trellis2_pipeline"}
EXTRAS = {"trellis2_pipeline": "test,server,demo,ray"}


def _install_chain(session: nox.Session, chain: list[str], extras: str = "test") -> None:
    *deps, top = chain
    session.install(*[f"./packages/{name}" for name in deps], f"./packages/{top}[{extras}]")


def _package_session(name: str):
    def session_func(session: nox.Session) -> None:
        if name in NEEDS_TORCH:
            session.install(TORCH)
        _install_chain(session, PACKAGE_CHAINS[name], EXTRAS.get(name, "test"))
        directory = PACKAGE_CHAINS[name][-1]
        session.run("pytest", f"packages/{directory}/tests", *session.posargs)

    session_func.__name__ = name
    session_func.__doc__ = f"Install {PACKAGE_CHAINS[name][-1]} alone (with its declared deps) and run its tests."
    return nox.session(name=name)(session_func)


for _name in PACKAGE_CHAINS:
    _package_session(_name)


@nox.session
def optional_torch(session: nox.Session) -> None:
    """meshkit and ovoxel again with torch and sparsetensor installed: their torch/GPU code paths compared with the
    native CPU paths (their own sessions prove they work with numpy alone, where those tests skip)."""
    session.install(TORCH)
    session.install("./packages/sparsetensor", "./packages/meshkit[test]", "./packages/ovoxel[test]")
    session.run("pytest", "packages/meshkit/tests", "packages/ovoxel/tests", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Install every package together and run the cross-package tests in tests/."""
    session.install(TORCH)
    _install_chain(session, PACKAGE_CHAINS["trellis2_pipeline"], "test,server")
    session.install("pytest>=8", "hypothesis>=6", "safetensors>=0.4")
    session.run("pytest", "tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
