"""The Triton kernels of simplify_torch (edge list, placements, candidate rules, claim rounds, collapse; compiled
on a GPU, else run by Triton's interpreter) against the torch code they replace there."""

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


def planned_round(seed: int, share: int):
    """(faces, state, plan) of one torch-code round on a noisy sphere (varied costs, so ranks matter) whose
    candidates are the cheapest 1/``share`` of the edges."""
    v, f = sphere(2)
    v = v + np.random.default_rng(seed).normal(scale=0.02, size=v.shape)
    faces = torch.from_numpy(f)
    locked = torch.zeros(len(v), dtype=torch.bool)
    state = port._initial_state(torch.from_numpy(v), faces, torch.zeros(len(v), 0, dtype=torch.float64), locked,
                                False, 1e3)
    edges = port._edge_list(faces, len(v), locked)
    points, cost = port._placements(state, edges.u, edges.v)
    chosen = torch.argsort(port._sort_keys(cost, edges.keys), stable=True)[: len(edges.keys) // share]
    return f, state, port._plan(state, edges, chosen, points[chosen], 0.1)


def test_claim_rounds_pick_the_same_winners_as_the_torch_rounds():
    f, state, plan = planned_round(seed=0, share=2)
    rounds = simplify_triton.ClaimRounds(len(plan.legal), len(f), DEVICE)
    owner, face = plan.owner.to(DEVICE), plan.face.to(DEVICE)
    undecided, winner = plan.legal.to(DEVICE), torch.zeros(len(plan.legal), dtype=torch.bool, device=DEVICE)
    expected_undecided, expected_winner = plan.legal.clone(), torch.zeros_like(plan.legal)
    history = []
    for _ in range(6):
        rounds(owner, face, undecided, winner)
        port._claim_round(plan.owner, plan.face, expected_undecided, expected_winner, len(f))
        assert torch.equal(undecided.cpu(), expected_undecided) and torch.equal(winner.cpu(), expected_winner)
        history.append((int(expected_winner.sum()), int(expected_undecided.sum())))
    assert history[0][0] > 5 and history[0][1] > 5 and history[-1][1] == 0  # several rounds had work to do
    assert history[-1][0] > history[0][0]


def open_mesh_with_a_fin():
    """A sphere with an open cap (boundary edges) and a non-manifold fin (an edge with three faces)."""
    v, f = sphere(2)
    f = f[v[f].mean(axis=1)[:, 2] < 0.6]
    return v, np.concatenate([f, [[f[0, 0], f[0, 1], f[5, 2]]]])


def test_edge_list_matches_the_torch_code():
    v, f = open_mesh_with_a_fin()
    locked = torch.zeros(len(v), dtype=torch.bool)
    locked[::7] = True
    faces = torch.from_numpy(f)
    expected = port._edge_list(faces, len(v), locked)
    got = simplify_triton.edge_list(faces.to(DEVICE), len(v), locked.to(DEVICE))
    for field, value in zip(("keys", "u", "v", "count", "opposite", "half_edge", "listed"), got, strict=True):
        assert torch.equal(value.cpu(), getattr(expected, field)), field
    assert {1, 2, 3} <= set(expected.count.tolist()) and 0 < len(expected.listed) < len(expected.keys)


def test_candidate_rules_match_the_torch_code_on_open_and_closed_parts():
    v, f = open_mesh_with_a_fin()
    faces = torch.from_numpy(f)
    locked = torch.zeros(len(v), dtype=torch.bool)
    locked[::11] = True
    state = port._initial_state(torch.from_numpy(v), faces, torch.zeros(len(v), 0, dtype=torch.float64), locked,
                                False, 1e3)
    edges = port._edge_list(faces, len(v), state.locked)
    chosen = torch.randperm(len(edges.keys), generator=torch.Generator().manual_seed(0))
    plan = port._plan(state, edges, chosen, torch.zeros(len(chosen), 3, dtype=torch.float64), -2.0)
    order, start = port._csr(torch.cat([edges.u, edges.v]), len(v))
    neighbours = torch.cat([edges.v, edges.u])[order]
    args = (edges.keys, edges.u, edges.v, edges.count, neighbours, start, chosen, state.locked, state.boundary)
    kept, moving, count, legal = simplify_triton.candidate_rules(*(x.to(DEVICE) for x in args), len(v))
    assert torch.equal(kept.cpu(), plan.kept) and torch.equal(moving.cpu(), plan.moving)
    assert torch.equal(count.cpu(), plan.removes)
    # _plan's legal also has the face checks (none fail with min_normal_cos -2 but degenerate or duplicate faces).
    legal = legal.cpu()
    assert torch.equal(legal & plan.legal, plan.legal) and (legal & ~plan.legal).sum() < 0.05 * len(chosen)
    assert 0.3 * len(chosen) < int(legal.sum()) < len(chosen)  # some edges fail the boundary, lock or link rules


def test_collapse_kernels_update_faces_and_vertices_like_the_torch_code():
    f, state, plan = planned_round(seed=1, share=3)
    winner = port._independent(state, plan)
    excess = int(plan.removes[winner].sum()) // 2  # the cut-off stops about half way through the winners
    device_state = port._State(*(x.to(DEVICE).clone() for x in (state.positions, state.quadrics, state.attributes,
                                                               state.locked, state.boundary, state.faces)))
    device_plan = port._Plan(*(x.to(DEVICE) for x in (plan.kept, plan.moving, plan.points, plan.removes, plan.legal,
                                                      plan.owner, plan.face)))
    expected = port._apply(state, plan, excess)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(port, "_triton_for", lambda tensor: True)
        assert port._apply(device_state, device_plan, excess) == expected > 5
    for field in ("positions", "quadrics", "boundary", "faces"):
        assert torch.equal(getattr(device_state, field).cpu(), getattr(state, field)), field


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
