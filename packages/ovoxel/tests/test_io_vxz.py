"""The .vxz codec: upstream fixtures decode exactly, our writer reproduces them, every option round-trips."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from ovoxel.io import read_vxz, read_vxz_info, write_vxz
from ovoxel.io.filters import apply_deltas, parent_predictors
from ovoxel.io.morton import morton_encode
from ovoxel.io.svo import decode_svo, encode_svo

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
VXZ_DIR = SHARED / "parity" / "ovoxel" / "vxz"


def _fixtures() -> list[Path]:
    return sorted(VXZ_DIR.glob("*.vxz")) if VXZ_DIR.is_dir() else []


@pytest.fixture(scope="module")
def duck():
    if not VXZ_DIR.is_dir():
        pytest.skip(f"shared parity data not found at {VXZ_DIR}")
    from safetensors.numpy import load_file

    data = load_file(str(SHARED / "parity" / "ovoxel" / "attr_Duck.safetensors"))
    return data["coords"], {k[len("attr_"):]: v for k, v in data.items() if k.startswith("attr_")}


def _canonical(coords, attrs):
    order = np.lexsort(coords.T[::-1])
    return coords[order], {name: values[order] for name, values in attrs.items()}


def _assert_same_voxels(a, b):
    coords_a, attrs_a = _canonical(*a)
    coords_b, attrs_b = _canonical(*b)
    np.testing.assert_array_equal(coords_a, coords_b)
    assert list(attrs_a) == list(attrs_b)
    for name in attrs_a:
        np.testing.assert_array_equal(attrs_a[name], attrs_b[name], err_msg=name)


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: p.stem)
def test_upstream_fixture_decodes_and_reencodes_byte_identically(path, duck):
    coords, attrs = read_vxz(path)
    assert coords.dtype == np.int32 and all(v.dtype == np.uint8 for v in attrs.values())
    _assert_same_voxels((coords, attrs), (duck[0], {name: duck[1][name] for name in attrs}))
    header = read_vxz_info(path)
    buffer = io.BytesIO()
    ours = write_vxz(buffer, duck[0], {name: duck[1][name] for name in attrs}, chunk_size=header["chunk_size"],
                     filter=header["filter"], compression=header["compression"],
                     attr_interleave=header["attr_interleave"])
    assert ours == header
    assert buffer.getvalue() == path.read_bytes()


def test_upstream_fixtures_present():
    if not VXZ_DIR.is_dir():
        pytest.skip(f"shared parity data not found at {VXZ_DIR}")
    assert len(_fixtures()) >= 5


def _random_voxels(seed: int, n: int = 3000, extent: int = 200):
    rng = np.random.default_rng(seed)
    coords = np.unique(rng.integers(0, extent, size=(n, 3)), axis=0).astype(np.int32)
    smooth = (coords.sum(axis=1, keepdims=True) // 3).astype(np.uint8)
    attrs = {"color": (smooth + rng.integers(0, 4, size=(len(coords), 3))).astype(np.uint8),
             "flag": rng.integers(0, 2, size=(len(coords), 1)).astype(np.uint8)}
    return coords, attrs


@pytest.mark.parametrize("compression", ["none", "deflate", "lzma", "zstd"])
@pytest.mark.parametrize("filter_name", ["none", "parent", "neighbor"])
@pytest.mark.parametrize("interleave", ["none", "as_is", "all"])
def test_every_option_round_trips(compression, filter_name, interleave):
    coords, attrs = _random_voxels(seed=len(compression) + 7 * len(filter_name) + len(interleave))
    buffer = io.BytesIO()
    header = write_vxz(buffer, coords, attrs, chunk_size=64, filter=filter_name, compression=compression,
                       attr_interleave=interleave, compression_level=1 if compression != "none" else None)
    assert header["num_voxel"] == len(coords)
    assert len(header["chunks"]) == len(np.unique(coords // 64, axis=0)) > 1
    buffer.seek(0)
    _assert_same_voxels(read_vxz(buffer), (coords, attrs))


@pytest.mark.parametrize("chunk_size", [2, 8, 1024])
def test_chunk_sizes_round_trip(chunk_size):
    coords, attrs = _random_voxels(seed=chunk_size, n=500, extent=40)
    buffer = io.BytesIO()
    write_vxz(buffer, coords, attrs, chunk_size=chunk_size, filter="parent", compression="zstd")
    buffer.seek(0)
    _assert_same_voxels(read_vxz(buffer), (coords, attrs))


def test_svo_documented_example():
    codes = morton_encode(np.array([[0, 0, 0], [1, 0, 0], [3, 3, 3]]))
    np.testing.assert_array_equal(codes, [0, 4, 63])
    np.testing.assert_array_equal(encode_svo(codes, 2), [0x81, 0x11, 0x80])
    np.testing.assert_array_equal(decode_svo(np.array([0x81, 0x11, 0x80], np.uint8), 2), [0, 4, 63])


def test_parent_filter_documented_example():
    predictor, slots = parent_predictors(np.array([0, 1, 2, 9]), depth=2)
    values = np.array([[10], [12], [15], [100]], dtype=np.uint8)
    np.testing.assert_array_equal(apply_deltas(values, predictor)[slots].ravel(), [10, 90, 2, 3])


def test_empty_voxel_set_round_trips(tmp_path):
    path = tmp_path / "empty.vxz"
    write_vxz(path, np.zeros((0, 3), np.int32), {"a": np.zeros((0, 2), np.uint8)})
    coords, attrs = read_vxz(path)
    assert coords.shape == (0, 3) and attrs["a"].shape == (0, 2)


def test_header_only_read(tmp_path):
    coords, attrs = _random_voxels(seed=3, n=100)
    path = tmp_path / "v.vxz"
    write_vxz(path, coords, attrs)
    blob = path.read_bytes()
    (bin_start,) = struct.unpack(">I", blob[4:8])
    path.write_bytes(blob[:bin_start])  # payload gone: header must still be readable
    info = read_vxz_info(path)
    assert info == json.loads(blob[8:bin_start]) and info["attr"] == [["color", 3], ["flag", 1]]


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-40], "truncated"),
    (lambda b: b"XYZ" + b[3:], "magic"),
    (lambda b: b[:6], "too short"),
    (lambda b: b[:12], "truncated inside its header"),
    (lambda b: b[:-60] + bytes(60), "corrupt"),
])
def test_damaged_files_raise_clear_errors(tmp_path, damage, message):
    coords, attrs = _random_voxels(seed=5, n=400)
    path = tmp_path / "v.vxz"
    write_vxz(path, coords, attrs, compression="deflate")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message):
        read_vxz(path)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"chunk_size": 3}, ValueError, "power of two"),
    ({"filter": "median"}, ValueError, "unknown filter"),
    ({"compression": "brotli"}, ValueError, "unknown compression"),
    ({"attr_interleave": "some"}, ValueError, "unknown attr_interleave"),
])
def test_bad_write_options_are_refused(kwargs, error, message):
    coords, attrs = _random_voxels(seed=1, n=10)
    with pytest.raises(error, match=message):
        write_vxz(io.BytesIO(), coords, attrs, **kwargs)


def test_bad_write_inputs_are_refused():
    coords, attrs = _random_voxels(seed=1, n=10)
    with pytest.raises(TypeError, match="uint8"):
        write_vxz(io.BytesIO(), coords, {"a": attrs["color"].astype(np.float32)})
    with pytest.raises(ValueError, match="non-negative"):
        write_vxz(io.BytesIO(), coords - coords.max() - 1, attrs)
    with pytest.raises(ValueError, match="duplicate"):
        write_vxz(io.BytesIO(), np.concatenate([coords, coords[:1]]), {})
    with pytest.raises(ValueError, match="reserved"):
        write_vxz(io.BytesIO(), coords, {"svo": attrs["flag"]})
