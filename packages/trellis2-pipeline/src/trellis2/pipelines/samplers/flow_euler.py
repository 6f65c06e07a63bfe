"""Euler samplers for rectified-flow models: plain, classifier-free guided, and guided within a time interval.

Convention (as in TRELLIS): x_t = (1 − t)·x0 + (σ_min + (1 − σ_min)·t)·ε, the model predicts the velocity
v = dx_t/dt at time t (passed to it as 1000·t), and sampling integrates from t = 1 to t = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from .guidance import Guidance
from .latents import Latent, batch_size, features, per_sample_std, with_features
from .schedule import time_grid

#: progress(stage, finished_steps, total_steps), called after every step.
ProgressCallback = Callable[[str, int, int], None]


class SamplingCancelled(RuntimeError):
    """Raised between steps when the caller's cancellation check returns True."""


@dataclass
class SamplingResult:
    """Final samples plus, per step, the next state `pred_x_t` and the model's clean-data estimate `pred_x_0`."""

    samples: Latent
    pred_x_t: list[Latent] = field(default_factory=list)
    pred_x_0: list[Latent] = field(default_factory=list)


class FlowEulerSampler:
    """First-order (Euler) integration of a flow model's velocity field from noise to data, without guidance."""

    def __init__(self, sigma_min: float) -> None:
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(f"sigma_min must be in [0, 1), got {sigma_min!r}")
        self.sigma_min = float(sigma_min)

    def x0_from_velocity(self, x_t: torch.Tensor, t: float, v: torch.Tensor) -> torch.Tensor:
        """Clean-data estimate implied by velocity `v` at state `x_t`, time `t`."""
        return (1 - self.sigma_min) * x_t - (self.sigma_min + (1 - self.sigma_min) * t) * v

    def velocity_from_x0(self, x_t: torch.Tensor, t: float, x0: torch.Tensor) -> torch.Tensor:
        """Velocity that leads from `x_t` at time `t` to the clean-data estimate `x0` (inverse of the above)."""
        return ((1 - self.sigma_min) * x_t - x0) / (self.sigma_min + (1 - self.sigma_min) * t)

    def sample(
        self,
        model: Callable[..., Latent],
        noise: Latent,
        cond: Any = None,
        steps: int = 50,
        rescale_t: float = 1.0,
        verbose: bool = True,
        tqdm_desc: str = "Sampling",
        progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
        stage: str | None = None,
        keep_trajectory: bool = True,
        guidance: Guidance | None = None,
        **model_kwargs: Any,
    ) -> SamplingResult:
        """Integrate `model` from `noise` (t = 1) to t = 0 in `steps` Euler steps on the `rescale_t`-warped grid.

        `model_kwargs` (e.g. `concat_cond`) go to every model call; `progress` gets (stage, step, steps) after each
        step (stage defaults to `tqdm_desc`); `should_cancel` is checked before each step; `keep_trajectory=False`
        skips collecting the per-step states (saves memory when only the samples are needed); `guidance` adds
        classifier-free guidance (the guided samplers below build it from their arguments).
        """
        times = time_grid(steps, rescale_t)
        result = SamplingResult(samples=noise)
        x_t = noise
        with torch.no_grad():
            for step in tqdm(range(steps), desc=tqdm_desc, disable=not verbose):
                if should_cancel is not None and should_cancel():
                    raise SamplingCancelled(f"{stage or tqdm_desc}: cancelled before step {step + 1}/{steps}")
                t, t_next = times[step], times[step + 1]
                v = self._velocity(model, x_t, t, cond, guidance, model_kwargs)
                x_feats = features(x_t)
                if keep_trajectory:
                    result.pred_x_0.append(with_features(x_t, self.x0_from_velocity(x_feats, t, v)))
                x_t = with_features(x_t, x_feats - (t - t_next) * v)
                if keep_trajectory:
                    result.pred_x_t.append(x_t)
                if progress is not None:
                    progress(stage or tqdm_desc, step + 1, steps)
        result.samples = x_t
        return result

    def _model_velocity(
        self, model: Callable[..., Latent], x_t: Latent, t: float, cond: Any, kwargs: dict
    ) -> torch.Tensor:
        x_feats = features(x_t)
        times = torch.full((batch_size(x_t),), 1000.0 * t, dtype=torch.float32, device=x_feats.device)
        return features(model(x_t, times, cond, **kwargs))

    def _velocity(
        self, model: Callable[..., Latent], x_t: Latent, t: float, cond: Any, guidance: Guidance | None, kwargs: dict
    ) -> torch.Tensor:
        strength = 1.0 if guidance is None else guidance.strength_at(t)
        if strength == 1.0:
            return self._model_velocity(model, x_t, t, cond, kwargs)
        if strength == 0.0:
            return self._model_velocity(model, x_t, t, guidance.neg_cond, kwargs)
        v_pos, v_neg = self._paired_velocities(model, x_t, t, cond, guidance.neg_cond, kwargs)
        v = strength * v_pos + (1 - strength) * v_neg
        if guidance.rescale > 0:
            v = self._rescaled_velocity(x_t, t, v_pos, v, guidance.rescale)
        return v

    def _paired_velocities(
        self, model: Callable[..., Latent], x_t: Latent, t: float, cond: Any, neg_cond: Any, kwargs: dict
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditional and negative velocities; dense latents with tensor conditions share one doubled batch."""
        batchable = (
            isinstance(x_t, torch.Tensor) and not kwargs and isinstance(cond, torch.Tensor)
            and isinstance(neg_cond, torch.Tensor) and cond.shape == neg_cond.shape and cond.shape[0] == x_t.shape[0]
        )
        if not batchable:
            return (self._model_velocity(model, x_t, t, cond, kwargs),
                    self._model_velocity(model, x_t, t, neg_cond, kwargs))
        both = self._model_velocity(model, torch.cat([x_t, x_t]), t, torch.cat([cond, neg_cond]), kwargs)
        return both.chunk(2)

    def _rescaled_velocity(
        self, x_t: Latent, t: float, v_pos: torch.Tensor, v_cfg: torch.Tensor, rescale: float
    ) -> torch.Tensor:
        """Guidance rescale: match the guided x0's per-sample std to the conditional x0's, blended by `rescale`."""
        x_feats = features(x_t)
        x0_pos = self.x0_from_velocity(x_feats, t, v_pos)
        x0_cfg = self.x0_from_velocity(x_feats, t, v_cfg)
        ratio = per_sample_std(with_features(x_t, x0_pos)) / per_sample_std(with_features(x_t, x0_cfg))
        x0 = rescale * (x0_cfg * ratio) + (1 - rescale) * x0_cfg
        return self.velocity_from_x0(x_feats, t, x0)


class FlowEulerCfgSampler(FlowEulerSampler):
    """Euler sampler with classifier-free guidance (and optional guidance rescale) at every step."""

    def sample(
        self,
        model: Callable[..., Latent],
        noise: Latent,
        cond: Any,
        neg_cond: Any,
        steps: int = 50,
        rescale_t: float = 1.0,
        guidance_strength: float = 3.0,
        guidance_rescale: float = 0.0,
        guidance_interval: Sequence[float] = (0.0, 1.0),
        **options: Any,
    ) -> SamplingResult:
        """As `FlowEulerSampler.sample` (same `options`), guided by `neg_cond` with `guidance_strength` and
        `guidance_rescale` while t lies in `guidance_interval` (always, by default)."""
        interval = tuple(float(bound) for bound in guidance_interval)
        guidance = Guidance(neg_cond, float(guidance_strength), float(guidance_rescale), interval)
        return super().sample(model, noise, cond, steps, rescale_t, guidance=guidance, **options)


class FlowEulerGuidanceIntervalSampler(FlowEulerCfgSampler):
    """The TRELLIS.2 default: classifier-free guidance only while t lies in `guidance_interval` (same `sample`)."""
