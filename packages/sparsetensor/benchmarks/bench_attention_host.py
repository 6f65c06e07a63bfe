"""Host cost of sparsetensor's attention entry point, without the kernels (issue 3: at ~4k tokens a call is short
enough on the GPU that Python overhead decides the ranking).

Usage: python bench_attention_host.py [--calls N]
Runs on CPU with the attention kernels replaced by no-ops (SDPA returns its query, the varlen kernel an empty
tensor), so what is timed is everything ours does around them: backend choice, cache lookups, views, the priority
context and the output concatenation. Microseconds per call, best of 15 rounds of N calls, for the per-sequence
('cudnn') and one-launch ('varlen') paths over 1, 2, 4 and 64 sequences.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
from sparsetensor import VarLenTensor
from sparsetensor.ops import attention

LENGTHS = {1: [64], 2: [40, 24], 4: [32, 16, 10, 6], 64: [8] * 64}


def best_us(fn: Callable[[], object], calls: int) -> float:
    fn()
    rounds = []
    for _ in range(15):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter() - start) * 1e6 / calls)
    return min(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    attention.F.scaled_dot_product_attention = lambda q, k, v: q
    attention._varlen_kernel = lambda backend: lambda q, k, v, *rest: torch.empty_like(q)
    print("| path | sequences | host us per call |")
    print("|---:|---:|---:|")
    with torch.inference_mode():
        for backend in ("cudnn", "varlen"):
            os.environ["SPARSETENSOR_ATTN_BACKEND"] = backend
            for count, lengths in LENGTHS.items():
                x = VarLenTensor.from_tensor_list([torch.randn(n, 3, 2, 8, dtype=torch.float16) for n in lengths])
                us = best_us(lambda x=x: attention.scaled_dot_product_attention(x), args.calls)
                print(f"| {backend} | {count} | {us:.1f} |")


if __name__ == "__main__":
    main()
