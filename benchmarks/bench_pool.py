"""Benchmark: max_pool2d (P1-P3) and relu (R1) forward + backward, side by side with PyTorch.

Run: python benchmarks/bench_pool.py [--repeats 40] [--warmup 3] [--torch-threads 2]

Each figure is one forward and one backward through the autograd ops (``F.max_pool2d`` /
``F.relu`` on a Tensor that requires grad, then ``y.backward(dy)`` with a fixed random upstream
gradient), float32, against the same with PyTorch CPU (2 threads) in the same process. Ours and
PyTorch's runs alternate, so drifts in machine load hit both. Times are milliseconds, min and
median over the repeats after warm-up; ratio = ours / PyTorch. Targets (benchmark-cases.json,
issue 4): geometric mean of the min ratios over P1-P3 <= 1.8, R1 <= 1.3.

Two extra rows, timed the same way, show how much of R1 no change to the tape can remove:
- "R1 kernels alone" runs only the NumPy passes of relu's forward and backward
  (kernels/elementwise.py: relu, then masked with the output as the mask), without the tape;
- "R1 floor" runs the least NumPy work a relu forward + backward can do: our forward, then one
  pass over the upstream gradient and the output into a new gradient array, as PyTorch's
  threshold_backward does. NumPy has no one-pass select, so the pass is a product (wrong at an
  inf or NaN upstream gradient, which is why masked() takes two): a lower bound, not a kernel.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_conv as tc
from tinygrad_conv.kernels import elementwise
from tinygrad_conv.kernels.parallel import parallel_for
from tinygrad_conv.ops import activation, pool

CASES_FILES = [Path(__file__).resolve().parents[2] / "shared" / "benchmark-cases.json",
               Path("/work/shared/benchmark-cases.json")]
# The same cases, for a checkout without the shared folder.
DEFAULT_CASES: dict[str, list[dict[str, Any]]] = {
    "max_pool2d": [
        {"id": "P1", "input": [64, 16, 24, 24], "kernel_size": 2, "stride": 2},
        {"id": "P2", "input": [32, 64, 32, 32], "kernel_size": 2, "stride": 2},
        {"id": "P3", "input": [32, 64, 32, 32], "kernel_size": 3, "stride": 2, "padding": 1},
    ],
    "relu": [{"id": "R1", "input": [32, 64, 32, 32]}],
}


def load_cases() -> dict[str, list[dict[str, Any]]]:
    for path in CASES_FILES:
        if path.exists():
            data = json.loads(path.read_text())
            return {"max_pool2d": data["max_pool2d"], "relu": data["relu"]}
    return DEFAULT_CASES


def runners(op: str, case: dict[str, Any], torch: Any, rng: np.random.Generator
            ) -> tuple[Callable[[], None], Callable[[], None]]:
    """(ours, theirs): each runs one forward + backward on the same data. For "relu kernels alone",
    ours is relu's NumPy passes with no tape."""
    x_np = rng.standard_normal(case["input"]).astype(np.float32)
    if op == "max_pool2d":
        kw = {"kernel_size": case["kernel_size"], "stride": case.get("stride"),
              "padding": case.get("padding", 0)}

        def ours_fwd(x: tc.Tensor) -> tc.Tensor:
            return pool.max_pool2d(x, **kw)

        def torch_fwd(t: Any) -> Any:
            return torch.nn.functional.max_pool2d(t, **kw)
    else:
        def ours_fwd(x: tc.Tensor) -> tc.Tensor:
            return activation.relu(x)

        def torch_fwd(t: Any) -> Any:
            return torch.nn.functional.relu(t)

    out_shape = torch_fwd(torch.from_numpy(x_np)).shape
    dy_np = rng.standard_normal(tuple(out_shape)).astype(np.float32)
    x = tc.Tensor(x_np, requires_grad=True)
    dy = tc.Tensor(dy_np)
    tx = torch.from_numpy(x_np.copy()).requires_grad_(True)
    tdy = torch.from_numpy(dy_np)

    def ours() -> None:
        x.grad = None
        y = ours_fwd(x)
        y.backward(dy)

    def theirs() -> None:
        tx.grad = None
        ty = torch_fwd(tx)
        ty.backward(tdy)

    if op == "relu kernels alone":
        def kernels() -> None:
            y = elementwise.relu(x_np)
            elementwise.masked(dy_np, y)

        return kernels, theirs
    if op == "relu floor":
        def floor() -> None:
            # Our forward pass, then one pass that reads the upstream gradient and the output and
            # writes the gradient (a product, standing in for a one-pass select NumPy lacks).
            y = elementwise.relu(x_np).reshape(-1)
            flat_dy, flat_out = dy_np.reshape(-1), np.empty(dy_np.size, dtype=dy_np.dtype)

            def body(lo: int, hi: int) -> None:
                np.multiply(flat_dy[lo:hi], y[lo:hi], out=flat_out[lo:hi])

            parallel_for(flat_out.size, body)

        return floor, theirs
    return ours, theirs


def measure(pairs: list[tuple[Callable[[], None], Callable[[], None]]], repeats: int,
            warmup: int, block: int) -> list[tuple[list[float], list[float]]]:
    """Times in ms of each (ours, theirs) pair, ``repeats`` calls each. Each round runs every case,
    ``block`` calls of ours and then ``block`` of PyTorch's, so a burst of load from other processes
    lands on both sides and on all cases alike.

    ``block=1`` (the default) alternates call by call, so each side starts with the caches the
    other left. That costs us a thread too: PyTorch's OpenMP threads keep spinning after each of
    its calls, so our second thread shares a core with a spinner (on 2 cores, R1 measured 1.57 ms
    median call by call, and 1.06 ms with PyTorch's threads set to sleep, OMP_WAIT_POLICY=PASSIVE).
    Larger blocks time each side in its own steady state, as bench_conv.py does.
    """
    for _ in range(warmup):
        for ours, theirs in pairs:
            ours()
            theirs()
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in pairs]
    for done in range(0, repeats, block):
        calls = min(block, repeats - done)
        for pair, pair_times in zip(pairs, times):
            for fn, fn_times in zip(pair, pair_times):
                for _ in range(calls):
                    t0 = time.perf_counter()
                    fn()
                    fn_times.append((time.perf_counter() - t0) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--block", type=int, default=1,
                        help="calls of one side in a row before the other side's (1: call by call)")
    parser.add_argument("--torch-threads", type=int, default=2,
                        help="PyTorch's intra-op threads (2, as benchmark-cases.json says)")
    parser.add_argument("--threads", type=int, default=None,
                        help="our threads for the large elementwise passes (default: tc.get_num_threads())")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.torch_threads)
    if args.threads is not None:
        tc.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    cases = load_cases()
    labelled = [(op, case) for op in ("max_pool2d", "relu") for case in cases[op]]
    pairs = [runners(op, case, torch, rng) for op, case in labelled]
    for extra in ("relu kernels alone", "relu floor"):
        labelled += [(extra, case) for case in cases["relu"]]
        pairs += [runners(extra, case, torch, rng) for case in cases["relu"]]
    rows = []
    ratios: dict[str, float] = {}
    for (op, case), (t_ours, t_theirs) in zip(labelled, measure(pairs, args.repeats, args.warmup, args.block)):
        o_min, t_min = min(t_ours), min(t_theirs)
        o_med, t_med = statistics.median(t_ours), statistics.median(t_theirs)
        ratios[case["id"] if op in ("max_pool2d", "relu") else f"{case['id']} {op}"] = o_min / t_min
        desc = f"{op} {tuple(case['input'])}" + (
            f" k{case['kernel_size']} s{case.get('stride')} p{case.get('padding', 0)}"
            if op == "max_pool2d" else "")
        rows.append(f"| {case['id']} {desc} | {o_min:.2f} | {t_min:.2f} | {o_min / t_min:.2f} | "
                    f"{o_med:.2f} | {t_med:.2f} | {o_med / t_med:.2f} |")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    order = "call by call" if args.block == 1 else f"in blocks of {args.block} calls"
    print(f"forward + backward, float32, min and median of {args.repeats} repeats after "
          f"{args.warmup} warm-up, ours and PyTorch's alternating {order}, "
          f"PyTorch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"ours with {tc.get_num_threads()} (relu; pooling runs on one), NumPy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the end\n")
    print("| case | ours ms (min) | torch ms (min) | ratio | ours ms (median) | torch ms (median) "
          "| ratio (median) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    pool_ids = [c["id"] for c in cases["max_pool2d"]]
    geo = math.exp(sum(math.log(ratios[i]) for i in pool_ids) / len(pool_ids))
    print(f"\ngeometric mean of the min ratios over {', '.join(pool_ids)}: {geo:.2f} (target <= 1.8)")
    for c in cases["relu"]:
        print(f"{c['id']} min ratio: {ratios[c['id']]:.2f} (target <= 1.3); its NumPy kernels alone, with no "
              f"tape: {ratios[c['id'] + ' relu kernels alone']:.2f}; the floor: "
              f"{ratios[c['id'] + ' relu floor']:.2f}")


if __name__ == "__main__":
    main()
