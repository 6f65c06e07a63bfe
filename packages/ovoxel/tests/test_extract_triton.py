"""The Triton extraction (CPU interpreter here, compiled on a GPU) gives exactly the torch path's vertices and faces,
in the same order, on random, duplicate, out-of-grid, wide-key and parity grids."""

import json
import os
from pathlib import Path

import numpy as np
import ovoxel
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are decorated, i.e. at first import
pytest.importorskip("triton")
pytest.importorskip("sparsetensor")  # its Triton hash helpers

from ovoxel.convert.extract_triton import extract_triton  # noqa: E402
from ovoxel.convert.flexible_dual_grid import _device_inputs  # noqa: E402
from ovoxel.grid import resolve_grid  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
AABB = np.array([[-0.5] * 3, [0.5] * 3])
PARITY = Path(__file__).resolve().parents[3] / ".." / "shared" / "parity" / "ovoxel"


def run_both(coords, offsets, flags, weights=None, grid=8, aabb=AABB):
    """(torch-path result on CPU tensors, Triton result on DEVICE or None), both as CPU tensors."""
    args = [None if a is None else torch.as_tensor(np.asarray(a)) for a in (coords, offsets, flags, weights)]
    reference = ovoxel.flexible_dual_grid_to_mesh(*args, aabb=aabb, grid_size=grid)
    box, size, shape = resolve_grid(aabb, grid)
    coords_dev = args[0].to(DEVICE)
    inputs = _device_inputs(coords_dev, *(None if a is None else a.to(DEVICE) for a in args[1:]))
    got = extract_triton(coords_dev, *inputs, box[0], size, shape)
    return reference, None if got is None else tuple(t.cpu() for t in got)


def assert_identical(*grid_args, **kw) -> int:
    """Triton equals the torch path exactly (dtypes, values, face order); returns the face count."""
    (v_ref, f_ref), got = run_both(*grid_args, **kw)
    assert got is not None, "the Triton path declined an in-grid input"
    v, f = got
    assert v.dtype == torch.float32 and f.dtype == torch.int64
    assert torch.equal(v, v_ref)
    assert torch.equal(f, f_ref)
    return len(f)


def random_grid(seed: int, grid: int = 8, density: float = 0.8):
    """A random voxel subset of a grid in shuffled order, with random offsets, edge flags and split weights."""
    rng = np.random.default_rng(seed)
    cells = np.stack(np.meshgrid(*[np.arange(grid)] * 3, indexing="ij"), -1).reshape(-1, 3)
    coords = rng.permutation(cells[rng.random(len(cells)) < density]).astype(np.int32)
    offsets = rng.random((len(coords), 3), dtype=np.float32)
    flags = rng.random((len(coords), 3)) < 0.5
    weights = rng.uniform(0.1, 2.0, len(coords)).astype(np.float32)
    return coords, offsets, flags, weights


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_random_grid_is_identical(seed, weighted):
    coords, offsets, flags, weights = random_grid(seed, grid=10)
    assert assert_identical(coords, offsets, flags, weights if weighted else None, grid=10) > 500


def test_wide_keys_and_other_integer_dtypes():
    # A 1400^3 grid has keys beyond int32, so the keys are sorted as int64; voxels sit near the far corner.
    coords, offsets, flags, weights = random_grid(2, grid=6)
    assert assert_identical(coords + 1390, offsets, flags, weights, grid=1400) > 100
    for dtype in (np.int64, np.int16, np.uint8):
        assert_identical(coords.astype(dtype), offsets, flags, grid=8)


def test_duplicate_voxels_resolve_to_the_first_row():
    coords, offsets, flags, weights = random_grid(3, grid=6)
    again = np.random.default_rng(3).choice(len(coords), 40)
    coords, offsets = np.concatenate([coords, coords[again]]), np.concatenate([offsets, offsets[again] * 0.5])
    flags, weights = np.concatenate([flags, flags[again]]), np.concatenate([weights, weights[again]])
    assert assert_identical(coords, offsets, flags, weights, grid=6) > 100
    assert_identical(coords, offsets, flags, grid=6)


def test_strided_inputs_are_read_by_their_strides():
    coords, offsets, flags, weights = random_grid(5, grid=6)
    columns = np.stack([weights, -weights], 1)  # the weights as a strided column view, offsets transposed twice
    (v_ref, f_ref), _ = run_both(coords, offsets, flags, weights, grid=6)
    box, size, shape = resolve_grid(AABB, 6)
    args = [torch.as_tensor(a).to(DEVICE) for a in (coords.T.copy(), offsets.T.copy(), flags, columns)]
    inputs = _device_inputs(args[0].T, args[1].T, args[2], args[3][:, 0])
    v, f = extract_triton(args[0].T, *inputs, box[0], size, shape)
    assert torch.equal(v.cpu(), v_ref) and torch.equal(f.cpu(), f_ref) and len(f) > 50


def test_dense_block_ties_take_diagonal_02():
    # Flat quads tie (cosines equal), and the float64 tie rule must send every one of them to diagonal 0-2.
    coords = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    offsets = np.full((27, 3), 0.5, np.float32)
    assert assert_identical(coords, offsets, np.ones((27, 3), bool), grid=3) == 3 * 12 * 2


def test_out_of_grid_coordinates_are_declined():
    coords, offsets, flags, _ = random_grid(4, grid=6)
    for shift in (-1, 3):  # keys must come from coordinates in [0, grid + 2)
        reference, got = run_both(coords + shift, offsets, flags, grid=6)
        assert got is None and len(reference[1]) > 0


def test_empty_and_faceless_grids():
    _, (verts, faces) = run_both(np.zeros((0, 3), np.int32), np.zeros((0, 3), np.float32), np.zeros((0, 3), bool))
    assert verts.shape == (0, 3) and faces.shape == (0, 3) and faces.dtype == torch.int64
    coords = np.array([[1, 1, 1], [1, 1, 2], [1, 2, 2]], np.int32)  # the x edge of (1, 1, 1) lacks (1, 2, 1)
    assert assert_identical(coords, np.full((3, 3), 0.5, np.float32), np.ones((3, 3), bool)) == 0


def _parity_cases():
    if not (PARITY / "index.json").exists():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"parity data not found at {PARITY}"))]
    index = json.loads((PARITY / "index.json").read_text())
    return [pytest.param(name, g, id=f"{name}-g{g}") for name, info in index.items()
            if info["kind"] == "flexible_dual_grid" for g in info["grid_sizes"]
            if g <= 16 or torch.cuda.is_available()]  # the 64^3 grids take seconds each in the interpreter


@pytest.mark.parametrize("name,g", _parity_cases())
def test_parity_grids_are_identical(name, g):
    from safetensors.numpy import load_file

    data = load_file(str(PARITY / f"{name}.safetensors"))
    coords, offsets = data[f"g{g}_coords"], data[f"g{g}_dual_offsets"]
    flags, weights = data[f"g{g}_intersected"], data[f"g{g}_split_weight"]
    rows = np.random.default_rng(0).permutation(len(coords))
    for w in (None, weights[rows]):
        faces = assert_identical(coords[rows], offsets[rows], flags[rows], w, grid=g, aabb=AABB)
        assert faces == len(data[f"g{g}_mesh_faces"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA dispatch and a large sphere need a GPU")
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cuda_dispatch_matches_the_cpu_paths_on_a_sphere(monkeypatch, weighted):
    import trimesh

    mesh = trimesh.creation.icosphere(5, radius=0.45)
    coords, duals, flags = ovoxel.mesh_to_flexible_dual_grid(mesh.vertices, mesh.faces, grid_size=256, aabb=AABB)
    offsets = duals * 256 - coords
    weights = np.random.default_rng(0).uniform(0.1, 2, len(coords)).astype(np.float32) if weighted else None
    native = ovoxel.flexible_dual_grid_to_mesh(coords, offsets, flags, weights, aabb=AABB, grid_size=256)
    cuda = [None if a is None else torch.as_tensor(a, device="cuda") for a in (coords, offsets, flags, weights)]
    import ovoxel.convert.extract_triton as module

    calls = []
    monkeypatch.setattr(module, "extract_triton", lambda *a: calls.append(1) or extract_triton(*a))
    results = {}
    for backend in ("auto", "torch"):
        monkeypatch.setenv("OVOXEL_EXTRACT_BACKEND", backend)
        results[backend] = [t.cpu().numpy() for t in ovoxel.flexible_dual_grid_to_mesh(*cuda, aabb=AABB,
                                                                                     grid_size=256)]
    assert len(native[1]) > 400_000 and len(calls) == 1  # "auto" took the Triton path, "torch" did not
    monkeypatch.setenv("OVOXEL_EXTRACT_BACKEND", "auto")
    offsets_grad = cuda[1].clone().requires_grad_()
    verts, _ = ovoxel.flexible_dual_grid_to_mesh(cuda[0], offsets_grad, *cuda[2:], aabb=AABB, grid_size=256)
    verts.sum().backward()  # offsets that need gradients take the differentiable torch path
    assert len(calls) == 1 and torch.allclose(offsets_grad.grad, torch.full_like(offsets_grad, 1 / 256))
    for got in results.values():
        np.testing.assert_array_equal(got[0], native[0])
        np.testing.assert_array_equal(got[1], native[1])


def test_unknown_backend_is_rejected(monkeypatch):
    monkeypatch.setenv("OVOXEL_EXTRACT_BACKEND", "cuda")
    coords = torch.zeros((1, 3), dtype=torch.int32)
    with pytest.raises(ValueError, match="OVOXEL_EXTRACT_BACKEND must be"):
        ovoxel.flexible_dual_grid_to_mesh(coords, torch.zeros((1, 3)), torch.zeros((1, 3), dtype=torch.bool),
                                          grid_size=4)
