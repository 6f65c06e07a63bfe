"""Native extraction equals the torch path on every flexible dual grid of the parity set (../shared/parity/ovoxel)."""

import json
from pathlib import Path

import numpy as np
import pytest
from extract_cases import assert_same_mesh

PARITY = Path(__file__).resolve().parents[3] / ".." / "shared" / "parity" / "ovoxel"
AABB = [[-0.5] * 3, [0.5] * 3]
pytestmark = pytest.mark.skipif(not (PARITY / "index.json").exists(),
                                reason=f"parity data not found at {PARITY} (needs ../shared beside the repo)")


def _cases():
    if not (PARITY / "index.json").exists():
        return []
    index = json.loads((PARITY / "index.json").read_text())
    return [pytest.param(name, g, id=f"{name}-g{g}") for name, info in index.items()
            if info["kind"] == "flexible_dual_grid" for g in info["grid_sizes"]]


@pytest.mark.parametrize("name,g", _cases())
def test_native_matches_torch_on_parity_grids(name, g):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file

    data = load_file(str(PARITY / f"{name}.safetensors"))
    coords, offsets = data[f"g{g}_coords"], data[f"g{g}_dual_offsets"]
    flags, weights = data[f"g{g}_intersected"], data[f"g{g}_split_weight"]
    shuffle = np.random.default_rng(0).permutation(len(coords))
    for rows in (slice(None), shuffle):
        for w in (None, weights[rows]):
            faces = assert_same_mesh(torch, coords[rows], offsets[rows], flags[rows], w, grid=g, aabb=AABB)
            assert faces == len(data[f"g{g}_mesh_faces"])
