"""No package may import a package above it: sparsetensor/meshkit at the bottom, the pipeline on top."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALLOWED = {
    "sparsetensor": set(),
    "meshkit": set(),
    "ovoxel": {"meshkit", "sparsetensor"},
    "trellis2_models": {"sparsetensor"},
    "trellis2": {"sparsetensor", "meshkit", "ovoxel", "trellis2_models"},
}
DIRECTORIES = {
    "sparsetensor": "sparsetensor",
    "meshkit": "meshkit",
    "ovoxel": "ovoxel",
    "trellis2_models": "trellis2-models",
    "trellis2": "trellis2-pipeline",
}


def _imported_top_level_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_packages_below_it(package):
    source_dir = ROOT / "packages" / DIRECTORIES[package] / "src" / package
    ours = set(ALLOWED)
    violations = []
    for path in sorted(source_dir.rglob("*.py")):
        upward = (_imported_top_level_modules(path) & ours) - ALLOWED[package] - {package}
        violations += [f"{path.relative_to(ROOT)} imports {name}" for name in sorted(upward)]
    assert not violations, "\n".join(violations)
