"""Experiment: column-matrix layouts for conv2d forward + backward, against PyTorch.

Kernel level (plain arrays, no tape): forward + input gradient + weight gradient + bias sum,
the same work ``y = conv2d(x, w, b); y.backward(dy)`` does in PyTorch, for the cases of
project's benchmark cases (B1-B6, T1; the same shapes as ``benchmarks/bench_conv.py``), or of the JSON
file named by ``--cases-file``.

Layouts compared (all im2col + one GEMM per pass; the first three process the whole batch):

- ``rows``: columns as (N*OH*OW, C*kh*kw)       y = cols @ w.T,  dcols = dy_rows @ w
- ``kn``:   columns as (C*kh*kw, N*OH*OW)       y = w @ cols,    dcols = w.T @ dy_t
- ``nk``:   per-sample batched (N, C*kh*kw, OH*OW), y[n] = w @ cols[n]
- ``ours``: tinygrad_conv.kernels.conv (phase layout, flat rows with a pitch, cache-sized chunks)

Run: ``python benchmarks/experiments/conv_layouts.py [--repeats 5] [--cases B1,B4] [--memory]``.
Times are min (and median) over repeats after warm-up, each variant timed in its own block (see
``blocked``), ``--rounds`` times over; the machines are noisy, so compare ratios, not times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tinygrad_conv

from tinygrad_conv.kernels import conv as K  # noqa: E402

# The benchmark cases (the shapes bench_conv.py reports), in the layout of a --cases-file JSON file.
CASES = {
    "conv2d": [
        {"id": "B1", "input": [64, 1, 28, 28], "weight": [8, 1, 5, 5], "stride": 1, "padding": 0},
        {"id": "B2", "input": [64, 8, 12, 12], "weight": [16, 8, 5, 5], "stride": 1, "padding": 0},
        {"id": "B3", "input": [32, 3, 32, 32], "weight": [64, 3, 3, 3], "stride": 1, "padding": 1},
        {"id": "B4", "input": [32, 64, 16, 16], "weight": [64, 64, 3, 3], "stride": 1, "padding": 1},
        {"id": "B5", "input": [32, 64, 32, 32], "weight": [128, 64, 3, 3], "stride": 2, "padding": 1},
        {"id": "B6", "input": [8, 256, 14, 14], "weight": [256, 256, 3, 3], "stride": 1, "padding": 1},
    ],
    "conv_transpose2d": [
        {"id": "T1", "input": [32, 64, 16, 16], "weight": [64, 32, 4, 4], "stride": 2, "padding": 1},
    ],
}


# ------------------------------------------------------------------------------------------------
# Reference layouts (stride/padding symmetric, dilation 1, groups 1: all the benchmark needs)
# ------------------------------------------------------------------------------------------------


def _windows(x: np.ndarray, k: int, s: int, p: int) -> tuple[np.ndarray, int, int]:
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    n, c, hp, wp = xp.shape
    oh, ow = (hp - k) // s + 1, (wp - k) // s + 1
    sn, sc, sh, sw = xp.strides
    win = as_strided(xp, (n, c, k, k, oh, ow), (sn, sc, sh, sw, s * sh, s * sw), writeable=False)
    return win, oh, ow


def _col2im(d6: np.ndarray, x_shape: tuple, k: int, s: int, p: int) -> np.ndarray:
    """d6: (N, C, k, k, OH, OW) view; one strided add per tap, then crop the padding."""
    n, c, h, w = x_shape
    oh, ow = d6.shape[-2:]
    out = np.zeros((n, c, h + 2 * p, w + 2 * p), d6.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s] += d6[:, :, i, j]
    return out[:, :, p : p + h, p : p + w]


def layout_rows(x, w, b, dy, s, p):
    f, c, k, _ = w.shape
    n = x.shape[0]
    win, oh, ow = _windows(x, k, s, p)
    cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * k * k)
    w2 = w.reshape(f, -1)
    y = (cols @ w2.T).reshape(n, oh, ow, f).transpose(0, 3, 1, 2) + b[:, None, None]
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, f)
    dw = (dy_rows.T @ cols).reshape(w.shape)
    del cols
    d6 = (dy_rows @ w2).reshape(n, oh, ow, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    dx = _col2im(d6, x.shape, k, s, p)
    return y, dx, dw, dy.sum((0, 2, 3))


def layout_kn(x, w, b, dy, s, p):
    f, c, k, _ = w.shape
    n = x.shape[0]
    win, oh, ow = _windows(x, k, s, p)
    cols = win.transpose(1, 2, 3, 0, 4, 5).reshape(c * k * k, n * oh * ow)
    w2 = w.reshape(f, -1)
    y = (w2 @ cols).reshape(f, n, oh, ow).transpose(1, 0, 2, 3) + b[:, None, None]
    dy_t = dy.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = (dy_t @ cols.T).reshape(w.shape)
    del cols
    d6 = (w2.T @ dy_t).reshape(c, k, k, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)
    dx = _col2im(d6, x.shape, k, s, p)
    return y, dx, dw, dy.sum((0, 2, 3))


def layout_nk(x, w, b, dy, s, p):
    f, c, k, _ = w.shape
    n = x.shape[0]
    win, oh, ow = _windows(x, k, s, p)
    cols = win.reshape(n, c * k * k, oh * ow)
    w2 = w.reshape(f, -1)
    y = np.matmul(w2, cols).reshape(n, f, oh, ow) + b[:, None, None]
    dy3 = dy.reshape(n, f, -1)
    # weight gradient: one GEMM over (n, p) needs a channel-major copy of the columns
    dw = (dy3.transpose(1, 0, 2).reshape(f, -1) @ cols.transpose(0, 2, 1).reshape(-1, c * k * k)).reshape(w.shape)
    del cols
    d6 = np.matmul(w2.T, dy3).reshape(n, c, k, k, oh, ow)
    dx = _col2im(d6, x.shape, k, s, p)
    return y, dx, dw, dy.sum((0, 2, 3))


def layout_ours(x, w, b, dy, s, p):
    s2, p2, d2 = (s, s), ((p, p), (p, p)), (1, 1)
    y = K.conv2d(x, w, s2, p2, d2, 1) + b[:, None, None]
    dx = K.conv_transpose2d(dy, w, s2, p2, d2, 1, x.shape[2:])
    dw = K.conv2d_weight_grad(x, dy, w.shape[2:], s2, p2, d2, 1)
    return y, dx, dw, dy.sum((0, 2, 3))


LAYOUTS: dict[str, Callable] = {"rows": layout_rows, "kn": layout_kn, "nk": layout_nk, "ours": layout_ours}


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------


def blocked(fns: dict[str, Callable[[], object]], repeats: int, rounds: int = 2) -> dict[str, list[float]]:
    """Time each function in a block of back-to-back calls (after one warm-up call and a short
    pause), ``rounds`` times over; ms per call.

    Not interleaved call by call on purpose: after a call, OpenBLAS's worker threads (NumPy) and
    libgomp's (PyTorch) keep spinning for a while, and on 2 cores they slow whatever runs next by
    up to 35% (T1: 27 ms right after a PyTorch call, 20 ms in a block of its own)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            time.sleep(0.3)
            fn()
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
    return times


def conv_case(case: dict, repeats: int, layouts: list[str], rounds: int) -> dict[str, list[float]]:
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["input"], dtype=np.float32)
    w = rng.standard_normal(case["weight"], dtype=np.float32)
    b = rng.standard_normal(case["weight"][0], dtype=np.float32)
    s, p = case.get("stride", 1), case.get("padding", 0)
    oh = (x.shape[2] + 2 * p - w.shape[2]) // s + 1
    ow = (x.shape[3] + 2 * p - w.shape[3]) // s + 1
    dy = rng.standard_normal((x.shape[0], w.shape[0], oh, ow), dtype=np.float32)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dyt = torch.tensor(dy)

    def torch_step():
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p).backward(dyt)

    torch_step()
    ref = (xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())
    fns: dict[str, Callable[[], object]] = {"torch": torch_step}
    for name in layouts:
        _, dx, dw, db = LAYOUTS[name](x, w, b, dy, s, p)
        for got, want in zip((dx, dw, db), ref):  # every layout must be right before it is timed
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-2)
        fns[name] = (lambda f: lambda: f(x, w, b, dy, s, p))(LAYOUTS[name])
    return blocked(fns, repeats, rounds)


def transpose_case(case: dict, repeats: int, rounds: int) -> dict[str, list[float]]:
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["input"], dtype=np.float32)
    w = rng.standard_normal(case["weight"], dtype=np.float32)
    b = rng.standard_normal(w.shape[1], dtype=np.float32)
    s, p = case.get("stride", 1), case.get("padding", 0)
    k = w.shape[2:]
    out_hw = tuple(K.conv_transpose2d_output_size(x.shape[i + 2], k[i], s, p, 0, 1) for i in range(2))
    dy = rng.standard_normal((x.shape[0], w.shape[1]) + out_hw, dtype=np.float32)
    s2, p2, d2 = (s, s), ((p, p), (p, p)), (1, 1)

    def ours():
        y = K.conv_transpose2d(x, w, s2, p2, d2, 1, out_hw) + b[:, None, None]
        dx = K.conv2d(dy, w, s2, p2, d2, 1)
        dw = K.conv2d_weight_grad(dy, x, k, s2, p2, d2, 1)
        return y, dx, dw, dy.sum((0, 2, 3))

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dyt = torch.tensor(dy)

    def torch_step():
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv_transpose2d(xt, wt, bt, stride=s, padding=p).backward(dyt)

    torch_step()
    _, dx, dw, db = ours()
    for got, want in zip((dx, dw, db), (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=2e-3, atol=2e-2)
    return blocked({"torch": torch_step, "ours": ours}, repeats, rounds)


def peak_memory(case: dict) -> tuple[float, float]:
    """Peak traced memory (MB) of one forward + backward with our kernels, and the size (MB) of
    the whole-batch column matrix it is measured against (inputs and dy exist beforehand)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["input"], dtype=np.float32)
    w = rng.standard_normal(case["weight"], dtype=np.float32)
    b = rng.standard_normal(case["weight"][0], dtype=np.float32)
    s, p = case.get("stride", 1), case.get("padding", 0)
    oh = (x.shape[2] + 2 * p - w.shape[2]) // s + 1
    ow = (x.shape[3] + 2 * p - w.shape[3]) // s + 1
    dy = rng.standard_normal((x.shape[0], w.shape[0], oh, ow), dtype=np.float32)
    cols_mb = x.shape[0] * x.shape[1] * w.shape[2] * w.shape[3] * oh * ow * 4 / 1e6
    tracemalloc.start()
    result = layout_ours(x, w, b, dy, s, p)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    del result
    return peak, cols_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="blocks per variant, spread over time")
    ap.add_argument("--cases", default="", help="comma-separated ids, default all conv2d cases + T1")
    ap.add_argument("--layouts", default="rows,kn,nk,ours")
    ap.add_argument("--memory", action="store_true", help="also report peak memory for B4 and B6")
    ap.add_argument("--cases-file", default="", help="a JSON file of cases instead of the built-in ones")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    spec = json.loads(Path(args.cases_file).read_text()) if args.cases_file else CASES
    wanted = set(filter(None, args.cases.split(",")))
    layouts = args.layouts.split(",")

    ratios: dict[str, list[float]] = {name: [] for name in layouts}
    header = f"{'case':5} {'torch ms':>9} " + " ".join(f"{name + ' ms':>10} {'ratio':>6}" for name in layouts)
    print(header)
    for case in spec["conv2d"]:
        if wanted and case["id"] not in wanted:
            continue
        t = conv_case(case, args.repeats, layouts, args.rounds)
        base = min(t["torch"])
        row = f"{case['id']:5} {base:9.2f} "
        for name in layouts:
            ratio = min(t[name]) / base
            ratios[name].append(ratio)
            row += f"{min(t[name]):10.2f} {ratio:6.2f}"
        medians = ", ".join(f"{name} {statistics.median(v):.2f}" for name, v in t.items())
        print(row + f"   (medians: {medians})")
    for name in layouts:
        if ratios[name]:
            geo = float(np.exp(np.mean(np.log(ratios[name]))))
            print(f"{name:5} geometric mean ratio {geo:.2f}, worst {max(ratios[name]):.2f}")

    for case in spec.get("conv_transpose2d", []):
        if wanted and case["id"] not in wanted:
            continue
        t = transpose_case(case, args.repeats, args.rounds)
        print(
            f"{case['id']:5} conv_transpose2d: torch {min(t['torch']):.2f} ms, ours {min(t['ours']):.2f} ms, "
            f"ratio {min(t['ours']) / min(t['torch']):.2f}"
        )

    if args.memory:
        by_id = {c["id"]: c for c in spec["conv2d"]}
        for mid, cid in (("M1", "B4"), ("M2", "B6")):
            peak, cols = peak_memory(by_id[cid])
            print(f"{mid} ({cid}): peak {peak:.1f} MB = {peak / cols:.2f} x the {cols:.1f} MB column matrix")


if __name__ == "__main__":
    main()
