"""Case A1: every activation (and the plain elementwise ops) on a large float32 array, forward and
forward + backward, side by side with PyTorch CPU in the same process (issue 15 item 12: no
elementwise op more than 2x PyTorch).

The input is (256, 6, 28, 28) float32 (LeNet's first feature map on a batch of 256), the upstream
gradient a fixed random array. Each side runs in blocks: its calls back to back, 2 warm-ups, then
REPEATS timed calls; the blocks alternate between the sides ROUNDS times, and each side's figure is
the minimum over all its timed calls (the machine is shared, so the minimum is the least noisy
estimate of what a call costs). Ratio = ours / PyTorch; '!' marks a ratio above 2.

Both sides use their default threads (ours: ``tc.get_num_threads()``, PyTorch:
``torch.get_num_threads()``); the header prints them with the BLAS each side runs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_activations.py [--quick] [--floors] [name ...]

``--floors`` adds, for the ops that stay above 2x, the floor of a NumPy implementation measured in
the same run: the passes over the whole array its formula needs (FLOORS below: plain ufunc passes,
comparisons into a bool array, exp/log/expm1 passes, reductions along dim 1), each timed once on
one thread into a preallocated output, summed, against PyTorch's time for the same op.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from timing import timed

import tinygrad_conv as tc
import tinygrad_conv.functional as F

SHAPE = (256, 6, 28, 28)
ROUNDS = 2
REPEATS = 15


def _cases(torch: Any) -> list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], str]]:
    """(name, ours, PyTorch's, input domain) for every activation and elementwise op."""
    TF = torch.nn.functional
    w = np.full(6, 0.25, dtype=np.float32)
    w_ours, w_torch = tc.Tensor(w), torch.tensor(w)
    return [
        ("relu", F.relu, TF.relu, "real"),
        ("relu6", F.relu6, TF.relu6, "real"),
        ("leaky_relu", F.leaky_relu, TF.leaky_relu, "real"),
        ("hardtanh", F.hardtanh, TF.hardtanh, "real"),
        ("elu", F.elu, TF.elu, "real"),
        ("selu", F.selu, TF.selu, "real"),
        ("celu", lambda x: F.celu(x, 1.5), lambda x: TF.celu(x, 1.5), "real"),
        ("gelu", F.gelu, TF.gelu, "real"),
        ("gelu tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), "real"),
        ("silu", F.silu, TF.silu, "real"),
        ("mish", F.mish, TF.mish, "real"),
        ("softplus", F.softplus, TF.softplus, "real"),
        ("sigmoid", F.sigmoid, torch.sigmoid, "real"),
        ("tanh", F.tanh, torch.tanh, "real"),
        ("logsigmoid", F.logsigmoid, TF.logsigmoid, "real"),
        ("softsign", F.softsign, TF.softsign, "real"),
        ("hardswish", F.hardswish, TF.hardswish, "real"),
        ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid, "real"),
        ("prelu", lambda x: F.prelu(x, w_ours), lambda x: TF.prelu(x, w_torch), "real"),
        ("glu (dim 1)", lambda x: F.glu(x, 1), lambda x: TF.glu(x, 1), "real"),
        ("softmax (dim 1)", lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1), "real"),
        ("log_softmax (dim 1)", lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), "real"),
        ("dropout p=0.5", lambda x: F.dropout(x, 0.5), lambda x: TF.dropout(x, 0.5), "real"),
        ("exp", F.exp, torch.exp, "real"),
        ("log", F.log, torch.log, "positive"),
        ("sqrt", F.sqrt, torch.sqrt, "positive"),
        ("abs", F.abs, torch.abs, "real"),
        ("neg", lambda x: -x, lambda x: -x, "real"),
        ("x * x", lambda x: x * x, lambda x: x * x, "real"),
        ("x + 1", lambda x: x + 1.0, lambda x: x + 1.0, "real"),
        ("x / 3", lambda x: x / 3.0, lambda x: x / 3.0, "real"),
        ("x ** 2", lambda x: x ** 2.0, lambda x: x ** 2.0, "real"),
        ("clamp", lambda x: F.clamp(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), "real"),
    ]


# Passes over the whole (256, 6, 28, 28) array the fastest NumPy formulation of each op needs, as
# the kernels do them (kernels/activation.py, kernels/elementwise.py, ops/reduce.py): forward, and
# forward + backward with the backward's passes added. "p" plain ufunc pass (add, multiply, clip,
# max against an array, bit and/xor, bool -> int widening), "c" comparison into a bool array, "e"
# exp/log/expm1, "r" reduction along dim 1, "h" a plain pass on half the array (glu), "b" a plain
# pass made a cache-sized block at a time (gelu's long chain runs in 64K-element blocks).
FLOORS: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    # max; bwd: != 0, widen, and
    "relu": ({"p": 1}, {"p": 3, "c": 1}),
    # clip; with grad > lo, < hi, and; bwd widen, and
    "relu6": ({"p": 1}, {"p": 3, "c": 3}),
    "hardtanh": ({"p": 1}, {"p": 3, "c": 3}),
    # s x, max; with grad > 0, widen, and, xor, x f; bwd g f
    "leaky_relu": ({"p": 2}, {"p": 5, "c": 1}),
    # + 3, clip, * x, / 6; bwd clip, / 3, trunc, + .5, * .5, -, * g
    "hardswish": ({"p": 4}, {"p": 11}),
    # + 3, clip, / 6; with grad the mask (3 c); bwd widen, and, / 6
    "hardsigmoid": ({"p": 3}, {"p": 6, "c": 3}),
    # -x, exp, + 1, 1 / .; bwd 1 - y, * y, * g
    "sigmoid": ({"p": 3, "e": 1}, {"p": 6, "e": 1}),
    # -x, exp, + 1, x / .; with grad sigmoid and x s; bwd 5
    "silu": ({"p": 3, "e": 1}, {"p": 9, "e": 1}),
    # min, expm1, * alpha scale, max, * scale, +; bwd > 0, min, exp, *, select (4), * g
    "selu": ({"p": 5, "e": 1}, {"p": 12, "e": 2, "c": 1}),
    # |x|, -, exp, log1p (u, -, -, /, log, +), min, -; bwd exp, + 1, /
    "logsigmoid": ({"p": 8, "e": 2}, {"p": 10, "e": 3}),
    # the erfc fit: 18 Horner passes each way, 12 others forward, 17 backward, exp(-z^2)
    "gelu": ({"b": 30, "e": 1}, {"b": 65, "e": 3}),
    # w x, max
    "prelu": ({"p": 2}, {"p": 2}),
    # on half the array: -b, exp, + 1, 1 / ., a s; bwd 5
    "glu (dim 1)": ({"h": 4, "e": 0.5}, {"h": 9, "e": 0.5}),
    # max, -, exp, sum, * 1 / sum (log_softmax: log, -); bwd sum, * y or * p, -
    "softmax (dim 1)": ({"p": 2, "e": 1, "r": 2}, {"p": 5, "e": 1, "r": 3}),
    "log_softmax (dim 1)": ({"p": 2, "e": 1, "r": 2}, {"p": 5, "e": 1, "r": 3}),
}


def _pass_times(repeats: int) -> dict[str, float]:
    """One pass of each kind over the benchmark array on one thread, into a preallocated output, ms."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    out, mask = np.empty_like(x), np.empty(SHAPE, dtype=bool)
    half = np.empty((SHAPE[0], SHAPE[1] // 2) + SHAPE[2:], dtype=np.float32)

    def best(fn: Callable[[], Any]) -> float:
        return min(timed(fn, repeats)[0] for _ in range(ROUNDS))
    p_add = best(lambda: np.add(x, 1.0, out=out))
    with np.errstate(all="ignore"):
        e = best(lambda: np.exp(x, out=out))
    flat_x, flat_out, block = x.reshape(-1), out.reshape(-1), 1 << 16

    def blocks() -> None:  # ten passes a block, while it stays in cache, as a long chain makes them
        for lo in range(0, flat_x.size, block):
            part = flat_out[lo:lo + block]
            np.add(flat_x[lo:lo + block], 1.0, out=part)
            for _ in range(9):
                np.add(part, 1.0, out=part)
    return {"p": p_add, "c": best(lambda: np.greater(x, 0.0, out=mask)), "e": e,
            "r": best(lambda: np.sum(x, axis=1, keepdims=True)),
            "h": best(lambda: np.add(x[:, :3], 1.0, out=half)), "b": best(blocks) / 10}


def _print_floors(rows: dict[str, tuple[tuple[float, float], tuple[float, float]]], repeats: int) -> None:
    unit = _pass_times(repeats)
    print()
    print("one pass, ms: " + ", ".join(f"{k} {v:.3f}" for k, v in unit.items()))
    print(f"{'op':22s} {'fwd floor':>9s} {'torch':>8s} {'ratio':>6s}   {'fwd+bwd floor':>13s} {'torch':>8s} "
          f"{'ratio':>6s}   passes (fwd; fwd+bwd)")
    for name, (fwd, fb) in FLOORS.items():
        if name not in rows:
            continue
        cells = []
        for need, (_, theirs) in zip((fwd, fb), rows[name]):
            floor = sum(unit[k] * n for k, n in need.items())
            cells.append(f"{floor:9.2f} {theirs:8.2f} {floor / theirs:6.2f}")
        passes = "; ".join(" ".join(f"{n:g}{k}" for k, n in need.items()) for need in (fwd, fb))
        print(f"{name:22s} {cells[0]}   {cells[1]:>29s}   {passes}")


def _blas_info(torch: Any) -> str:
    lines = []
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                lines.append(f"numpy {np.__version__}: {pool.get('internal_api')} {pool.get('version')}, "
                             f"kernel {pool.get('architecture')}, {pool.get('num_threads')} threads "
                             f"({pool.get('filepath', '').rsplit('/', 1)[-1]})")
    except ImportError:
        lines.append(f"numpy {np.__version__}: threadpoolctl not installed, BLAS unknown")
    lines.append(f"torch {torch.__version__}: CPU capability {torch.backends.cpu.get_cpu_capability()}, "
                 f"{torch.get_num_threads()} threads; tinygrad_conv elementwise threads {tc.get_num_threads()}")
    return "\n".join(lines)


def _runner(fn: Callable[[Any], Any], make: Callable[[np.ndarray, bool], Any], x: np.ndarray, g: Any,
            backward: bool) -> Callable[[], None]:
    def run() -> None:
        t = make(x, backward)
        y = fn(t)
        if backward:
            y.backward(g(y))
    return run


def main(argv: list[str]) -> int:
    import torch

    quick = "--quick" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    repeats = 5 if quick else REPEATS
    rng = np.random.default_rng(0)
    real = rng.standard_normal(SHAPE).astype(np.float32)
    domains = {"real": real, "positive": np.abs(real) + 0.1}
    grads: dict[tuple[int, ...], np.ndarray] = {}

    def grad_for(shape: tuple[int, ...]) -> np.ndarray:
        if shape not in grads:
            grads[shape] = rng.standard_normal(shape).astype(np.float32)
        return grads[shape]

    def make_ours(x: np.ndarray, rg: bool) -> Any:
        return tc.Tensor(x, requires_grad=rg)

    def make_torch(x: np.ndarray, rg: bool) -> Any:
        return torch.from_numpy(x).requires_grad_(rg)

    print(f"Case A1: activations on {SHAPE} float32, min of {ROUNDS} alternating blocks x {repeats} calls "
          "(2 warm-ups per block), ms")
    print(_blas_info(torch))
    print(f"{'op':22s} {'fwd ours':>9s} {'torch':>8s} {'ratio':>6s}   {'fwd+bwd ours':>12s} {'torch':>8s} "
          f"{'ratio':>6s}")
    worst = []
    rows: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    for name, ours, theirs, domain in _cases(torch):
        if wanted and not any(w in name for w in wanted):
            continue
        x = domains[domain]
        results = []
        for backward in (False, True):
            best = {"ours": float("inf"), "torch": float("inf")}
            for _ in range(ROUNDS):
                for side, fn, make, to in (("ours", ours, make_ours, lambda y: tc.Tensor(grad_for(y.shape))),
                                           ("torch", theirs, make_torch,
                                            lambda y: torch.from_numpy(grad_for(tuple(y.shape))))):
                    run = _runner(fn, make, x, to, backward)
                    run()  # the first warm-up; timed() makes the second
                    best[side] = min(best[side], timed(run, repeats)[0])
            results.append((best["ours"], best["torch"]))
        cells = []
        for o, t in results:
            ratio = o / t
            cells.append(f"{o:9.2f} {t:8.2f} {ratio:5.2f}{'!' if ratio > 2 else ' '}")
        worst.append((results[1][0] / results[1][1], name))
        rows[name] = (results[0], results[1])
        print(f"{name:22s} {cells[0]}   {cells[1]:>28s}", flush=True)
    over = [f"{n} ({r:.2f}x)" for r, n in sorted(worst, reverse=True) if r > 2]
    print("forward + backward above 2x PyTorch: " + (", ".join(over) if over else "none"))
    if "--floors" in argv:
        _print_floors(rows, repeats)
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main(sys.argv[1:])
    print(f"({time.perf_counter() - t0:.0f} s)")
    sys.exit(code)
