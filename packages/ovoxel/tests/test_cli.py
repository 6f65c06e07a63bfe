"""The `ovoxel` command run as a real subprocess: conversions, info, demo and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import ovoxel.io
import pytest
import trimesh

OVOXEL = [sys.executable, "-c", "from ovoxel.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*OVOXEL, *args], capture_output=True, text=True, timeout=120)


def assert_clean_failure(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.fixture(scope="module")
def box_obj(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mesh") / "box.obj"
    trimesh.creation.box(extents=(1, 0.5, 0.25)).export(path)
    return path


def test_help_lists_commands_and_examples():
    result = run("--help")
    assert result.returncode == 0
    for word in ("convert", "info", "demo", "Examples"):
        assert word in result.stdout


def test_convert_then_info(box_obj, tmp_path):
    out = tmp_path / "box.vxz"
    result = run("convert", str(box_obj), str(out), "--resolution", "16", "--compression", "zstd")
    assert result.returncode == 0, result.stderr
    coords, attrs = ovoxel.io.read(out)
    assert len(coords) > 0 and coords.min() >= 0 and coords.max() < 16
    assert set(attrs) == {"base_color", "metallic", "roughness", "emissive", "alpha", "normal", "dual_vertices",
                          "intersected"}
    assert np.all(attrs["intersected"] < 8) and np.any(attrs["intersected"] > 0)
    header = json.loads(run("info", str(out)).stdout)
    assert header["num_voxel"] == len(coords) and header["compression"] == "zstd"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_ovoxel_back_to_mesh_and_no_attrs(box_obj, tmp_path):
    voxels = tmp_path / "box.vxz"
    assert run("convert", str(box_obj), str(voxels), "-r", "16", "--no-attrs").returncode == 0
    assert set(ovoxel.io.read(voxels)[1]) == {"dual_vertices", "intersected"}
    out = tmp_path / "box_back.ply"
    result = run("convert", str(voxels), str(out), "-r", "16", "--aabb", "-0.51", "-0.51", "-0.51", "0.51", "0.51",
                 "0.51")
    assert result.returncode == 0, result.stderr
    mesh = trimesh.load(out, force="mesh")
    assert len(mesh.faces) > 0
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.25, -0.125], [0.5, 0.25, 0.125]], atol=0.07)


def test_explicit_aabb_clips_and_warns(box_obj, tmp_path):
    out = tmp_path / "clipped.npz"
    result = run("convert", str(box_obj), str(out), "-r", "8", "--aabb", "0", "-1", "-1", "1", "1", "1")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "clipped" in result.stderr
    coords, _ = ovoxel.io.read(out)
    assert len(coords) > 0 and coords.max() < 8


def test_demo_round_trip(tmp_path):
    result = run("demo", str(tmp_path), "-r", "32")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo.vxz").is_file() and (tmp_path / "demo.glb").is_file()
    assert "sampled Chamfer" in result.stdout


@pytest.mark.parametrize("content, message", [
    ("", "contains no triangles"),
    ("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "NaN or infinite"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 inf\nf 1 2 3\nf 1 2 4\n", "NaN or infinite"),  # not silently dropped
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", "out of bounds"),
    ("this is not a mesh at all\n", "no triangles"),
])
def test_bad_meshes_fail_with_one_line(tmp_path, content, message):
    source = tmp_path / "bad.obj"
    source.write_text(content)
    out = tmp_path / "out.vxz"
    assert_clean_failure(run("convert", str(source), str(out), "-r", "8"), message)
    assert not out.exists()


def test_quads_are_triangulated_and_zero_area_faces_skipped(tmp_path):
    source = tmp_path / "quad.obj"
    source.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0.3\nv 0 1 0.3\nv 2 2 2\nf 1 2 3 4\nf 5 5 5\n")
    out = tmp_path / "quad.vxz"
    assert run("convert", str(source), str(out), "-r", "8").returncode == 0
    assert len(ovoxel.io.read(out)[0]) > 0


def test_refuses_resolutions_that_do_not_fit_in_memory(box_obj, tmp_path):
    out = tmp_path / "huge.vxz"
    assert_clean_failure(run("convert", str(box_obj), str(out), "-r", "4096"), "lower the resolution")
    assert not out.exists()


def test_corrupt_and_missing_files(tmp_path, box_obj):
    good = tmp_path / "good.vxz"
    ovoxel.io.write(good, np.array([[1, 2, 3]]), {"a": np.array([[7]], np.uint8)})
    broken = tmp_path / "broken.vxz"
    broken.write_bytes(good.read_bytes()[:10])
    assert_clean_failure(run("info", str(broken)), "truncated")
    assert_clean_failure(run("info", str(tmp_path / "none.vxz")), "No such file")
    assert_clean_failure(run("convert", str(tmp_path / "none.glb"), str(tmp_path / "o.vxz")), "no such mesh")
    assert_clean_failure(run("convert", str(box_obj), str(tmp_path / "o.txt")), "output must end in")
    assert_clean_failure(run("convert", str(good), str(tmp_path / "o.glb")), "has no geometry")
