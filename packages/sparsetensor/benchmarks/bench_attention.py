"""Benchmark variable-length self-attention: sparsetensor's scaled_dot_product_attention (auto backend) against every
attention kernel torch offers (issue 3: ours within 10% of the best).

Usage: python bench_attention.py [--device cuda|cpu] [--quick] [--repeats R] [--channels C]
Input: packed qkv [N, 3, H, D] (H = channels / D) of N tokens split into 1, 2 or 4 sequences of unequal length
(shares 4:3:2:1), already on the device. Candidates: SDPA once per sequence with one backend forced (flash,
efficient, cudnn; each call includes its sdpa_kernel context and the concatenation of the outputs), torch's one-launch
torch.nn.attention.varlen.varlen_attn, the FlashAttention-2 varlen op that varlen_attn wraps (aten varlen, called
directly) and flash_attn's packed varlen kernel; '-' where one cannot run. Candidates get their inputs prepared
outside the timing (per-sequence views, cu_seqlens on the device, contiguous q/k/v for the varlen kernels). Ours is
timed from the VarLenTensor to the output VarLenTensor: backend choice, lookups in its per-layout caches, views,
kernel launches and (per-sequence path, 2+ sequences) the output concatenation; the untimed warm-up call fills the
caches and builds cuDNN graphs, as the first call of a layout does in a model. Milliseconds per call: mean over R
back-to-back calls between two syncs (R: --repeats, else enough calls for ~20 ms), median of 5 rounds that visit
ours and every candidate in turn, so clock drift hits all alike. Every candidate's output is checked against ours.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sparsetensor import VarLenTensor
from sparsetensor.ops import attention_backend, scaled_dot_product_attention
from torch.nn.attention import SDPBackend, sdpa_kernel

SHARES = {1: [1], 2: [4, 3], 4: [4, 3, 2, 1]}
FULL = {"head_dims": [64, 128], "dtypes": [torch.float16, torch.bfloat16], "tokens": [4096, 16384, 65536],
        "splits": [1, 2, 4]}
QUICK = {"head_dims": [64], "dtypes": [torch.float16, torch.bfloat16], "tokens": [96, 256], "splits": [1, 4]}
SDPA_BACKENDS = {"sdpa flash": "FLASH_ATTENTION", "sdpa efficient": "EFFICIENT_ATTENTION",
                 "sdpa cudnn": "CUDNN_ATTENTION"}
Inputs = tuple[torch.Tensor, list[int]]  # packed qkv [N, 3, H, D], sequence lengths
Candidate = Callable[[torch.Tensor, list[int]], Callable[[], torch.Tensor]]  # prepares inputs, returns the call


def split_lengths(total: int, sequences: int) -> list[int]:
    """`total` tokens in `sequences` parts proportional to SHARES (the last part takes the rounding remainder)."""
    shares = SHARES[sequences]
    lengths = [total * share // sum(shares) for share in shares[:-1]]
    return lengths + [total - sum(lengths)]


def ours(qkv: torch.Tensor, lengths: list[int]) -> Callable[[], torch.Tensor]:
    x = VarLenTensor.from_tensor_list(list(qkv.split(lengths)))
    return lambda: scaled_dot_product_attention(x).feats


def sdpa_per_sequence(backend_name: str) -> Candidate:
    """SDPA called once per sequence on [1, H, L, D] views of the packed input, with only `backend_name` allowed."""
    backend = getattr(SDPBackend, backend_name, None)

    def prepare(qkv: torch.Tensor, lengths: list[int]) -> Callable[[], torch.Tensor]:
        if backend is None:
            raise RuntimeError(f"this torch has no SDPBackend.{backend_name}")
        views = [[t.transpose(0, 1)[None] for t in part.unbind(1)] for part in qkv.split(lengths)]

        def run() -> torch.Tensor:
            with sdpa_kernel([backend]):
                return torch.cat([F.scaled_dot_product_attention(*qkv_i)[0].transpose(0, 1) for qkv_i in views])

        return run

    return prepare


def cumulative(lengths: list[int], device: torch.device) -> torch.Tensor:
    return torch.tensor([0, *lengths], device=device).cumsum(0).int()


def torch_varlen(qkv: torch.Tensor, lengths: list[int]) -> Callable[[], torch.Tensor]:
    from torch.nn.attention.varlen import varlen_attn

    q, k, v = (t.contiguous() for t in qkv.unbind(1))
    cu = cumulative(lengths, qkv.device)
    return lambda: varlen_attn(q, k, v, cu, cu, max(lengths), max(lengths))


def aten_varlen(qkv: torch.Tensor, lengths: list[int]) -> Callable[[], torch.Tensor]:
    op = torch.ops.aten._flash_attention_forward
    q, k, v = (t.contiguous() for t in qkv.unbind(1))
    cu = cumulative(lengths, qkv.device)
    return lambda: op(q, k, v, cu, cu, max(lengths), max(lengths), 0.0, False, False)[0]


def flash_attn_packed(qkv: torch.Tensor, lengths: list[int]) -> Callable[[], torch.Tensor]:
    from flash_attn import flash_attn_varlen_qkvpacked_func

    cu = cumulative(lengths, qkv.device)
    return lambda: flash_attn_varlen_qkvpacked_func(qkv, cu, max(lengths))


CANDIDATES: dict[str, Candidate] = {
    **{name: sdpa_per_sequence(backend) for name, backend in SDPA_BACKENDS.items()},
    "varlen_attn": torch_varlen,
    "aten varlen": aten_varlen,
    "flash_attn": flash_attn_packed,
}


def per_call_ms(fns: dict[str, Callable[[], torch.Tensor]], device: torch.device, repeats: int | None,
                rounds: int = 5) -> dict[str, float]:
    """Milliseconds per call of each function: mean over back-to-back calls between two syncs, median of `rounds`
    rounds that each time every function in turn. Calls per round: `repeats`, else enough for about 20 ms."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn: Callable[[], torch.Tensor], calls: int) -> float:
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        return (time.perf_counter() - start) * 1e3 / calls

    calls = {name: repeats or max(3, min(1000, math.ceil(20 / timed(fn, 3)))) for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(timed(fn, calls[name]))
    return {name: sorted(values)[len(values) // 2] for name, values in times.items()}


def bench_row(head_dim: int, dtype: torch.dtype, tokens: int, sequences: int, channels: int, device: torch.device,
              repeats: int) -> tuple[list[str], list[str]]:
    """Table cells for one configuration, and a note for every candidate whose output differs from ours."""
    lengths = split_lengths(tokens, sequences)
    heads = max(1, channels // head_dim)
    qkv = torch.randn(tokens, 3, heads, head_dim, device=device, dtype=dtype)
    runs = {"ours": ours(qkv, lengths)}
    expected = runs["ours"]().float()
    notes = []
    for name, prepare in CANDIDATES.items():
        try:
            run = prepare(qkv, lengths)
            got = run().float()
        except (RuntimeError, ImportError, ValueError, NotImplementedError):
            continue
        error = (got - expected).abs().max().item()
        if error > 2e-2:
            notes.append(f"D={head_dim} {dtype} {tokens} tokens / {sequences}: {name} differs from ours by {error:.3g}")
        runs[name] = run
    times = per_call_ms(runs, device, repeats)
    ours_ms = times.pop("ours")
    backend = attention_backend(device, dtype, head_dim, lengths)
    best_name, best_ms = min(times.items(), key=lambda item: item[1]) if times else ("-", float("nan"))
    cells = [f"{head_dim}", str(dtype).removeprefix("torch."), f"{tokens}", "+".join(map(str, lengths)),
             f"{ours_ms:.3f} ({backend})"]
    cells += [f"{times[name]:.3f}" if name in times else "-" for name in CANDIDATES]
    cells += [best_name, f"{ours_ms / best_ms:.2f}"]
    return cells, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny shapes (CPU smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="calls per timing round (default: ~20 ms worth)")
    parser.add_argument("--channels", type=int, default=None, help="H * D (default 1536, TRELLIS.2's flow width)")
    args = parser.parse_args()
    device = torch.device(args.device)
    grid = QUICK if args.quick else FULL
    repeats = args.repeats or (2 if args.quick else None)
    channels = args.channels or (128 if args.quick else 1536)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", category=UserWarning)  # SDPA warns for every backend it cannot use
    print(f"device={device}; channels={channels}; ms per call (ours: auto backend in brackets); "
          f"ours/best <= 1.10 meets issue 3")
    header = ["D", "dtype", "tokens", "lengths", "ours ms", *CANDIDATES, "best", "ours/best"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    notes = []
    with torch.inference_mode():
        for head_dim in grid["head_dims"]:
            for dtype in grid["dtypes"]:
                for tokens in grid["tokens"]:
                    for sequences in grid["splits"]:
                        cells, row_notes = bench_row(head_dim, dtype, tokens, sequences, channels, device, repeats)
                        notes += row_notes
                        print("| " + " | ".join(cells) + " |", flush=True)
    for note in notes:
        print("MISMATCH:", note)


if __name__ == "__main__":
    main()
