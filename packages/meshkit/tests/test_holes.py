import numpy as np
import pytest
from mesh_checks import ASSETS, directed_edges_unique, hausdorff, is_watertight, load_asset, one_sided, sphere
from meshkit import Mesh, fill_holes
from meshkit.holes import boundary_loops


def punch(vertices, faces, centres):
    """Remove every face touching one of the given vertices: one hole per (well separated) centre."""
    touched = np.isin(faces, centres).any(axis=1)
    return faces[~touched]


def test_punched_holes_are_found_and_filled_watertight():
    v, f = sphere(3)
    centres = [0, 5, 11]  # icosahedron corners, far apart
    damaged = punch(v, f, centres)
    loops = boundary_loops(damaged)
    assert sorted(len(loop) for loop in loops) == [5, 5, 5]
    out_v, out_f = fill_holes(v, damaged, max_hole_perimeter=1.0)
    assert is_watertight(out_f) and directed_edges_unique(out_f)
    # Only the holes changed: the original faces are kept verbatim and the patches stay near the sphere.
    np.testing.assert_array_equal(out_f[: len(damaged)], damaged)
    assert hausdorff((out_v, out_f), (v, f)) < 0.02


def test_perimeter_limit_leaves_large_holes_open():
    v, f = sphere(3)
    small = punch(v, f, [0])
    large = np.flatnonzero(v[:, 2] > 0.8)  # a cap of many vertices
    damaged = punch(v, small, large)
    perimeters = sorted(
        np.linalg.norm(v[loop] - np.roll(v[loop], -1, axis=0), axis=1).sum() for loop in boundary_loops(damaged)
    )
    out_v, out_f = fill_holes(v, damaged, max_hole_perimeter=(perimeters[0] + perimeters[1]) / 2)
    assert len(boundary_loops(out_f)) == 1
    assert len(out_f) == len(damaged) + 5 and len(out_v) == len(v) + 1


def test_mesh_method_and_bad_limit():
    v, f = sphere(2)
    mesh = Mesh(v, punch(v, f, [3]))
    assert is_watertight(mesh.fill_holes(2.0).numpy()[1])
    with pytest.raises(ValueError, match="max_hole_perimeter"):
        mesh.fill_holes(-1)


@pytest.mark.parametrize("name", ASSETS[:4])
def test_filling_asset_holes_adds_only_patches(name):
    v, f = load_asset(name)
    rng = np.random.default_rng(0)
    centres = rng.choice(np.unique(f), 3, replace=False)
    damaged = punch(v, f, centres)
    before = len(boundary_loops(damaged))
    out_v, out_f = fill_holes(v, damaged)
    assert len(boundary_loops(out_f)) == 0 < before
    np.testing.assert_array_equal(out_f[: len(damaged)], damaged)
    # The patches lie within the punched region: every point of the result is close to the intact surface.
    diag = np.linalg.norm(np.ptp(v, axis=0))
    assert one_sided((out_v, out_f), (v, f)) < 0.1 * diag
