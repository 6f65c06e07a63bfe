"""The torch unwrap against the numpy path on real meshes from ../shared/assets (skipped without them)."""

from pathlib import Path

import numpy as np
import pytest

ASSETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "assets"
pytestmark = pytest.mark.skipif(not ASSETS.is_dir(), reason=f"needs the shared assets ({ASSETS} is absent)")

torch = pytest.importorskip("torch")
trimesh = pytest.importorskip("trimesh")


@pytest.mark.parametrize("name", ["fandisk.obj", "Duck.glb", "Avocado.glb"])
def test_torch_unwrap_equals_numpy_on_assets(name):
    from meshkit.uv import unwrap_uv
    from meshkit.uv_torch import unwrap_uv_torch

    mesh = trimesh.load(ASSETS / name, force="mesh", process=False)
    vertices, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    expected = unwrap_uv(vertices, faces, texture_size=1024)
    result = unwrap_uv_torch(torch.from_numpy(vertices), torch.from_numpy(faces), texture_size=1024)
    assert expected.chart_of_face.max() > 3
    for want, have in zip(expected, result, strict=True):
        np.testing.assert_array_equal(have.numpy(), want)
