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
    points, cost, keys = (x.cpu() for x in simplify_triton.edge_placements(*on_device, len(v)))
    pinned = (locked[edges.u] | locked[edges.v]).numpy()
    fallback = np.isin(points.numpy(), v).all(1) | np.isclose(points.numpy(), (v[edges.u] + v[edges.v]) / 2).all(1)
    assert pinned.sum() > 10 and (fallback & ~pinned).sum() > 10  # every rule is exercised
    torch.testing.assert_close(points, expected_points, rtol=0, atol=1e-12)
    torch.testing.assert_close(cost, expected_cost, rtol=1e-9, atol=1e-12)  # errors near 0 cancel
    assert torch.equal(keys, port._sort_keys(cost, edges.keys))  # the kernel's own costs, keyed as the torch code


def test_claim_rounds_pick_the_same_winners_as_the_torch_rounds():
    v, f = sphere(2)
    v = v + np.random.default_rng(0).normal(scale=0.02, size=v.shape)  # varied costs, so ranks matter
    faces = torch.from_numpy(f)
    locked = torch.zeros(len(v), dtype=torch.bool)
    state = port._initial_state(torch.from_numpy(v), faces, torch.zeros(len(v), 0, dtype=torch.float64), locked,
                                False, 1e3)
    edges = port._edge_list(faces, len(v), locked)
    points, cost = port._placements(state, edges.u, edges.v)
    chosen = torch.argsort(port._sort_keys(cost, edges.keys), stable=True)[: len(edges.keys) // 2]
    plan = port._plan(state, edges, chosen, points[chosen], 0.1)
    rounds = simplify_triton.ClaimRounds(len(chosen), len(f), DEVICE)
    owner, face = plan.owner.to(DEVICE), plan.face.to(DEVICE)
    undecided, winner = plan.legal.to(DEVICE), torch.zeros(len(chosen), dtype=torch.bool, device=DEVICE)
    expected_undecided, expected_winner = plan.legal.clone(), torch.zeros_like(plan.legal)
    history = []
    for _ in range(6):
        rounds(owner, face, undecided, winner)
        port._claim_round(plan.owner, plan.face, expected_undecided, expected_winner, len(f))
        assert torch.equal(undecided.cpu(), expected_undecided) and torch.equal(winner.cpu(), expected_winner)
        history.append((int(expected_winner.sum()), int(expected_undecided.sum())))
    assert history[0][0] > 5 and history[0][1] > 5 and history[-1][1] == 0  # several rounds had work to do
    assert history[-1][0] > history[0][0]


def test_link_counts_match_the_torch_code_on_open_and_closed_parts():
    v, f = sphere(2)
    f = f[v[f].mean(axis=1)[:, 2] < 0.6]  # an open cap: boundary edges with a single opposite corner
    f = np.concatenate([f, [[f[0, 0], f[0, 1], f[5, 2]]]])  # and a non-manifold fin (an edge with three faces)
    faces = torch.from_numpy(f)
    edges = port._edge_list(faces, len(v), torch.zeros(len(v), dtype=torch.bool))
    order, start = port._csr(torch.cat([edges.u, edges.v]), len(v))
    neighbours = torch.cat([edges.v, edges.u])[order]
    u, v_end = torch.cat([edges.u, edges.v]), torch.cat([edges.v, edges.u])  # each edge from both ends
    expected = port._link_counts(edges.keys, neighbours, start, u, v_end, len(v))
    counts = simplify_triton.link_counts(*(x.to(DEVICE) for x in (edges.keys, neighbours, start, u, v_end)), len(v))
    assert torch.equal(counts.cpu(), expected.to(torch.int32))
    assert {1, 2, 3} <= set(expected.tolist())  # boundary, interior and fin edges


def test_the_kernel_path_simplifies_like_the_torch_path(monkeypatch):
    # Every kernel in its place in the rounds (on CPU tensors in the interpreter when there is no GPU).
    v, f = sphere(2)
    v = v * (1 + 0.1 * np.sin(5 * v[:, :1]))
    f = f[v[f].mean(axis=1)[:, 2] < 0.6]  # with an open boundary
    torch_path = port.simplify_torch(torch.from_numpy(v), torch.from_numpy(f), len(f) // 3, attributes=v[:, :1])
    monkeypatch.setattr(port, "_triton_for", lambda tensor: True)
    kernels = port.simplify_torch(torch.from_numpy(v).to(DEVICE), torch.from_numpy(f).to(DEVICE), len(f) // 3,
                                  attributes=v[:, :1])
    assert len(kernels.faces) == len(torch_path.faces) == len(f) // 3 - 1  # open: the target or one below
    # Placements differ from the torch code's only by rounding, so the collapses are expected to agree here.
    np.testing.assert_array_equal(kernels.vertex_source, torch_path.vertex_source)
    assert torch.equal(kernels.faces.cpu(), torch_path.faces)
    torch.testing.assert_close(kernels.vertices.cpu(), torch_path.vertices, rtol=0, atol=1e-12)
