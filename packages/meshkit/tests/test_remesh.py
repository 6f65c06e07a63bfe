import numpy as np
import pytest
from mesh_checks import (
    combine,
    is_closed_manifold,
    load_asset,
    one_sided,
    signed_volume,
    sphere,
    surface_samples,
)
from meshkit import BVH, remesh_narrow_band_dc
from meshkit.topology import face_components


def grid_for(vertices, resolution, band):
    """Centre and cube side the export chain uses: the bounding cube grown by 3 * band voxels."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    scale = (resolution + 3 * band) / resolution * (hi - lo).max()
    return (lo + hi) / 2, scale, scale / resolution


def test_sphere_gives_two_offset_shells_one_voxel_out_and_in():
    v, f = sphere(4)
    centre, scale, voxel = grid_for(v, 32, 1.0)
    out_v, out_f = remesh_narrow_band_dc(v, f, centre, scale, 32, band=1.0, project_back=0.0)
    assert is_closed_manifold(out_f)
    labels = face_components(out_f)
    assert labels.max() == 1
    radius = np.linalg.norm(out_v, axis=1)
    outer = np.unique(out_f[labels == labels[np.argmax(radius[out_f[:, 0]])]])
    inner = np.setdiff1d(np.unique(out_f), outer)
    # Each shell sits within one voxel of its offset sphere (radius 1 +- band voxels).
    assert np.abs(radius[outer] - (1 + voxel)).max() < voxel
    assert np.abs(radius[inner] - (1 - voxel)).max() < voxel
    # Faces point away from the band: outward on the outer shell, toward the centre on the inner one.
    outer_faces = np.isin(out_f[:, 0], outer)
    assert signed_volume(out_v, out_f[outer_faces]) > 0 > signed_volume(out_v, out_f[~outer_faces])


@pytest.mark.parametrize("name", ["Duck.glb", "monkey.glb", "fandisk.obj", "lantern.glb"])
def test_asset_remesh_is_closed_manifold_and_within_a_voxel(name):
    v, f = load_asset(name)
    band, resolution = 1.0, 48
    centre, scale, voxel = grid_for(v, resolution, band)
    out_v, out_f = remesh_narrow_band_dc(v, f, centre, scale, resolution, band=band, project_back=0.0)
    assert is_closed_manifold(out_f)
    distance = BVH(v, f).closest_point(out_v)[0]
    # Vertices lie within one voxel of the offset level band * voxel (measured 0.6 to 1.6 voxels).
    assert np.abs(distance - band * voxel).max() < voxel
    # Every input point is covered: within band + 1.5 voxels of the output (measured up to 2.3 voxels).
    assert one_sided((v, f), (out_v, out_f)) < (band + 1.5) * voxel


def test_projecting_back_lands_vertices_on_the_input():
    v, f = load_asset("Duck.glb")
    centre, scale, voxel = grid_for(v, 48, 1.0)
    out_v, out_f = remesh_narrow_band_dc(v, f, centre, scale, 48, band=1.0, project_back=1.0)
    assert is_closed_manifold(out_f)
    assert BVH(v, f).closest_point(out_v)[0].max() < 1e-9 * scale
    # Faces follow the input: 99% of surface samples within one voxel, all within two (measured 0.2 / 1.5).
    distance = BVH(v, f).closest_point(surface_samples(out_v, out_f))[0]
    assert np.percentile(distance, 99) < voxel and distance.max() < 2 * voxel
    _, half_f = remesh_narrow_band_dc(v, f, centre, scale, 48, band=1.0, project_back=0.5)
    np.testing.assert_array_equal(half_f, out_f)  # projection moves vertices only


def test_non_manifold_soup_input_still_gives_a_manifold_surface():
    a, b = sphere(2), sphere(2, center=(0.9, 0, 0))  # two intersecting spheres plus a fin-like stray triangle
    v, f = combine(a, b)
    v = np.vstack([v, [[0, 0, 1.5]]])
    f = np.vstack([f, [[f[0, 0], f[0, 1], len(v) - 1]]])
    centre, scale, _ = grid_for(v, 32, 1.0)
    _, out_f = remesh_narrow_band_dc(v, f, centre, scale, 32)
    assert is_closed_manifold(out_f)


def test_torch_and_bad_arguments():
    torch = pytest.importorskip("torch")
    v, f = sphere(2)
    out_v, out_f = remesh_narrow_band_dc(torch.from_numpy(v).float(), torch.from_numpy(f), [0, 0, 0], 2.5, 16)
    assert isinstance(out_v, torch.Tensor) and out_v.dtype == torch.float32 and out_f.dtype == torch.int64
    for kwargs, message in [
        ({"resolution": 0}, "resolution"),
        ({"project_back": 1.5}, "project_back"),
        ({"band": -1}, "band"),
        ({"scale": float("nan")}, "scale"),
        ({"center": [0, 0]}, "center"),
    ]:
        args = {"center": [0, 0, 0], "scale": 2.5, "resolution": 16} | kwargs
        with pytest.raises(ValueError, match=message):
            remesh_narrow_band_dc(v, f, **args)


def test_grid_missing_the_input_warns_and_returns_empty():
    v, f = sphere(2)
    with pytest.warns(UserWarning, match="empty"):
        out_v, out_f = remesh_narrow_band_dc(v, f, [10, 10, 10], 1.0, 16)
    assert out_v.shape == (0, 3) and out_f.shape == (0, 3)


def test_outer_only_keeps_just_the_visible_shell():
    v, f = sphere(4)
    centre, scale, voxel = grid_for(v, 32, 1.0)
    out_v, out_f = remesh_narrow_band_dc(v, f, centre, scale, 32, band=1.0, project_back=0.5, outer_only=True)
    assert is_closed_manifold(out_f) and face_components(out_f).max() == 0
    radius = np.linalg.norm(out_v, axis=1)
    assert np.abs(radius - (1 + 0.5 * voxel)).max() < voxel  # half way back from the outer offset sphere
    assert signed_volume(out_v, out_f) > 0


def dense_reference(v, f, centre, scale, resolution, band):
    """Dual-contouring vertices from distances at every grid point (unsigned distance per point, no narrow band):
    one vertex per voxel with mixed corners, at the mean of its edges' interpolated crossings, in key order."""
    voxel = scale / resolution
    axis = np.arange(resolution + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    distance = BVH(v, f).unsigned_distance(centre - scale / 2 + grid * voxel)
    value = (distance - band * voxel).reshape((resolution + 1,) * 3)
    corners = [(a & 1, (a >> 1) & 1, (a >> 2) & 1) for a in range(8)]
    inside = value < 0
    masks = sum(inside[i : i + resolution, j : j + resolution, k : k + resolution].astype(int) << c
                for c, (i, j, k) in enumerate(corners))
    cells = np.argwhere((masks > 0) & (masks < 255))
    total, count = np.zeros((len(cells), 3)), np.zeros(len(cells))
    for a, offset_a in enumerate(corners):
        for axis_index in range(3):
            b = a | (1 << axis_index)
            if b == a:
                continue
            va = value[tuple((cells + offset_a).T)]
            vb = value[tuple((cells + corners[b]).T)]
            crossed = (va < 0) != (vb < 0)
            t = np.clip(va / np.where(crossed, va - vb, 1.0), 0, 1)
            point = np.asarray(offset_a) + t[:, None] * (np.asarray(corners[b]) - offset_a)
            total += np.where(crossed[:, None], point, 0)
            count += crossed
    crossed_edges = sum(np.count_nonzero(np.diff(inside.astype(np.int8), axis=k)) for k in range(3))
    return centre - scale / 2 + (cells + total / count[:, None]) * voxel, crossed_edges


@pytest.mark.parametrize(("subdivisions", "resolution", "band"), [(3, 20, 1.0), (4, 28, 1.5)])
def test_narrow_band_matches_a_dense_grid_reference(subdivisions, resolution, band):
    v, f = sphere(subdivisions)
    v = v * [1.0, 0.8, 0.6]  # an ellipsoid, so grid points are not symmetric about the surface
    centre, scale, _ = grid_for(v, resolution, band)
    out_v, out_f = remesh_narrow_band_dc(v, f, centre, scale, resolution, band=band, project_back=0.0)
    reference_v, crossed_edges = dense_reference(v, f, centre, scale, resolution, band)
    np.testing.assert_allclose(out_v, reference_v, rtol=0, atol=1e-12 * scale)
    assert len(out_f) == 2 * crossed_edges
