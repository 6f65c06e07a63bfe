"""The native hole filler against a plain numpy/dict reference, on a large mesh with many holes and defects."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from meshkit import fill_holes
from meshkit.holes import boundary_loops


def reference_loops(faces):
    """Boundary loops by the definition: edges used once, walked end -> start, smallest vertex first, last edge
    found first where a vertex has several; open chains dropped."""
    start, end = faces.reshape(-1), faces[:, [1, 2, 0]].reshape(-1)
    keys = np.minimum(start, end) * (faces.max() + 1) + np.maximum(start, end)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    successors = {}
    for h in np.flatnonzero(counts[inverse] == 1):
        successors.setdefault(int(end[h]), []).append(int(start[h]))
    loops = []
    for origin in sorted(successors):
        while successors[origin]:
            loop, current = [origin], successors[origin].pop()
            while current != origin and successors.get(current):
                loop.append(current)
                current = successors[current].pop()
            if current == origin:
                loops.append(np.array(loop))
    return loops


def reference_fill(vertices, faces, limit):
    new_vertices, new_faces = [vertices], [faces]
    for loop in reference_loops(faces):
        ring = vertices[loop]
        if np.linalg.norm(ring - np.roll(ring, -1, axis=0), axis=1).sum() > limit:
            continue
        if len(loop) == 3:
            new_faces.append(loop[None])
        elif len(loop) == 4:
            new_faces.append(loop[[[0, 1, 2], [0, 2, 3]]])
        else:
            centre = len(vertices) + len(new_vertices) - 1
            new_faces.append(np.stack([loop, np.roll(loop, -1), np.full(len(loop), centre)], axis=1))
            new_vertices.append(ring.mean(axis=0, keepdims=True))
    return np.concatenate(new_vertices), np.concatenate(new_faces)


def damaged_torus(rings=200, segments=100, seed=0):
    """A wavy torus grid (40,000 faces) with two rectangular holes and 8% of its faces removed at random (holes of
    every size, holes touching at a vertex), ten faces flipped (open chains), a duplicated face (an edge used three
    times) and a degenerate face; vertices are shuffled so ids carry no locality."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, rings, endpoint=False),
                       np.linspace(0, 2 * np.pi, segments, endpoint=False), indexing="ij")
    tube = 0.3 * (1 + 0.1 * np.sin(7 * u) * np.cos(5 * v))
    vertices = np.stack([(1 + tube * np.cos(v)) * np.cos(u), (1 + tube * np.cos(v)) * np.sin(u), tube * np.sin(v)],
                        -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a, b = i * segments + j, (i + 1) % rings * segments + j
    c, d = (i + 1) % rings * segments + (j + 1) % segments, i * segments + (j + 1) % segments
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    cut = ((i >= 10) & (i < 60) & (j >= 10) & (j < 40)) | ((i >= 100) & (i < 120) & (j >= 50) & (j < 60))
    faces = faces[(rng.random(len(faces)) > 0.08) & ~np.tile(cut.reshape(-1), 2)]
    flipped = rng.choice(len(faces), 10, replace=False)
    faces[flipped] = faces[flipped, ::-1]
    faces = np.concatenate([faces, faces[:1], [[faces[5, 0], faces[5, 0], faces[5, 1]]]])
    permutation = rng.permutation(len(vertices))
    return vertices[np.argsort(permutation)], permutation[faces]


def test_loops_match_the_reference_exactly():
    _, faces = damaged_torus()
    ours, expected = boundary_loops(faces), reference_loops(faces)
    assert len(expected) > 1000 and max(map(len, expected)) > 128  # many holes, some summed pairwise by numpy
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("limit", [0.15, 0.5, float("inf")])
def test_fill_matches_the_reference_bit_for_bit(limit):
    vertices, faces = damaged_torus()
    out_v, out_f = fill_holes(vertices, faces, max_hole_perimeter=limit)
    ref_v, ref_f = reference_fill(vertices, faces, limit)
    assert len(out_f) > len(faces)
    np.testing.assert_array_equal(out_f, ref_f)
    np.testing.assert_array_equal(out_v, ref_v)  # centroids equal to the last bit


def test_closed_mesh_and_empty_input():
    vertices, faces = damaged_torus()
    closed_v, closed_f = fill_holes(vertices, faces)
    np.testing.assert_array_equal(fill_holes(closed_v, closed_f)[1], closed_f)
    assert boundary_loops(np.zeros((0, 3), np.int64)) == []
    with pytest.raises(ValueError, match="no triangles"):
        fill_holes(vertices, np.zeros((0, 3), np.int64))


def test_result_does_not_depend_on_the_thread_count():
    script = (
        "import hashlib, sys; sys.path.insert(0, sys.argv[1]); import test_holes_reference as t, meshkit;"
        "v, f = t.damaged_torus(seed=3); v2, f2 = meshkit.fill_holes(v, f, 0.3);"
        "print(hashlib.sha256(v2.tobytes() + f2.tobytes()).hexdigest())"
    )
    here = os.path.dirname(__file__)
    digests = {
        subprocess.run([sys.executable, "-c", script, here], env=os.environ | {"OMP_NUM_THREADS": str(threads)},
                       capture_output=True, text=True, check=True).stdout
        for threads in (1, 2, 3)
    }
    v, f = fill_holes(*damaged_torus(seed=3), 0.3)
    assert digests == {hashlib.sha256(v.tobytes() + f.tobytes()).hexdigest() + "\n"}
