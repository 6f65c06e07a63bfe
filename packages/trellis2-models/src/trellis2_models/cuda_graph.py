"""Replaying a flow model through CUDA graphs during sampling.

Within one sampling run a flow is called with the same input shapes at every step (the dense sparse-structure grid,
or the same sparse voxels). Launching its few hundred kernels from Python costs about as much time as running them
at small token counts, so after a warm-up call the forward pass is captured once as a CUDA graph and later steps only
copy their inputs in and replay it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

#: Set to 0 to always run eagerly (debugging, or models that cannot be captured).
ENV_SWITCH = "TRELLIS2_CUDA_GRAPHS"


def cuda_graphs_enabled() -> bool:
    """False when the environment switch is set to 0/false/no/off."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def _is_sparse(value: Any) -> bool:
    return not isinstance(value, torch.Tensor) and all(hasattr(value, a) for a in ("feats", "coords", "replace"))


def _arg_key(value: Any) -> tuple | None:
    """What a captured graph depends on for one argument; None if the argument cannot be replayed."""
    if isinstance(value, torch.Tensor) and value.is_cuda:
        return ("tensor", tuple(value.shape), value.dtype, value.device)
    if _is_sparse(value) and value.feats.is_cuda:
        # the graph reads these very coordinates (and the token layout cached with them): same tensor, same graph
        return ("sparse", tuple(value.feats.shape), value.feats.dtype, value.coords.data_ptr(), id(value.coords))
    return None


@dataclass
class _Graph:
    args: list[Any]  # the graph's input buffers (tensors, or sparse tensors sharing the caller's coordinates)
    kwargs: dict[str, Any]
    output: Any
    graph: torch.cuda.CUDAGraph


class CudaGraphModel:
    """Calls `model(*args, **kwargs)` through a CUDA graph per distinct input signature.

    Arguments may be CUDA tensors or sparse tensors (`feats`, `coords`, `replace`); a sparse argument's graph is tied
    to its coordinate tensor, which every state of a sampling run shares. The first call with a new signature runs
    eagerly on a side stream (compiles kernels, picks cuBLAS/cuDNN plans, fills the sparse tensor's layout cache,
    all outside any capture as CUDA graphs require); the second captures a graph, and it and every later call copy
    their inputs into the graph's buffers and replay it. Other calls (CPU inputs, other argument types, autograd
    enabled) run eagerly, and so does a signature whose capture fails (logged). The model's parameters must stay
    where they are while this wrapper lives: keep it for one sampling run. Outputs are fresh tensors.
    """

    def __init__(self, model: Callable[..., Any]) -> None:
        self.model = model
        self._graphs: dict[tuple, _Graph] = {}
        self._warmed: set[tuple] = set()
        self._eager_only: set[tuple] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = self._key(args, kwargs)
        if key is None or key in self._eager_only:
            return self.model(*args, **kwargs)
        if key not in self._graphs:
            if key not in self._warmed:
                self._warmed.add(key)
                return self._side_stream_call(args, kwargs)
            try:
                self._graphs[key] = self._capture(args, kwargs)
            except RuntimeError as error:  # an operation that cannot be captured: stay eager for this signature
                log.warning("CUDA graph capture failed, running eagerly: %s", error)
                self._eager_only.add(key)
                return self.model(*args, **kwargs)
        return self._replay(self._graphs[key], args, kwargs)

    @staticmethod
    def _key(args: tuple, kwargs: dict) -> tuple | None:
        """The signature of a replayable call, None for calls that must run eagerly."""
        if torch.is_grad_enabled() or not cuda_graphs_enabled() or not args:
            return None
        names = sorted(kwargs)
        arg_keys = [_arg_key(a) for a in args]
        kwarg_keys = [_arg_key(kwargs[name]) for name in names]
        if any(k is None for k in arg_keys + kwarg_keys):
            return None
        return tuple(arg_keys), tuple(zip(names, kwarg_keys, strict=True))

    def _side_stream_call(self, args: tuple, kwargs: dict) -> Any:
        device = torch.device("cuda", torch.cuda.current_device())
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            output = self.model(*args, **kwargs)
        torch.cuda.current_stream(device).wait_stream(side)
        return output

    @staticmethod
    def _buffer(value: Any) -> Any:
        return value.clone() if isinstance(value, torch.Tensor) else value.replace(value.feats.clone())

    @staticmethod
    def _fill(buffer: Any, value: Any) -> None:
        (buffer if isinstance(buffer, torch.Tensor) else buffer.feats).copy_(
            value if isinstance(value, torch.Tensor) else value.feats)

    def _capture(self, args: tuple, kwargs: dict) -> _Graph:
        static_args = [self._buffer(a) for a in args]
        static_kwargs = {name: self._buffer(v) for name, v in kwargs.items()}
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = self.model(*static_args, **static_kwargs)
        if not (isinstance(output, torch.Tensor) or _is_sparse(output)):
            raise RuntimeError(f"CUDA graphs need a tensor or sparse tensor output, got {type(output).__name__}")
        return _Graph(static_args, static_kwargs, output, graph)

    def _replay(self, captured: _Graph, args: tuple, kwargs: dict) -> Any:
        for buffer, value in zip(captured.args, args, strict=True):
            self._fill(buffer, value)
        for name, value in kwargs.items():
            self._fill(captured.kwargs[name], value)
        captured.graph.replay()
        output = captured.output
        return output.clone() if isinstance(output, torch.Tensor) else output.replace(output.feats.clone())
