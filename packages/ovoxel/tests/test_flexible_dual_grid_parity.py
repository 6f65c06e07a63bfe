"""Parity of mesh <-> flexible dual grid against upstream's golden outputs (../shared/parity/ovoxel)."""

import json
from pathlib import Path

import numpy as np
import pytest
from ovoxel.convert.flexible_dual_grid import flexible_dual_grid_to_mesh, mesh_to_flexible_dual_grid

PARITY = Path(__file__).resolve().parents[3] / ".." / "shared" / "parity" / "ovoxel"
AABB = [[-0.5] * 3, [0.5] * 3]


def _cases():
    if not (PARITY / "index.json").exists():
        return []
    index = json.loads((PARITY / "index.json").read_text())
    out = []
    for name, info in index.items():
        if info["kind"] != "flexible_dual_grid":
            continue
        for prefix, weights in info["weights"].items():
            for g in info["grid_sizes"]:
                out.append(pytest.param(name, g, prefix, weights, id=f"{name}-{prefix}g{g}"))
    return out


def _load(name):
    if not PARITY.exists():
        pytest.skip(f"parity data not found at {PARITY}")
    from safetensors.numpy import load_file

    return load_file(str(PARITY / f"{name}.safetensors"))


def _sorted_by_coords(coords, *arrays):
    order = np.lexsort(coords.T[::-1])
    return (coords[order],) + tuple(a[order] for a in arrays)


def _triangle_set(coords, faces):
    keyed = [tuple(sorted(map(tuple, tri))) for tri in coords[faces].tolist()]
    return set(keyed)


def _quad_set(coords, faces):
    """Each consecutive triangle pair of a quad mapped to its four voxel coordinates."""
    quads = faces.reshape(-1, 6)
    return {tuple(sorted(set(map(tuple, coords[q].tolist())))) for q in quads}


@pytest.mark.parametrize("name,g,prefix,weights", _cases())
def test_mesh_to_dual_grid_matches_upstream(name, g, prefix, weights):
    data = _load(name)
    coords, duals, flags = mesh_to_flexible_dual_grid(
        data["vertices"], data["faces"], grid_size=g, aabb=AABB, face_weight=weights[0],
        boundary_weight=weights[1], regularization_weight=weights[2])
    ref_c, ref_off, ref_f = _sorted_by_coords(data[f"{prefix}g{g}_coords"], data[f"{prefix}g{g}_dual_offsets"],
                                              data[f"{prefix}g{g}_intersected"])
    c, d, f = _sorted_by_coords(coords, duals, flags)
    assert c.dtype == np.int32 and d.dtype == np.float32 and f.dtype == bool
    np.testing.assert_array_equal(c, ref_c)
    np.testing.assert_array_equal(f, ref_f)
    err = np.abs((d * g - c) - ref_off).max(axis=1)
    assert err.max() <= 1e-3, f"{np.sum(err > 1e-3)} of {len(err)} voxels off by more than 1e-3 voxel"
    # Stricter than the README: the converter rounds every float32 operation in upstream's order (qef_math.h), which
    # measured bit-identical dual vertices on all 17 cases (94,565 voxels). A float64 solve instead was off by
    # up to 0.19 voxel on 365 voxels (5 cases): the toolkit's 0.01 regularization leaves many QEFs ill-conditioned.
    ref_dual = _sorted_by_coords(data[f"{prefix}g{g}_coords"], data[f"{prefix}g{g}_dual_vertices"])[1]
    np.testing.assert_array_equal(d, ref_dual)


@pytest.mark.parametrize("name,g,prefix,weights", [p for p in _cases() if p.values[2] == ""])
def test_extraction_matches_upstream(name, g, prefix, weights):
    data = _load(name)
    coords = data[f"g{g}_coords"]
    offsets, flags, sw = data[f"g{g}_dual_offsets"], data[f"g{g}_intersected"], data[f"g{g}_split_weight"]
    verts, faces = flexible_dual_grid_to_mesh(coords, offsets, flags, sw, aabb=AABB, grid_size=g)
    np.testing.assert_allclose(verts, data[f"g{g}_mesh_vertices"], atol=1e-6)
    assert _triangle_set(coords, faces) == _triangle_set(coords, data[f"g{g}_mesh_faces_weighted"])
    verts, faces = flexible_dual_grid_to_mesh(coords, offsets, flags, None, aabb=AABB, grid_size=g)
    assert len(faces) == len(data[f"g{g}_mesh_faces"])
    assert _quad_set(coords, faces) == _quad_set(coords, data[f"g{g}_mesh_faces"])
