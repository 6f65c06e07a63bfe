"""The Triton edge-placement kernel of simplify_torch (compiled on a GPU, else in Triton's interpreter) against the
torch code it replaces there."""

import numpy as np
import pytest
from mesh_checks import sphere
from triton_device import DEVICE, torch

simplify_triton = pytest.importorskip("meshkit.gpu.simplify_triton")  # after triton_device has chosen the interpreter
import meshkit.simplify_torch as port  # noqa: E402


def test_placements_match_the_torch_code_on_curved_flat_and_locked_edges():
    v, f = sphere(2)
    v[v[:, 2] > 0.5, 2] = 0.5  # a flat cap: singular quadrics, so the midpoint/end fallback is taken
    f = f[v[f].mean(axis=1)[:, 0] < 0.6]  # and an open boundary (boundary planes)
    locked = torch.zeros(len(v), dtype=torch.bool)
    locked[::9] = True
    faces = torch.from_numpy(f)
    state = port._initial_state(torch.from_numpy(v), faces, torch.zeros(len(v), 0, dtype=torch.float64), locked,
                                False, 1e3)
    edges = port._edge_list(faces, len(v), locked)
    expected_points, expected_cost = port._placements(state, edges.u, edges.v)
    on_device = [x.to(DEVICE) for x in (state.quadrics, state.positions, state.locked, edges.u, edges.v)]
    points, cost = (x.cpu() for x in simplify_triton.edge_placements(*on_device))
    pinned = (locked[edges.u] | locked[edges.v]).numpy()
    fallback = np.isin(points.numpy(), v).all(1) | np.isclose(points.numpy(), (v[edges.u] + v[edges.v]) / 2).all(1)
    assert pinned.sum() > 10 and (fallback & ~pinned).sum() > 10  # every rule is exercised
    torch.testing.assert_close(points, expected_points, rtol=0, atol=1e-12)
    torch.testing.assert_close(cost, expected_cost, rtol=1e-9, atol=1e-12)  # errors near 0 cancel
