"""Grid resolution helpers: box + grid_size / voxel_size, upstream's automatic padding, clear errors."""

import numpy as np
import pytest
from ovoxel.grid import fit_aabb, resolve_grid


def test_grid_size_gives_voxel_size():
    box, vs, gs = resolve_grid([[-1, 0, 0], [1, 1, 2]], grid_size=[4, 2, 8])
    np.testing.assert_allclose(vs, [0.5, 0.5, 0.25])
    assert gs.tolist() == [4, 2, 8] and box.dtype == np.float32


def test_voxel_size_rounds_to_cells():
    _, vs, gs = resolve_grid([[0, 0, 0], [1, 1, 1]], voxel_size=0.1)
    assert gs.tolist() == [10, 10, 10]
    np.testing.assert_allclose(vs, 0.1)


def test_fit_aabb_pads_half_a_voxel_per_side():
    verts = np.array([[0, 0, 0], [1, 2, 3]], np.float32)
    box = fit_aabb(verts, grid_size=11)
    np.testing.assert_allclose(box[0], [-0.05, -0.1, -0.15], rtol=1e-6)
    np.testing.assert_allclose(box[1], [1.05, 2.1, 3.15], rtol=1e-6)


@pytest.mark.parametrize("kwargs,message", [
    ({"aabb": [[0, 0, 0], [0, 1, 1]], "grid_size": 4}, "max > min"),
    ({"aabb": [[0, 0, 0], [1, 1, 1]]}, "grid_size or voxel_size"),
    ({"aabb": [[0, 0, 0], [1, 1, 1]], "grid_size": 0}, "grid_size must be"),
    ({"aabb": [[0, 0, 0], [1, 1, 1]], "grid_size": 2.5}, "grid_size must be"),
    ({"aabb": [[0, 0, 0], [1, 1, 1]], "voxel_size": -1}, "voxel_size must be positive"),
])
def test_bad_grid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resolve_grid(**kwargs)
