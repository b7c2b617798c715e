"""Case O1: autograd overhead per op, side by side with PyTorch in the same process.

A chain of 2000 elementwise ops (x = x * 1.0001 + 0.0001) on a 1-element float32 tensor, then sum
and backward; reported as microseconds per op (forward + backward), min and median over repeats.

    python benchmarks/bench_overhead.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

import tinygrad_conv as tc

STEPS = 1000  # each step is two ops (mul, add): 2000 ops


def ours() -> None:
    x0 = tc.Tensor(np.ones(1, dtype=np.float32), requires_grad=True)
    x = x0
    for _ in range(STEPS):
        x = x * 1.0001 + 0.0001
    x.sum().backward()


def torch_case() -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)

    def run() -> None:
        x0 = torch.ones(1, requires_grad=True)
        x = x0
        for _ in range(STEPS):
            x = x * 1.0001 + 0.0001
        x.sum().backward()

    return run


def per_op_us(fn: Callable[[], None], repeats: int = 15) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / (2 * STEPS) * 1e6)
    return min(times), statistics.median(times)


def main() -> None:
    ours_min, ours_med = per_op_us(ours)
    print("| case | ours us/op (min / median) | PyTorch us/op (min / median) | ratio (min) |")
    print("|---|---|---|---|")
    t = torch_case()
    if t is None:
        print(f"| O1 | {ours_min:.2f} / {ours_med:.2f} | (torch not installed) | - |")
        return
    th_min, th_med = per_op_us(t)
    print(f"| O1 | {ours_min:.2f} / {ours_med:.2f} | {th_min:.2f} / {th_med:.2f} | {ours_min / th_min:.2f} |")


if __name__ == "__main__":
    main()
