"""Replaying a fixed-shape model through CUDA graphs during sampling.

The dense sparse-structure flow is called with the same input shapes at every sampling step. Launching its few
hundred kernels from Python costs about as much time as running them, so after a warm-up call the forward pass is
captured once as a CUDA graph and later steps only copy their inputs in and replay it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)

#: Set to 0 to always run eagerly (debugging, or models that cannot be captured).
ENV_SWITCH = "TRELLIS2_CUDA_GRAPHS"


def cuda_graphs_enabled() -> bool:
    """False when the environment switch is set to 0/false/no/off."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


class CudaGraphModel:
    """Calls `model(*tensors)` through a CUDA graph per distinct set of input shapes.

    The first call with new shapes runs eagerly on a side stream (compiles kernels, picks cuBLAS/cuDNN plans and
    allocates workspaces outside any capture, as CUDA graphs require); the second captures a graph, and it and every
    later call copy their inputs into the graph's buffers and replay it. Calls with non-tensor or
    CPU arguments, keyword arguments or autograd enabled run eagerly, and so does a model whose capture fails
    (logged once). The model's parameters must stay where they are while this wrapper lives: keep it for one
    sampling run. Outputs are fresh tensors, never the graph's own buffer.
    """

    def __init__(self, model: Callable[..., torch.Tensor]) -> None:
        self.model = model
        self._graphs: dict[tuple, tuple[list[torch.Tensor], torch.Tensor, torch.cuda.CUDAGraph]] = {}
        self._warmed: set[tuple] = set()
        self._eager_only: set[tuple] = set()

    def __call__(self, *args, **kwargs):
        key = self._key(args, kwargs)
        if key is None or key in self._eager_only:
            return self.model(*args, **kwargs)
        if key not in self._graphs:
            if key not in self._warmed:
                self._warmed.add(key)
                return self._side_stream_call(args)
            try:
                self._graphs[key] = self._capture(args)
            except RuntimeError as error:  # an operation that cannot be captured: stay eager for these shapes
                log.warning("CUDA graph capture failed, running eagerly: %s", error)
                self._eager_only.add(key)
                return self.model(*args)
        inputs, output, graph = self._graphs[key]
        for buffer, value in zip(inputs, args, strict=True):
            buffer.copy_(value)
        graph.replay()
        return output.clone()

    @staticmethod
    def _key(args: tuple, kwargs: dict) -> tuple | None:
        """The shapes/dtypes/devices of an all-CUDA-tensor call, None for calls that must run eagerly."""
        if kwargs or torch.is_grad_enabled() or not cuda_graphs_enabled():
            return None
        if not args or not all(isinstance(a, torch.Tensor) and a.is_cuda for a in args):
            return None
        return tuple((tuple(a.shape), a.dtype, a.device) for a in args)

    def _side_stream_call(self, args: tuple):
        device = args[0].device
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            output = self.model(*args)
        torch.cuda.current_stream(device).wait_stream(side)
        return output

    def _capture(self, args: tuple) -> tuple[list[torch.Tensor], torch.Tensor, torch.cuda.CUDAGraph]:
        inputs = [a.clone() for a in args]
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = self.model(*inputs)
        if not isinstance(output, torch.Tensor):
            raise RuntimeError(f"CUDA graphs need a tensor output, got {type(output).__name__}")
        return inputs, output, graph
