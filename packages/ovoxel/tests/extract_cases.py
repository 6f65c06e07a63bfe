"""Shared helpers for the extraction tests: run the native (numpy) and torch paths on the same flexible dual grid."""

import numpy as np
import ovoxel


def both_paths(torch, coords, offsets, flags, weights=None, grid=16, aabb=((-0.5,) * 3, (0.5,) * 3)):
    """(native vertices, native faces, torch vertices, torch faces) as numpy arrays."""
    v_np, f_np = ovoxel.flexible_dual_grid_to_mesh(coords, offsets, flags, weights, aabb=aabb, grid_size=grid)
    tensors = [None if a is None else torch.as_tensor(np.asarray(a)) for a in (coords, offsets, flags, weights)]
    v_t, f_t = ovoxel.flexible_dual_grid_to_mesh(*tensors, aabb=aabb, grid_size=grid)
    assert isinstance(f_t, torch.Tensor) and isinstance(f_np, np.ndarray)
    return v_np, f_np, v_t.numpy(), f_t.numpy()


def assert_same_mesh(torch, *grid_args, **kw) -> int:
    """Native and torch extraction agree exactly (values, dtypes, face order); returns the face count."""
    v_np, f_np, v_t, f_t = both_paths(torch, *grid_args, **kw)
    assert v_np.dtype == np.float32 and f_np.dtype == np.int64
    np.testing.assert_array_equal(v_np, v_t)
    np.testing.assert_array_equal(f_np, f_t)
    return len(f_np)
