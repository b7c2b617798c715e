"""Cases B1-B6, T1 (speed) and M1-M2 (memory) of shared/benchmark-cases.json, side by side with
PyTorch CPU in the same process, through the autograd ops (forward + every gradient, a fixed random
upstream gradient, float32).

    python benchmarks/bench_conv.py [--repeats 7]

Times are milliseconds (min and median over repeats after a warm-up); ratios are ours / PyTorch's.

The "GEMMs alone" column times only the matrix products our algorithm needs for the case (forward,
input gradient, weight gradient), at whole-batch shapes, with preallocated operands and no junk
columns: im2col's (F, C*kh*kw) x (C*kh*kw, N*OH*OW) and its two adjoints, or for the layers that
go to Winograd (kernels/winograd.py) its 16 batched products per pass over 2x2-output tiles. No
copy, transform or col2im is in it, so its ratio to PyTorch's whole time is a floor for this
design with this BLAS. The environment line says which GEMM kernels each side runs.
"""

from __future__ import annotations

import argparse
import math
import os
import tracemalloc
from collections.abc import Callable

import numpy as np
from timing import timed

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import winograd

CONV = {
    "B1": ((64, 1, 28, 28), (8, 1, 5, 5), 1, 0),
    "B2": ((64, 8, 12, 12), (16, 8, 5, 5), 1, 0),
    "B3": ((32, 3, 32, 32), (64, 3, 3, 3), 1, 1),
    "B4": ((32, 64, 16, 16), (64, 64, 3, 3), 1, 1),
    "B5": ((32, 64, 32, 32), (128, 64, 3, 3), 2, 1),
    "B6": ((8, 256, 14, 14), (256, 256, 3, 3), 1, 1),
}
CONVT = {"T1": ((32, 64, 16, 16), (64, 32, 4, 4), 2, 1)}


def make_case(x_shape, w_shape, transposed: bool, stride: int, padding: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    out_c = w_shape[1] if transposed else w_shape[0]
    b = rng.standard_normal(out_c).astype(np.float32)
    op = F.conv_transpose2d if transposed else F.conv2d
    tx, tw, tb = (tc.Tensor(a, requires_grad=True) for a in (x, w, b))
    y_shape = op(tc.Tensor(x), tc.Tensor(w), stride=stride, padding=padding).shape
    g = tc.Tensor(rng.standard_normal(y_shape).astype(np.float32))

    def ours() -> None:
        tx.grad = tw.grad = tb.grad = None
        op(tx, tw, tb, stride=stride, padding=padding).backward(g)

    return ours, (x, w, b, g.data)


def gemm_shapes(x_shape, w_shape, transposed: bool, stride: int, padding: int) -> list[tuple[int, int, int, int]]:
    """(batch, m, k, n) of each matrix product in one forward + backward, for the case's conv2d (for
    a transposed conv, the conv2d it is the input gradient of: the same three products)."""
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    if transposed:  # that conv2d maps the transposed conv's output (c_out channels) back to x
        c, f = w_shape[1], w_shape[0]
        h, w = (h - 1) * stride - 2 * padding + kh, (w - 1) * stride - 2 * padding + kw
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    if not transposed and winograd.applies(np.float32, (kh, kw), (stride, stride), (1, 1), 1, c, f):
        tiles = n * -(-oh // 2) * -(-ow // 2)
        return [(16, f, c, tiles), (16, c, f, tiles), (16, f, tiles, c)]
    k, p = c * kh * kw, n * oh * ow
    return [(1, f, k, p), (1, k, f, p), (1, f, p, k)]


def gemm_runner(shapes: list[tuple[int, int, int, int]]) -> Callable[[], None]:
    rng = np.random.default_rng(1)
    operands = [(rng.standard_normal((b, m, k)).astype(np.float32), rng.standard_normal((b, k, n)).astype(np.float32),
                 np.empty((b, m, n), np.float32)) for b, m, k, n in shapes]

    def run() -> None:
        for a, b, out in operands:
            np.matmul(a, b, out=out)

    return run


def environment_line(torch) -> str:
    """Which GEMM kernels each side runs: NumPy's OpenBLAS honours OPENBLAS_CORETYPE (an AVX2
    'Haswell' pin makes it ~1.6x slower than its AVX-512 kernels on an AVX-512 machine), while
    PyTorch picks its own kernels from the CPU."""
    blas = os.environ.get("OPENBLAS_CORETYPE", "(unset: detected from the CPU)")
    cap = torch.backends.cpu.get_cpu_capability() if torch is not None else "-"
    return f"NumPy {np.__version__}, OPENBLAS_CORETYPE={blas}; PyTorch CPU capability {cap}"


def torch_runner(arrays, transposed: bool, stride: int, padding: int):
    import torch

    x, w, b, g = (torch.from_numpy(a) for a in arrays)
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()
    op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d

    def run() -> None:
        x.grad = w.grad = b.grad = None
        op(x, w, b, stride=stride, padding=padding).backward(g)

    return run


def peak_multiple(case: str) -> tuple[float, float]:
    """Peak traced memory of one forward + backward, and the column matrix, in MB."""
    x_shape, w_shape, stride, padding = CONV[case]
    ours, _ = make_case(x_shape, w_shape, False, stride, padding)
    ours()  # warm caches and buffers outside the measurement
    n, c, h, w = x_shape
    f, _, kh, kw = w_shape
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    cols = c * kh * kw * n * oh * ow * 4 / 1e6
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        ours()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - base) / 1e6, cols


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    print(environment_line(torch) + "\n")
    print("| case | ours ms (min / median) | PyTorch ms (min / median) | ratio (min) "
          "| GEMMs alone ms (min) | GEMMs alone / PyTorch |")
    print("|---|---|---|---|---|---|")
    ratios = {}
    for table, transposed in ((CONV, False), (CONVT, True)):
        for case, (x_shape, w_shape, stride, padding) in table.items():
            ours, arrays = make_case(x_shape, w_shape, transposed, stride, padding)
            o_min, o_med = timed(ours, args.repeats)
            g_min, _ = timed(gemm_runner(gemm_shapes(x_shape, w_shape, transposed, stride, padding)), args.repeats)
            if torch is None:
                print(f"| {case} | {o_min:.1f} / {o_med:.1f} | - | - | {g_min:.1f} | - |")
                continue
            t_min, t_med = timed(torch_runner(arrays, transposed, stride, padding), args.repeats)
            ratios[case] = o_min / t_min
            print(f"| {case} | {o_min:.1f} / {o_med:.1f} | {t_min:.1f} / {t_med:.1f} | {ratios[case]:.2f} "
                  f"| {g_min:.1f} | {g_min / t_min:.2f} |")
    conv_ratios = [ratios[c] for c in CONV if c in ratios]
    if conv_ratios:
        geo = math.exp(sum(math.log(r) for r in conv_ratios) / len(conv_ratios))
        print(f"\ngeometric mean B1-B6: {geo:.2f} (target <= 1.2), worst {max(conv_ratios):.2f} (target <= 1.6); "
              f"T1: {ratios.get('T1', float('nan')):.2f} (target <= 1.4)")
    print("\n| case | peak traced MB | column matrix MB | multiple (target <= 1.5) |")
    print("|---|---|---|---|")
    for mem_case, conv_case in (("M1", "B4"), ("M2", "B6")):
        peak, cols = peak_multiple(conv_case)
        print(f"| {mem_case} ({conv_case}) | {peak:.1f} | {cols:.1f} | {peak / cols:.2f} |")


if __name__ == "__main__":
    main()
