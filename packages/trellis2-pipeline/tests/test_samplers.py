"""Euler flow samplers: exact toy flows, hand-written reference integration, guidance rules, sparse batches."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from trellis2.pipelines.samplers import (
    FlowEulerCfgSampler,
    FlowEulerGuidanceIntervalSampler,
    FlowEulerSampler,
    SamplingCancelled,
    build_sampler,
    time_grid,
)


@dataclass
class PackedLatent:
    """Minimal sparse latent (feats, coords with batch index first, shape, replace) as the samplers require."""

    feats: torch.Tensor
    coords: torch.Tensor
    batch: int

    @property
    def shape(self) -> torch.Size:
        return torch.Size([self.batch, self.feats.shape[1]])

    def replace(self, feats: torch.Tensor) -> PackedLatent:
        return PackedLatent(feats, self.coords, self.batch)


class GaussianFlow:
    """Exact probability-flow velocity for data ~ N(mean, std^2) per element, sigma_min = 0.

    x_t has mean (1 - t) * mean and std sqrt((1 - t)^2 std^2 + t^2); each x_t maps to the same standard score, so
    the ODE solution from x_1 = eps ends at mean + std * eps. `cond` (a [B] tensor) shifts the mean per sample.
    """

    def __init__(self, mean: float, std: float) -> None:
        self.mean, self.std = mean, std
        self.calls: list[tuple[float, object, int]] = []

    def velocity(self, x: torch.Tensor, t: float, mean: torch.Tensor | float) -> torch.Tensor:
        var = (1 - t) ** 2 * self.std**2 + t**2
        d_var = -2 * (1 - t) * self.std**2 + 2 * t
        return -mean + d_var / (2 * var) * (x - (1 - t) * mean)

    def __call__(self, x, t_scaled: torch.Tensor, cond, concat_cond=None):
        assert t_scaled.dtype == torch.float32 and t_scaled.shape == (_batch(x),)
        t = float(t_scaled[0]) / 1000
        self.calls.append((t, cond, _batch(x)))
        shift = 0.0 if cond is None else cond
        if isinstance(x, torch.Tensor):
            mean = self.mean + (shift.reshape(-1, *[1] * (x.ndim - 1)) if torch.is_tensor(shift) else shift)
            return self.velocity(x, t, mean)
        per_row = self.mean + (shift[x.coords[:, 0].long()][:, None] if torch.is_tensor(shift) else shift)
        return x.replace(self.velocity(x.feats, t, per_row))


def _batch(x) -> int:
    return x.shape[0]


def reference_euler(velocity, x: np.ndarray, times: list[float]) -> np.ndarray:
    """Textbook explicit Euler in float64: x <- x + (t_next - t) * v(x, t)."""
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t)
    return x


def test_time_grid_is_uniform_without_rescale_and_warped_towards_noise_with_it():
    assert time_grid(4) == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    warped = time_grid(4, rescale_t=3.0)
    assert warped[0] == 1.0 and warped[-1] == 0.0
    assert warped[2] == pytest.approx(3 * 0.5 / (1 + 2 * 0.5))
    assert all(w > u for w, u in zip(warped[1:-1], time_grid(4)[1:-1], strict=True))


@pytest.mark.parametrize("bad", [{"steps": 0}, {"steps": 2.5}, {"steps": 3, "rescale_t": 0.0}])
def test_time_grid_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="steps|rescale_t"):
        time_grid(**bad)


def test_euler_on_a_point_mass_is_exact_for_any_grid():
    """For data concentrated at c the trajectory is a straight line, so Euler lands on c + sigma_min * eps."""
    sigma_min, c = 1e-2, 0.7
    sampler = FlowEulerSampler(sigma_min)
    noise = torch.randn(2, 3, 4, dtype=torch.float64)

    def model(x, t_scaled, cond):
        t = float(t_scaled[0]) / 1000
        return -c + (1 - sigma_min) * (x - (1 - t) * c) / (sigma_min + (1 - sigma_min) * t)

    result = sampler.sample(model, noise, steps=3, rescale_t=4.0, verbose=False)
    torch.testing.assert_close(result.samples, c + sigma_min * noise)
    for x0 in result.pred_x_0:
        torch.testing.assert_close(x0, torch.full_like(noise, c))
    assert len(result.pred_x_t) == 3 and result.pred_x_t[-1] is result.samples
    lean = sampler.sample(model, noise, steps=3, rescale_t=4.0, verbose=False, keep_trajectory=False)
    assert torch.equal(lean.samples, result.samples) and lean.pred_x_0 == [] and lean.pred_x_t == []


def test_euler_matches_hand_written_integration_and_converges_to_the_exact_flow():
    flow = GaussianFlow(mean=0.3, std=0.5)
    noise = torch.randn(3, 2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = 0.3 + 0.5 * noise
    errors = []
    for steps in (25, 50, 100):
        times = time_grid(steps, rescale_t=2.0)
        result = FlowEulerSampler(0.0).sample(flow, noise, steps=steps, rescale_t=2.0, verbose=False)
        reference = reference_euler(lambda x, t: flow.velocity(x, t, 0.3), noise.numpy(), times)
        # the model sees t through the float32 time tensor, hence the tolerance
        np.testing.assert_allclose(result.samples.numpy(), reference, rtol=1e-6, atol=1e-7)
        errors.append(float((result.samples - exact).abs().max()))
    assert errors[-1] < 0.05
    assert errors[1] < 0.6 * errors[0] and errors[2] < 0.6 * errors[1]  # first order: error halves with the step


def test_pred_x0_follows_the_velocity_parameterisation():
    sigma_min = 1e-5
    sampler = FlowEulerSampler(sigma_min)
    flow = GaussianFlow(mean=-0.2, std=1.5)
    noise = torch.randn(1, 4, dtype=torch.float64)
    result = sampler.sample(flow, noise, steps=4, verbose=False)
    x_t, times = noise, time_grid(4)
    for step, t in enumerate(times[:-1]):
        v = flow.velocity(x_t, t, -0.2)
        torch.testing.assert_close(result.pred_x_0[step], (1 - sigma_min) * x_t - (sigma_min + (1 - sigma_min) * t) * v)
        x_t = x_t + (times[step + 1] - t) * v
        torch.testing.assert_close(result.pred_x_t[step], x_t)
    torch.testing.assert_close(sampler.velocity_from_x0(noise, 0.3, sampler.x0_from_velocity(noise, 0.3, noise)), noise)


def test_cfg_mixes_conditional_and_negative_velocities():
    flow = GaussianFlow(mean=0.0, std=1.0)
    noise = torch.randn(2, 3, 3, dtype=torch.float64)
    cond, neg = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    result = FlowEulerCfgSampler(0.0).sample(flow, noise, cond, neg, steps=1, guidance_strength=3.0, verbose=False)
    v = 3.0 * flow.velocity(noise, 1.0, cond[:, None, None]) - 2.0 * flow.velocity(noise, 1.0, 0.0)
    torch.testing.assert_close(result.samples, noise - v)


def test_guidance_rescale_matches_per_sample_std_of_the_conditional_prediction():
    flow = GaussianFlow(mean=0.0, std=1.0)
    noise = torch.randn(2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    cond, neg = torch.tensor([2.0, -0.5], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    t, w, r = 1.0, 4.0, 0.7
    full = FlowEulerCfgSampler(0.0).sample(
        flow, noise, cond, neg, steps=1, guidance_strength=w, guidance_rescale=r, verbose=False
    )
    v_pos, v_neg = flow.velocity(noise, t, cond[:, None]), flow.velocity(noise, t, 0.0)
    x0_pos = noise - t * v_pos
    x0_cfg = noise - t * (w * v_pos + (1 - w) * v_neg)
    ratio = x0_pos.std(dim=1, keepdim=True) / x0_cfg.std(dim=1, keepdim=True)
    x0 = r * x0_cfg * ratio + (1 - r) * x0_cfg
    torch.testing.assert_close(full.pred_x_0[0], x0)
    torch.testing.assert_close(full.samples, x0)  # one step from t=1 to 0 lands on the x0 estimate


def test_guidance_interval_uses_the_negative_condition_only_inside_the_interval():
    """Guided steps evaluate cond and neg_cond together as one doubled dense batch."""
    flow = GaussianFlow(mean=0.0, std=1.0)
    FlowEulerGuidanceIntervalSampler(1e-5).sample(
        flow, torch.randn(1, 2), torch.ones(1), torch.zeros(1), steps=10, guidance_strength=5.0,
        guidance_interval=(0.4, 0.8), verbose=False,
    )
    guided_times = [t for t, cond, batch in flow.calls if batch == 2]
    assert guided_times and all(0.4 <= t <= 0.8 for t in guided_times)
    assert len(flow.calls) == 10
    assert len(guided_times) == sum(0.4 <= t <= 0.8 for t in time_grid(10))
    assert all(cond.tolist() == [1.0, 0.0] for _, cond, batch in flow.calls if batch == 2)


def test_guidance_strength_zero_uses_only_the_negative_condition():
    flow = GaussianFlow(mean=0.0, std=1.0)
    neg = torch.zeros(1)
    FlowEulerCfgSampler(0.0).sample(flow, torch.randn(1, 2), torch.ones(1), neg, steps=3, guidance_strength=0.0,
                                    verbose=False)
    assert [cond is neg for _, cond, _ in flow.calls] == [True] * 3


def test_sparse_batches_match_per_sample_dense_runs_including_rescale():
    flow = GaussianFlow(mean=0.1, std=0.8)
    generator = torch.Generator().manual_seed(1)
    sizes = [5, 9]
    feats = torch.randn(sum(sizes), 4, dtype=torch.float64, generator=generator)
    batch_index = torch.repeat_interleave(torch.arange(2), torch.tensor(sizes))
    coords = torch.cat([batch_index[:, None], torch.randint(0, 8, (sum(sizes), 3), generator=generator)], 1).int()
    cond, neg = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    params = {"steps": 4, "guidance_strength": 3.0, "guidance_rescale": 0.5, "rescale_t": 3.0, "verbose": False}
    sparse = FlowEulerCfgSampler(1e-5).sample(flow, PackedLatent(feats, coords, 2), cond, neg, **params)
    assert isinstance(sparse.samples, PackedLatent) and sparse.samples.coords is coords
    for item, rows in enumerate(torch.split(torch.arange(sum(sizes)), sizes)):
        dense = FlowEulerCfgSampler(1e-5).sample(flow, feats[rows][None], cond[item : item + 1], neg[:1], **params)
        torch.testing.assert_close(sparse.samples.feats[rows], dense.samples[0])


def test_sparse_latents_work_with_the_project_sparse_tensor():
    sparsetensor = pytest.importorskip("sparsetensor")
    if not hasattr(sparsetensor, "SparseTensor"):
        pytest.skip("sparsetensor.SparseTensor is not implemented yet")
    flow = GaussianFlow(mean=0.0, std=1.0)
    coords = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0]], dtype=torch.int32)
    noise = sparsetensor.SparseTensor(torch.randn(3, 2), coords)
    result = FlowEulerCfgSampler(0.0).sample(flow, noise, torch.ones(2), torch.zeros(2), steps=2,
                                             guidance_rescale=0.5, verbose=False)
    assert torch.equal(result.samples.coords, coords) and result.samples.feats.shape == (3, 2)


def test_progress_reports_every_step_and_cancellation_stops_the_loop():
    flow = GaussianFlow(mean=0.0, std=1.0)
    seen = []
    FlowEulerSampler(0.0).sample(flow, torch.randn(1, 2), steps=3, verbose=False, stage="shape",
                                 progress=lambda *event: seen.append(event))
    assert seen == [("shape", 1, 3), ("shape", 2, 3), ("shape", 3, 3)]
    checks = []

    def cancel_on_third_check() -> bool:
        checks.append(1)
        return len(checks) == 3

    with pytest.raises(SamplingCancelled, match="before step 3/5"):
        FlowEulerSampler(0.0).sample(
            flow, torch.randn(1, 2), steps=5, verbose=False, should_cancel=cancel_on_third_check
        )
    assert len(flow.calls) == 3 + 2


def test_bad_sampler_settings_are_rejected_with_clear_errors():
    with pytest.raises(ValueError, match="sigma_min"):
        FlowEulerSampler(1.5)
    with pytest.raises(ValueError, match="unknown sampler 'Heun'"):
        build_sampler("Heun", {})
    with pytest.raises(ValueError, match="invalid args for sampler FlowEulerSampler"):
        build_sampler("FlowEulerSampler", {"sigma": 0.1})
    flow = GaussianFlow(mean=0.0, std=1.0)
    with pytest.raises(ValueError, match="guidance_interval"):
        FlowEulerGuidanceIntervalSampler(0.0).sample(flow, torch.randn(1, 2), None, None, guidance_interval=(0.9, 0.1))
    with pytest.raises(ValueError, match="guidance_rescale"):
        FlowEulerCfgSampler(0.0).sample(flow, torch.randn(1, 2), None, None, guidance_rescale=2.0)
    assert isinstance(build_sampler("FlowEulerGuidanceIntervalSampler", {"sigma_min": 1e-5}),
                      FlowEulerGuidanceIntervalSampler)
    assert not math.isnan(time_grid(1)[0])


def test_per_sample_std_of_a_sparse_batch_uses_each_samples_rows_only():
    from trellis2.pipelines.samplers.latents import per_sample_std

    feats = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    coords = torch.zeros(7, 4, dtype=torch.int32)
    coords[4:, 0] = 2  # sample 1 has no voxels at all
    std = per_sample_std(PackedLatent(feats, coords, 3))
    assert std.shape == (7, 1)
    torch.testing.assert_close(std[:4], feats[:4].std(correction=0).expand(4, 1))
    torch.testing.assert_close(std[4:], feats[4:].std(correction=0).expand(3, 1))
