"""max_pool2d cases P1-P3 and relu R1 from benchmarks/cases.json, forward + backward, against PyTorch.

Each figure is one forward and one backward through the autograd ops (``F.max_pool2d`` /
``F.relu`` on a Tensor that requires grad, then ``y.backward(dy)`` with a fixed random upstream
gradient), float32, against the same in PyTorch CPU, timed in one run by timing.py's protocol.
R1 is timed again with both sides on one thread (our elementwise pool and PyTorch's), to show how
much of the gap lies in splitting the passes over the two cores.

A second table weighs the tricks in relu's kernels (kernels/elementwise.py) against the plain NumPy
expressions, on R1's array, without the tape: the forward's cache-sized blocks against a block of
zeros and the backward's select on the integer view of the bits, each on the calling thread and
split over the threads of kernels/parallel.py, against plain ``np.maximum(x, 0)`` and
``np.where(y, dy, 0)``. A trick stays only where it gains at least 10% in this run. Its last line
weighs the library's two kernels alone (split, no tape) against PyTorch's whole R1.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_pool.py [--quick]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from timing import Protocol, compare, geomean, load_cases, one_thread_each, script_main, with_rounds

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import elementwise
from tinygrad_conv.kernels.parallel import parallel_for


def sides(op: str, case: dict[str, Any], torch: Any) -> dict[str, Callable[[], None]]:
    """{"ours": ..., "torch": ...}: each runs one forward + backward of the case on the same data."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(case["input"]).astype(np.float32)
    if op == "max_pool2d":
        kw = {"kernel_size": case["kernel_size"], "stride": case.get("stride"), "padding": case.get("padding", 0)}

        def ours_fwd(x: tc.Tensor) -> tc.Tensor:
            return F.max_pool2d(x, **kw)
    else:
        def ours_fwd(x: tc.Tensor) -> tc.Tensor:
            return F.relu(x)

    x = tc.Tensor(x_np, requires_grad=True)
    dy_np = rng.standard_normal(ours_fwd(x).shape).astype(np.float32)
    dy = tc.Tensor(dy_np)

    def ours() -> None:
        x.grad = None
        ours_fwd(x).backward(dy)

    out: dict[str, Callable[[], None]] = {"ours": ours}
    if torch is not None:
        tfn = torch.nn.functional
        tx = torch.from_numpy(x_np.copy()).requires_grad_(True)
        tdy = torch.from_numpy(dy_np)

        def theirs() -> None:
            tx.grad = None
            y = tfn.max_pool2d(tx, **kw) if op == "max_pool2d" else tfn.relu(tx)
            y.backward(tdy)

        out["torch"] = theirs
    return out


def relu_kernel_sides(shape: list[int]) -> dict[str, Callable[[], Any]]:
    """relu's forward and backward kernels, without the tape: the plain NumPy expressions, the
    block loops of kernels/elementwise.py on the calling thread, and the same loops split over the
    threads of kernels/parallel.py (as the library runs them)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    y = np.maximum(x, 0)
    zero = np.zeros((), np.float32)
    flat_x, flat_y, bits_dy = x.reshape(-1), y.reshape(-1), dy.reshape(-1).view(np.int32)

    def relu_blocks(split: bool) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            out = np.empty_like(flat_x)
            body = lambda lo, hi: elementwise.relu_range(flat_x[lo:hi], out[lo:hi])  # noqa: E731
            parallel_for(out.size, body) if split else body(0, out.size)
            return out

        return run

    def masked_bits(split: bool) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            out = np.empty_like(bits_dy)
            body = lambda lo, hi: elementwise.masked_range(bits_dy[lo:hi], flat_y[lo:hi], out[lo:hi])  # noqa: E731
            parallel_for(out.size, body) if split else body(0, out.size)
            return out

        return run

    return {
        "np.maximum(x, 0)": lambda: np.maximum(x, 0),
        "relu blocks, one thread": relu_blocks(False),
        f"relu blocks, split over {tc.get_num_threads()} threads (the library's)": relu_blocks(True),
        "np.where(y, dy, 0)": lambda: np.where(y, dy, zero),
        "masked bit select, one thread": masked_bits(False),
        f"masked bit select, split over {tc.get_num_threads()} threads (the library's)": masked_bits(True),
    }


# A side's call here takes 0.2-8 ms, so it can afford more rounds than the protocol's least
# (timing.with_rounds says why).
ROUNDS = 6


def report(protocol: Protocol, torch: Any) -> dict[str, float]:
    cases = load_cases()
    protocol = with_rounds(protocol, ROUNDS)
    print(f"### max_pool2d P1-P3, relu R1: forward + backward, ms (min over {protocol.rounds} blocks per side)\n")
    print("| case | ours | PyTorch | ours / PyTorch |")
    print("|---|---|---|---|")
    out: dict[str, float] = {}
    torch_ms: dict[str, float] = {}
    for op in ("max_pool2d", "relu"):
        for case in cases[op]:
            best = compare(sides(op, case, torch), protocol)
            t = torch_ms[case["id"]] = best.get("torch", float("nan"))
            out[case["id"]] = best["ours"] / t
            desc = f"{op} {tuple(case['input'])}"
            if op == "max_pool2d":
                desc += f" k{case['kernel_size']} s{case.get('stride')} p{case.get('padding', 0)}"
            print(f"| {case['id']} {desc} | {best['ours']:.3f} | {t:.3f} | {out[case['id']]:.2f} |")
    pool_ids = [c["id"] for c in cases["max_pool2d"]]
    out["pool geomean"] = geomean(out[i] for i in pool_ids)
    relu_case = cases["relu"][0]
    relu_id = relu_case["id"]
    # The same R1 with both sides on one thread: how much of the gap is in splitting over threads
    with one_thread_each(torch):
        one = compare(sides("relu", relu_case, torch), protocol)
    out[f"{relu_id} one thread each"] = one["ours"] / one.get("torch", float("nan"))
    print(f"| {relu_id}, one thread each | {one['ours']:.3f} | {one.get('torch', float('nan')):.3f} "
          f"| {out[f'{relu_id} one thread each']:.2f} |")
    print(f"\n{', '.join(pool_ids)} geo-mean {out['pool geomean']:.2f} (target <= 1.3); "
          f"{relu_id} {out[relu_id]:.2f} (target <= 1.5; {out[f'{relu_id} one thread each']:.2f} with one thread each)")

    print(f"\n### relu's kernel tricks on {relu_id}'s array, no tape, same run (ms, min)\n")
    kernels = compare(relu_kernel_sides(relu_case["input"]), protocol)
    print("| kernel | ms | against the plain expression | against one thread |")
    print("|---|---|---|---|")
    names = list(kernels)
    for i, (name, t) in enumerate(kernels.items()):
        group = names[:3] if i < 3 else names[3:]
        plain, one = kernels[group[0]], kernels[group[1]]
        print(f"| {name} | {t:.3f} | {t / plain:.2f} | {t / one:.2f} |")
    out["relu split/one"] = kernels[names[2]] / kernels[names[1]]
    out["masked split/one"] = kernels[names[5]] / kernels[names[4]]
    out["relu blocks/plain"] = kernels[names[1]] / kernels[names[0]]
    out["masked bits/plain"] = kernels[names[4]] / kernels[names[3]]
    # the floor of the tape: the library's two kernels alone, against PyTorch's whole forward + backward
    out[f"{relu_id} kernels/torch"] = (kernels[names[2]] + kernels[names[5]]) / torch_ms[relu_id]
    print(f"\nsplit over threads against one thread: relu {out['relu split/one']:.2f}, masked "
          f"{out['masked split/one']:.2f}; block loops against the plain expression: relu "
          f"{out['relu blocks/plain']:.2f}, masked {out['masked bits/plain']:.2f} (a trick stays where it gains "
          ">= 10%, a ratio <= 0.91)")
    print(f"the library's two kernels alone (split) against PyTorch's whole {relu_id}: "
          f"{out[f'{relu_id} kernels/torch']:.2f}")
    return out


def main(argv: list[str] | None = None) -> None:
    script_main(report, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
