"""Experiment: conv2d forward + both gradients with the batch split over two threads, against the
whole batch on one thread with BLAS on all cores (what ``tinygrad_conv/kernels/conv.py`` does).

The conv kernels run their GEMMs on every core (BLAS's threads) but their copies, adds and
transposes on one (a NumPy call runs on one core). Splitting the batch into halves, each run by its
own thread with BLAS held to one thread, would put the copies on both cores too, as PyTorch's
intra-op threads do. This measures whether that pays on this machine: the kernels' calls
(``kernels.conv.conv2d`` and ``conv2d_input_and_weight_grads``, no tape) on the conv2d cases of
``benchmarks/cases.json``, both ways, and the plain copies underneath, one thread against two.
It needs threadpoolctl (to hold BLAS to one thread).

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/experiments/batch_split.py``
(from the repository root). Prints ms (min) per side and split / whole.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for timing.py
from timing import FULL, compare, import_torch, load_cases, machine_line  # noqa: E402

from tinygrad_conv.kernels import conv as K  # noqa: E402


def conv_sides(case: dict[str, Any], pool: ThreadPoolExecutor, blas: Any) -> dict[str, Callable[[], object]]:
    """The case's forward + backward on the whole batch, and split into halves over two threads
    (the weight and bias gradients of the halves summed)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["input"]).astype(np.float32)
    w = (rng.standard_normal(case["weight"]) * 0.1).astype(np.float32)
    b = rng.standard_normal(case["weight"][0]).astype(np.float32)
    stride = (case["stride"],) * 2
    padding = ((case["padding"],) * 2,) * 2
    y = K.conv2d(x, w, stride, padding, (1, 1), 1, b)
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def both(xs: np.ndarray, dys: np.ndarray) -> tuple[np.ndarray, ...]:
        K.conv2d(xs, w, stride, padding, (1, 1), 1, b)
        dx, dw, db = K.conv2d_input_and_weight_grads(xs, w, dys, stride, padding, (1, 1), 1, True)
        return dx, dw, db

    half = x.shape[0] // 2

    def split() -> tuple[np.ndarray, ...]:
        before = blas.get_num_threads()
        blas.set_num_threads(1)
        try:
            other = pool.submit(both, x[half:], dy[half:])
            dx0, dw0, db0 = both(x[:half], dy[:half])
            dx1, dw1, db1 = other.result()
        finally:
            blas.set_num_threads(before)
        return np.concatenate([dx0, dx1]), dw0 + dw1, db0 + db1

    whole = both(x, dy)
    parts = split()
    for a, c in zip(whole, parts):  # the same gradients, to rounding
        np.testing.assert_allclose(c, a, rtol=1e-3, atol=1e-3 * float(np.abs(a).max()))
    return {"whole batch": lambda: both(x, dy), "split over 2 threads": split}


def copy_sides(n: int, reps: int, pool: ThreadPoolExecutor) -> dict[str, Callable[[], object]]:
    """``reps`` copies of ``n`` float32 elements, on one thread, and split in halves over two."""
    src = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    dst = np.empty_like(src)

    def copy(lo: int, hi: int) -> None:
        for _ in range(reps):
            np.copyto(dst[lo:hi], src[lo:hi])

    def split() -> None:
        other = pool.submit(copy, n // 2, n)
        copy(0, n // 2)
        other.result()

    return {"whole batch": lambda: copy(0, n), "split over 2 threads": split}


def main() -> None:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        sys.exit("batch_split.py needs threadpoolctl (pip install threadpoolctl)")
    blas = next(c for c in ThreadpoolController().lib_controllers if c.user_api == "blas")
    pool = ThreadPoolExecutor(max_workers=1)
    print(machine_line(import_torch()))
    print("| case | one thread + BLAS on all cores, ms | halves on 2 threads + BLAS on one each, ms | split / whole |")
    print("|---|---|---|---|")
    rows = [(c["id"], conv_sides(c, pool, blas)) for c in load_cases()["conv2d"]]
    rows += [(f"copy of {mb} MB x {reps}", copy_sides(mb * 2**18, reps, pool))
             for mb, reps in ((1, 50), (4, 10), (32, 1))]
    for name, sides in rows:
        best = compare(sides, FULL)
        whole, split = best["whole batch"], best["split over 2 threads"]
        print(f"| {name} | {whole:.2f} | {split:.2f} | {split / whole:.2f} |")


if __name__ == "__main__":
    main()
