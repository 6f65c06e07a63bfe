"""No host synchronisation in the sampling loop, checked on the CPU by counting the calls that would make one.

On a GPU, reading a tensor's value on the host (`item`, `tolist`, `bool`/`int`/`float`, `cpu`, `numpy`) or running
an op whose output size depends on values (`nonzero`, `unique`, `bincount`, boolean-mask indexing) waits for the
device. `torch.cuda.set_sync_debug_mode` reports those only with CUDA; `SyncCounter` counts the same calls on any
machine while the guided samplers run the tiny flows, step by step (from the cancellation check before a step to
the progress report after it). Work that depends only on the fixed voxel coordinates is allowed to sync in a stage's
first step (`FIRST_STEP_SYNCS`); every later step must make none.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from trellis2.pipelines.samplers import FlowEulerGuidanceIntervalSampler
from trellis2.testing import missing_requirements, write_tiny_pipeline
from trellis2.testing.tiny_pipeline import build_tiny_model

HOST_READS = ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "cpu", "numpy")
VALUE_SIZED = ("nonzero", "argwhere", "unique", "bincount", "masked_select", "repeat_interleave")
#: Setup allowed once per sparse stage: the packed token layout of a sparse batch (`PackedTokens`) counts voxels per
#: sample (`bincount`), reads the counts as split lengths (`tolist`) and checks the batch order (`__bool__`).
FIRST_STEP_SYNCS = 3


def _is_mask(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(part, torch.Tensor) and part.dtype in (torch.bool, torch.uint8) for part in parts)


class SyncCounter:
    """Records "name at file:line" for every host-syncing call made while `counting()` is active."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._inside = False

    def _counted(self, name: str, original: Callable, counts: Callable[..., bool] | None) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._inside:  # a counted call made by another one (torch's own Python code) is not a new sync
                return original(*args, **kwargs)
            if counts is None or counts(*args, **kwargs):
                caller = sys._getframe(1)
                self.calls.append(f"{name} at {Path(caller.f_code.co_filename).name}:{caller.f_lineno}")
            self._inside = True
            try:
                return original(*args, **kwargs)
            finally:
                self._inside = False

        return wrapper

    @contextmanager
    def counting(self) -> Iterator[SyncCounter]:
        """Patch torch so that the calls above are recorded; restored on exit."""
        with pytest.MonkeyPatch.context() as patch:
            for name in HOST_READS + VALUE_SIZED:
                patch.setattr(torch.Tensor, name, self._counted(name, getattr(torch.Tensor, name), None))
            for name in VALUE_SIZED:
                patch.setattr(torch, name, self._counted(f"torch.{name}", getattr(torch, name), None))
            for name in ("__getitem__", "__setitem__"):
                patch.setattr(torch.Tensor, name, self._counted(f"mask {name}", getattr(torch.Tensor, name),
                                                                lambda tensor, index, *rest: _is_mask(index)))
            yield self


class StepWindows:
    """`should_cancel` / `progress` hooks that file the counted calls made during each sampler step by stage."""

    def __init__(self, counter: SyncCounter) -> None:
        self.counter = counter
        self.steps: dict[str, list[list[str]]] = defaultdict(list)
        self._start = 0

    def should_cancel(self) -> bool:
        self._start = len(self.counter.calls)
        return False

    def progress(self, stage: str, step: int, total: int) -> None:
        self.steps[stage].append(self.counter.calls[self._start:])

    def assert_no_syncs_after_the_first_step(self, stages: list[str], first_step_limit: int) -> None:
        assert sorted(self.steps) == sorted(stages)
        for stage, steps in self.steps.items():
            assert len(steps) > 2, stage
            assert len(steps[0]) <= first_step_limit, (stage, steps[0])
            for number, calls in enumerate(steps[1:], start=2):
                assert calls == [], f"{stage} step {number} syncs: {calls}"


def tiny_flow(key: str) -> torch.nn.Module:
    return build_tiny_model(key, torch.Generator().manual_seed(0))


def sparse_batch(feats_per_voxel: int, generator: torch.Generator) -> Any:
    """Two samples of 40 and 25 voxels in a 32^3 grid, ordered by sample as the pipeline makes them."""
    sparsetensor = pytest.importorskip("sparsetensor")
    cells = [torch.randperm(32**3, generator=generator)[:count] for count in (40, 25)]
    coords = torch.cat([torch.stack([torch.full_like(c, b), c // 1024, c // 32 % 32, c % 32], 1)
                        for b, c in enumerate(cells)]).int()
    return sparsetensor.SparseTensor(torch.randn(len(coords), feats_per_voxel, generator=generator), coords)


def sampler_inputs(stage: str) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """(tiny flow, noise, extra model arguments) of one pipeline stage, batch of two samples."""
    generator = torch.Generator().manual_seed(1)
    if stage == "sparse_structure":
        return tiny_flow("sparse_structure_flow_model"), torch.randn(2, 8, 16, 16, 16, generator=generator), {}
    if stage == "shape_slat":
        return tiny_flow("shape_slat_flow_model_512"), sparse_batch(32, generator), {}
    shape = sparse_batch(32, generator)
    noise = shape.replace(torch.randn(shape.feats.shape, generator=generator))  # as the pipeline shares coords
    return tiny_flow("tex_slat_flow_model_512"), noise, {"concat_cond": shape}


@pytest.mark.parametrize("stage", ["sparse_structure", "shape_slat", "tex_slat"])
def test_guided_sampling_steps_make_no_host_syncs(stage):
    model, noise, extra = sampler_inputs(stage)
    cond = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(2))
    counter = SyncCounter()
    windows = StepWindows(counter)
    with counter.counting():  # on this warped grid steps 1-4 are guided with rescale (paired calls), step 5 is not
        FlowEulerGuidanceIntervalSampler(1e-5).sample(
            model, noise, cond, torch.zeros_like(cond), steps=5, rescale_t=3.0, guidance_strength=7.5,
            guidance_rescale=0.7, guidance_interval=(0.6, 1.0), verbose=False, stage=stage,
            progress=windows.progress, should_cancel=windows.should_cancel, **extra)
    windows.assert_no_syncs_after_the_first_step([stage], 0 if stage == "sparse_structure" else FIRST_STEP_SYNCS)


def test_the_counter_sees_each_kind_of_sync():
    counter, values = SyncCounter(), torch.arange(6.0)
    with counter.counting():
        values.sum().item(), values.tolist(), bool(values[0]), int(values[1]), float(values[2]), values.cpu()
        values[values > 2], torch.nonzero(values), values.unique(), torch.bincount(values.long())
        values[torch.tensor([1, 2])]  # integer-tensor indexing gathers on the device: no sync
    names = [call.split(" at ")[0] for call in counter.calls]
    assert names == ["item", "tolist", "__bool__", "__int__", "__float__", "cpu", "mask __getitem__",
                     "torch.nonzero", "unique", "torch.bincount"]
    assert all(call.endswith(f"{Path(__file__).name}:{call.split(':')[-1]}") for call in counter.calls)


@pytest.mark.skipif(bool(missing_requirements(for_running=True)), reason="the tiny pipeline cannot run here")
def test_pipeline_sampling_stages_make_no_host_syncs_after_their_first_step(tmp_path):
    from trellis2.pipelines import Trellis2ImageTo3DPipeline

    pipeline = Trellis2ImageTo3DPipeline.from_pretrained(write_tiny_pipeline(tmp_path, seed=0, steps=3),
                                                         low_vram=False)
    pixels = np.zeros((64, 64, 4), np.uint8)
    pixels[16:48, 16:48] = (200, 120, 40, 255)
    counter = SyncCounter()
    windows = StepWindows(counter)
    with counter.counting():
        pipeline.run(Image.fromarray(pixels, "RGBA"), num_samples=2, seed=1, pipeline_type="512",
                     progress=windows.progress, should_cancel=windows.should_cancel)
    windows.assert_no_syncs_after_the_first_step(["sparse_structure", "shape_slat", "tex_slat"], FIRST_STEP_SYNCS)
