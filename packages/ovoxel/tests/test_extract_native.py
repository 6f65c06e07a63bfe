"""Native (C++) flexible dual grid extraction: same output as the torch path, edge cases, thread determinism."""

import os
import subprocess
import sys

import numpy as np
import ovoxel
import pytest
import trimesh
from extract_cases import assert_same_mesh

AABB = [[-0.5] * 3, [0.5] * 3]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _random_grid(seed: int, grid: int = 14, density: float = 0.8):
    """A random voxel subset of a grid (in shuffled order) with random offsets, edge flags and split weights."""
    rng = np.random.default_rng(seed)
    cells = np.stack(np.meshgrid(*[np.arange(grid)] * 3, indexing="ij"), -1).reshape(-1, 3)
    coords = rng.permutation(cells[rng.random(len(cells)) < density]).astype(np.int32)
    offsets = rng.random((len(coords), 3), dtype=np.float32)
    flags = rng.random((len(coords), 3)) < 0.5
    weights = rng.uniform(0.1, 2.0, (len(coords), 1)).astype(np.float32)
    return coords, offsets, flags, weights


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_random_grid_matches_torch(torch, seed, weighted):
    coords, offsets, flags, weights = _random_grid(seed)
    faces = assert_same_mesh(torch, coords, offsets, flags, weights if weighted else None, grid=14)
    assert faces > 2000


def test_sorted_and_wide_integer_inputs_match_torch(torch):
    coords, offsets, flags, weights = _random_grid(3)
    order = np.lexsort(coords.T[::-1])
    assert_same_mesh(torch, coords[order], offsets[order], flags[order], weights[order], grid=14)
    for dtype in (np.int64, np.int16, np.uint16):
        assert_same_mesh(torch, coords.astype(dtype), offsets, flags, grid=14)


def test_duplicate_voxels_resolve_like_torch(torch):
    coords, offsets, flags, weights = _random_grid(4, grid=8)
    again = np.random.default_rng(4).choice(len(coords), 50)
    coords, offsets = np.concatenate([coords, coords[again]]), np.concatenate([offsets, offsets[again] * 0.5])
    flags, weights = np.concatenate([flags, flags[again]]), np.concatenate([weights, weights[again]])
    assert_same_mesh(torch, coords, offsets, flags, weights, grid=8)
    assert_same_mesh(torch, coords, offsets, flags, grid=8)


def test_out_of_grid_coordinates_follow_the_torch_keys(torch):
    # Negative or far coordinates are not valid O-Voxels, but both paths must still agree (same linear keys); the
    # far ones are too wide for the radix sort and take the comparison sort.
    coords, offsets, flags, _ = _random_grid(5, grid=8)
    assert_same_mesh(torch, coords - 3, offsets, flags, grid=8)
    far = coords.astype(np.int64)
    far[::7, 0] += 1 << 50
    far[1::7, 0] -= 1 << 50
    assert_same_mesh(torch, far, offsets, flags, grid=8)


def test_real_sphere_matches_torch(torch):
    mesh = trimesh.creation.icosphere(4, radius=0.4)
    coords, duals, flags = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=96, aabb=AABB)
    offsets = duals * 96 - coords
    weights = np.random.default_rng(0).uniform(0.1, 2, len(coords)).astype(np.float32)
    assert assert_same_mesh(torch, coords, offsets, flags, grid=96, aabb=AABB) > 0.5 * len(coords)
    assert_same_mesh(torch, coords, offsets, flags, weights, grid=96, aabb=AABB)


def test_dense_block_at_the_border_only_closes_inner_edges(torch):
    # Every voxel of a 3^3 grid flags all three axes; an edge owned by (x, y, z) along x has its quad only when
    # y + 1 and z + 1 are inside, so 3 * 2 * 2 quads per axis.
    coords = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    offsets = np.full((27, 3), 0.5, np.float32)
    flags = np.ones((27, 3), bool)
    assert assert_same_mesh(torch, coords, offsets, flags, grid=3) == 3 * 12 * 2
    verts, faces = ovoxel.flexible_dual_grid_to_mesh(coords, offsets, flags, grid_size=3)
    quads = faces.reshape(-1, 6)
    # Flat quads tie, and ties take diagonal 0-2: triangles (0, 1, 2), (0, 2, 3) of each quad.
    np.testing.assert_array_equal(quads[:, [0, 3]], quads[:, [0, 0]])
    np.testing.assert_array_equal(quads[:, 2], quads[:, 4])
    first = coords[quads[0, [0, 1, 2, 5]]]
    np.testing.assert_array_equal(first, [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]])
    np.testing.assert_allclose(verts[0], [-0.5 + 0.5 / 3] * 3, atol=1e-7)


def test_empty_and_faceless_grids():
    verts, faces = ovoxel.flexible_dual_grid_to_mesh(np.zeros((0, 3), np.int32), np.zeros((0, 3)),
                                                     np.zeros((0, 3), bool), grid_size=8)
    assert verts.shape == (0, 3) and verts.dtype == np.float32
    assert faces.shape == (0, 3) and faces.dtype == np.int64
    coords = np.array([[1, 1, 1], [1, 1, 2], [1, 2, 2]], np.int32)  # the x edge of (1, 1, 1) lacks (1, 2, 1)
    verts, faces = ovoxel.flexible_dual_grid_to_mesh(coords, np.full((3, 3), 0.5), np.ones((3, 3), bool),
                                                     grid_size=8)
    assert verts.shape == (3, 3) and faces.shape == (0, 3)


@pytest.mark.parametrize("kwargs,message", [
    ({"coords": np.zeros((4, 3), np.float32)}, "coords must hold integers"),
    ({"offsets": np.zeros((3, 3))}, "must all have shape"),
    ({"flags": np.zeros((4, 2), bool)}, "must all have shape"),
    ({"weights": np.ones(5, np.float32)}, "split_weight must have N=4"),
])
def test_bad_input_is_rejected(kwargs, message):
    args = {"coords": np.zeros((4, 3), np.int32), "offsets": np.zeros((4, 3)), "flags": np.zeros((4, 3), bool),
            "weights": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        ovoxel.flexible_dual_grid_to_mesh(args["coords"], args["offsets"], args["flags"], args["weights"], grid_size=4)


@pytest.fixture(scope="module")
def sphere_256():
    """A real grid large enough for several radix blocks and owner chunks (0.25M voxels, first-touch order)."""
    mesh = trimesh.creation.icosphere(5, radius=0.45)
    coords, duals, flags = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=256, aabb=AABB)
    assert len(coords) > 200_000
    return coords, duals * 256 - coords, flags


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_same_output_for_any_thread_count(sphere_256, weighted):
    coords, offsets, flags = sphere_256
    weights = np.random.default_rng(0).uniform(0.1, 2, len(coords)).astype(np.float32) if weighted else None
    one = ovoxel.flexible_dual_grid_to_mesh(coords, offsets, flags, weights, aabb=AABB, grid_size=256, num_threads=1)
    assert len(one[1]) > 400_000
    for threads in (2, 7):
        many = ovoxel.flexible_dual_grid_to_mesh(coords, offsets, flags, weights, aabb=AABB, grid_size=256,
                                                 num_threads=threads)
        for a, b in zip(one, many, strict=True):
            np.testing.assert_array_equal(a, b)


def test_omp_num_threads_subprocess_matches():
    code = (
        "import numpy as np, trimesh, ovoxel, sys;"
        "m = trimesh.creation.icosphere(4, radius=0.4);"
        "c, d, f = ovoxel.mesh_to_flexible_dual_grid(m.vertices, m.faces, grid_size=160, aabb=[[-0.5]*3, [0.5]*3]);"
        "v, t = ovoxel.flexible_dual_grid_to_mesh(c, d * 160 - c, f, aabb=[[-0.5]*3, [0.5]*3], grid_size=160);"
        "sys.stdout.buffer.write(v.tobytes() + t.tobytes())"
    )
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                           env={**os.environ, "OMP_NUM_THREADS": t}).stdout for t in ("1", "3")]
    assert len(outs[0]) > 1_000_000 and outs[0] == outs[1]
