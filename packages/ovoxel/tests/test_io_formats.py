"""Extension dispatch and the .npz / .ply voxel formats."""

from __future__ import annotations

import numpy as np
import ovoxel.io
import pytest


def _voxels():
    rng = np.random.default_rng(0)
    coords = np.unique(rng.integers(0, 300, size=(500, 3)), axis=0).astype(np.int32)
    return coords, {"base_color": rng.integers(0, 256, (len(coords), 3)).astype(np.uint8),
                    "sdf": rng.normal(size=(len(coords), 1)).astype(np.float32)}


@pytest.mark.parametrize("suffix", [".npz", ".ply"])
def test_round_trip_keeps_order_and_dtypes(tmp_path, suffix):
    coords, attrs = _voxels()
    path = tmp_path / f"v{suffix}"
    ovoxel.io.write(path, coords, attrs)
    back_coords, back_attrs = ovoxel.io.read(path)
    assert back_coords.dtype == np.int32
    np.testing.assert_array_equal(back_coords, coords)
    for name, values in attrs.items():
        assert back_attrs[name].dtype == values.dtype
        np.testing.assert_array_equal(back_attrs[name], values)
    assert ovoxel.io.read_info(path) == {"num_voxel": len(coords), "attr": [["base_color", 3], ["sdf", 1]]}


def test_vxz_dispatch_accepts_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    coords, attrs = _voxels()
    path = tmp_path / "v.vxz"
    ovoxel.io.write(path, torch.from_numpy(coords), {"c": torch.from_numpy(attrs["base_color"])}, compression="zstd")
    back_coords, back_attrs = ovoxel.io.read(path)
    order = np.lexsort(back_coords.T[::-1])
    np.testing.assert_array_equal(back_coords[order], coords)  # coords were already lexicographically sorted
    np.testing.assert_array_equal(back_attrs["c"][order], attrs["base_color"])
    assert ovoxel.io.read_info(path)["compression"] == "zstd"


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unsupported voxel file extension"):
        ovoxel.io.read(tmp_path / "v.obj")
    with pytest.raises(FileNotFoundError, match="no such voxel file"):
        ovoxel.io.read(tmp_path / "missing.vxz")


def test_npz_refuses_coordinates_it_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="65535"):
        ovoxel.io.write(tmp_path / "v.npz", np.array([[70000, 0, 0]]), {})


def test_truncated_ply_is_reported(tmp_path):
    coords, attrs = _voxels()
    path = tmp_path / "v.ply"
    ovoxel.io.write(path, coords, attrs)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        ovoxel.io.read(path)
