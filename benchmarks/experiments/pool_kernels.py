"""Experiment: max_pool2d forward + backward kernels vs PyTorch on cases P1-P3.

Run: python benchmarks/experiments/pool_kernels.py [--repeats 5] [--variants]
Times are milliseconds, min (and median) over repeats after one warm-up, ours and PyTorch's
measured alternately in the same process; ratios are ours / PyTorch's. The backward of ours is
max_unpool2d with the saved indices; both sides use the same fixed random upstream gradient.
With --variants it also times the alternatives that were tried for each step.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]  # the repository (tinygrad_conv), benchmarks (timing)

from timing import timed  # noqa: E402

from tinygrad_conv.kernels import pool  # noqa: E402

CASES = [
    {"id": "P1", "input": [64, 16, 24, 24], "kernel_size": 2, "stride": 2},
    {"id": "P2", "input": [32, 64, 32, 32], "kernel_size": 2, "stride": 2},
    {"id": "P3", "input": [32, 64, 32, 32], "kernel_size": 3, "stride": 2, "padding": 1},
]


def pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def variants(x: np.ndarray, k, s, p, dy: np.ndarray, idx: np.ndarray, repeats: int) -> None:
    """The alternatives tried, each timed alone."""
    n, c, h, w = x.shape
    oh, ow = idx.shape[2:]
    flat = idx.reshape(n * c, -1) + (np.arange(n * c, dtype=np.int64) * h * w)[:, None]

    def bincount():
        return np.bincount(flat.ravel(), weights=dy.ravel(), minlength=n * c * h * w).astype(x.dtype)

    def add_at():
        dx = np.zeros(n * c * h * w, x.dtype)
        np.add.at(dx, flat.ravel(), dy.ravel())
        return dx

    def assign():  # only right when windows do not overlap
        dx = np.zeros(n * c * h * w, x.dtype)
        dx[flat.ravel()] = dy.ravel()
        return dx

    print(f"    scatter: bincount {timed(bincount, repeats)[0]:.2f}  add.at {timed(add_at, repeats)[0]:.2f}"
          f"  fancy assign {timed(assign, repeats)[0]:.2f}")
    if s == k and p == (0, 0) and h % k[0] == 0 and w % k[1] == 0:
        def reshape_argmax():
            win = x.reshape(n, c, oh, k[0], ow, k[1]).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, -1)
            a = win.argmax(axis=-1)
            return np.take_along_axis(win, a[..., None], -1)[..., 0], a

        print(f"    forward: reshape+argmax (offset only) {timed(reshape_argmax, repeats)[0]:.2f}"
              f"  ours {timed(lambda: pool.max_pool2d(x, k, s, p, (1, 1), False), repeats)[0]:.2f}")
    for chunk_kb in (128, 256, 512, 1024, 4096, 1 << 20):
        pool._CHUNK_BYTES = chunk_kb * 1024
        t = timed(lambda: pool.max_pool2d(x, k, s, p, (1, 1), False), repeats)[0]
        print(f"    forward chunk {chunk_kb} KiB: {t:.2f}")
    pool._CHUNK_BYTES = 1 << 20


def bench_case(case: dict, rng: np.random.Generator, repeats: int, show_variants: bool) -> tuple:
    """(id, ours min, torch min, ratio, ours median, torch median, our fwd, our bwd) for one case."""
    import torch
    import torch.nn.functional as F

    k, s = pair(case["kernel_size"]), pair(case.get("stride", case["kernel_size"]))
    p = pair(case.get("padding", 0))
    x = rng.standard_normal(case["input"], dtype=np.float32)
    hw = x.shape[2:]
    y, idx = pool.max_pool2d(x, k, s, p, (1, 1), False)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tdy = torch.from_numpy(dy)

    def ours() -> np.ndarray:
        _, ind = pool.max_pool2d(x, k, s, p, (1, 1), False)
        return pool.max_unpool2d(dy, ind, hw)

    def theirs() -> None:
        tx.grad = None
        F.max_pool2d(tx, k, s, p).backward(tdy)

    theirs()
    assert np.array_equal(ours(), tx.grad.numpy())  # same gradient before timing anything
    # Alternate short rounds so that load from other processes hits both sides alike.
    o_mins, t_mins, o_meds, t_meds = [], [], [], []
    for _ in range(3):
        o_min, o_med = timed(ours, repeats)
        t_min, t_med = timed(theirs, repeats)
        o_mins.append(o_min)
        t_mins.append(t_min)
        o_meds.append(o_med)
        t_meds.append(t_med)
    fwd = timed(lambda: pool.max_pool2d(x, k, s, p, (1, 1), False), repeats)[0]
    bwd = timed(lambda: pool.max_unpool2d(dy, idx, hw), repeats)[0]
    if show_variants:
        print(case["id"])
        variants(x, k, s, p, dy, idx, repeats)
    o, t = min(o_mins), min(t_mins)
    return case["id"], o, t, o / t, float(np.median(o_meds)), float(np.median(t_meds)), fwd, bwd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    rows = [bench_case(case, rng, args.repeats, args.variants) for case in CASES]
    print("| case | ours ms | torch ms | ratio | ours median | torch median | our fwd | our bwd |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} "
              f"| {r[6]:.2f} | {r[7]:.2f} |")
    gm = math.exp(sum(math.log(r[3]) for r in rows) / len(rows))
    print(f"geometric mean of ratios (min times): {gm:.2f}")


if __name__ == "__main__":
    main()
