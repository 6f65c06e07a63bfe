"""The torch remesh (``remesh_torch``, the CUDA path of ``remesh_narrow_band_dc``) against the native one: run on CPU
tensors here, it must give the same vertices and faces, in the same order."""

import meshkit.remesh
import numpy as np
import pytest
from mesh_checks import combine, is_closed_manifold, load_asset, sphere
from meshkit import BVH, remesh_narrow_band_dc
from meshkit.topology import face_components
from test_holes_reference import damaged_torus
from test_remesh import grid_for

torch = pytest.importorskip("torch")
import meshkit.remesh_torch  # noqa: E402 - needs torch
from meshkit.remesh_torch import SOUND, remesh_on_device  # noqa: E402


def both(vertices, faces, resolution, band=1.0, project_back=0.0):
    """(native, torch-on-CPU) results as numpy (vertices, faces) pairs on the export chain's grid."""
    centre, scale, _ = grid_for(vertices, resolution, band)
    native = remesh_narrow_band_dc(vertices, faces, centre, scale, resolution, band, project_back)
    got = remesh_on_device(BVH(vertices, faces), tuple(centre), scale, resolution, band, project_back, "cpu")
    return native, tuple(x.numpy() for x in got)


def assert_same(native, got):
    assert got[0].dtype == np.float64 and got[1].dtype == np.int64
    np.testing.assert_array_equal(got[1], native[1])
    np.testing.assert_array_equal(got[0], native[0])


def soup():
    """Two intersecting spheres and a stray fin triangle: the sign repair has work to do."""
    v, f = combine(sphere(2), sphere(2, center=(0.9, 0, 0)))
    return np.vstack([v, [[0, 0, 1.5]]]), np.vstack([f, [[f[0, 0], f[0, 1], len(v)]]])


def open_cap():
    """A sphere with its top cap cut away: an open surface whose band wraps around the rim."""
    v, f = sphere(3)
    return v, f[v[f].mean(axis=1)[:, 2] < 0.5]


@pytest.mark.parametrize(("case", "resolution", "band", "project_back"), [
    ("sphere", 20, 1.0, 0.0),
    ("ellipsoid", 28, 1.5, 0.5),
    ("damaged torus", 40, 1.0, 1.0),
    ("open cap", 24, 1.0, 0.0),
    ("soup", 32, 1.0, 0.0),
    ("soup", 9, 0.5, 0.0),
])
def test_torch_path_equals_the_native_path(case, resolution, band, project_back):
    v, f = {"sphere": lambda: sphere(3), "ellipsoid": lambda: (sphere(3)[0] * [1.0, 0.8, 0.6], sphere(3)[1]),
            "damaged torus": lambda: damaged_torus(rings=60, segments=30), "open cap": open_cap, "soup": soup}[case]()
    native, got = both(v, f, resolution, band, project_back)
    assert len(native[1]) > 200
    assert_same(native, got)
    assert is_closed_manifold(got[1])


def test_repair_passes_and_cascades_match_on_an_asset():
    """A thin band on the duck needs two repair passes (about 2,500 then a dozen flips, measured)."""
    v, f = load_asset("Duck.glb")
    native, got = both(v, f, 64, band=0.6)
    assert_same(native, got)
    assert is_closed_manifold(got[1])


def test_sound_table_matches_known_configurations():
    assert SOUND[0] and SOUND[255] and SOUND[1] and SOUND[0b11] and SOUND[0b1111]
    assert not SOUND[0b1001]  # corners 0 and 3: a checkerboard face
    assert not SOUND[0b10000001]  # opposite corners 0 and 7: two inside parts
    assert SOUND[0b11111110] and not SOUND[0b01111110]  # one outside corner; two opposite ones


@pytest.fixture
def dispatch_on_cpu(monkeypatch):
    """Send CPU tensors down the device path of ``remesh_narrow_band_dc``, as CUDA tensors would go; yields the
    list of devices that path ran on."""
    monkeypatch.setattr(meshkit.remesh, "cuda_device",
                        lambda *values: torch.device("cpu") if isinstance(values[0], torch.Tensor) else None)
    calls = []

    def recorded(*args):
        calls.append(args[-1])
        return remesh_on_device(*args)

    monkeypatch.setattr(meshkit.remesh_torch, "remesh_on_device", recorded)
    return calls


@pytest.mark.parametrize("project_back", [0.0, 0.7])
def test_outer_only_with_an_inner_shell_through_the_device_dispatch(dispatch_on_cpu, project_back):
    v, f = combine(sphere(3), sphere(2, radius=0.5))
    v = v.astype(np.float32).astype(np.float64)  # as the float32 tensor below
    centre, scale, _ = grid_for(v, 32, 1.0)
    native = remesh_narrow_band_dc(v, f, centre, scale, 32, 1.0, project_back, outer_only=True)
    got = remesh_narrow_band_dc(torch.from_numpy(v).float(), torch.from_numpy(f), torch.from_numpy(centre), scale,
                                32, 1.0, project_back, outer_only=True)
    assert dispatch_on_cpu == [torch.device("cpu")]  # the native result came from the native path only
    assert got[0].dtype == torch.float32 and got[1].dtype == torch.int64
    np.testing.assert_array_equal(got[1].numpy(), native[1])
    np.testing.assert_array_equal(got[0].numpy(), native[0].astype(np.float32))
    assert is_closed_manifold(native[1]) and face_components(native[1]).max() == 0


def test_device_dispatch_warns_on_an_empty_result(dispatch_on_cpu):
    v, f = sphere(2)
    with pytest.warns(UserWarning, match="empty"):
        out_v, out_f = remesh_narrow_band_dc(torch.from_numpy(v), torch.from_numpy(f), [10, 10, 10], 1.0, 16)
    assert len(dispatch_on_cpu) == 1
    assert out_v.shape == (0, 3) and out_f.shape == (0, 3) and out_v.dtype == torch.float64
