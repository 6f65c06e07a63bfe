"""Flow-matching samplers used by the TRELLIS.2 pipelines, selectable by name from `pipeline.json`."""

from .flow_euler import (
    FlowEulerCfgSampler,
    FlowEulerGuidanceIntervalSampler,
    FlowEulerSampler,
    ProgressCallback,
    SamplingCancelled,
    SamplingResult,
)
from .guidance import Guidance
from .schedule import time_grid

SAMPLERS: dict[str, type[FlowEulerSampler]] = {
    cls.__name__: cls for cls in (FlowEulerSampler, FlowEulerCfgSampler, FlowEulerGuidanceIntervalSampler)
}


def build_sampler(name: str, args: dict | None = None) -> FlowEulerSampler:
    """Instantiate the sampler class called `name` (as written in pipeline.json) with constructor `args`."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; available: {', '.join(sorted(SAMPLERS))}")
    try:
        return SAMPLERS[name](**(args or {}))
    except TypeError as error:
        raise ValueError(f"invalid args for sampler {name}: {error}") from None


__all__ = [
    "SAMPLERS",
    "FlowEulerCfgSampler",
    "FlowEulerGuidanceIntervalSampler",
    "FlowEulerSampler",
    "Guidance",
    "ProgressCallback",
    "SamplingCancelled",
    "SamplingResult",
    "build_sampler",
    "time_grid",
]
