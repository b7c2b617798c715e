"""Experiment: Winograd F(2x2, 3x3) against im2col for 3x3 stride-1 convs, per shape.

Kernel level (plain arrays, no tape): forward + input gradient + weight gradient, float32, on the
3x3 stride-1 cases of the benchmark file (B4, B6) and a grid of channel counts and image sizes.
This is the measurement behind ``winograd.MIN_CHANNELS`` and ``winograd.applies``.

Run: ``python benchmarks/experiments/winograd_vs_im2col.py [--repeats 25]``.

The process first churns through every case once (fresh processes page in memory slowly, and the
first case measured would pay for it), then alternates the two kernels case by case, so drifts in
machine speed land on both. Times are min and median in ms; the machines are noisy, so compare
the ratios, and rerun before believing a ratio within 10 percent of 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tinygrad_conv

from tinygrad_conv.kernels import conv as K  # noqa: E402
from tinygrad_conv.kernels import winograd as W  # noqa: E402

# name: (input shape, weight shape); padding 1 throughout
CASES = {
    "B4": ((32, 64, 16, 16), (64, 64, 3, 3)),
    "B6": ((8, 256, 14, 14), (256, 256, 3, 3)),
    "c16@32": ((32, 16, 32, 32), (16, 16, 3, 3)),
    "c32@8": ((32, 32, 8, 8), (32, 32, 3, 3)),
    "c32@32": ((32, 32, 32, 32), (32, 32, 3, 3)),
    "c64@8": ((32, 64, 8, 8), (64, 64, 3, 3)),
    "c64@32": ((16, 64, 32, 32), (64, 64, 3, 3)),
    "c64to128@16": ((32, 64, 16, 16), (128, 64, 3, 3)),
    "c128@16": ((32, 128, 16, 16), (128, 128, 3, 3)),
    "c128@32": ((16, 128, 32, 32), (128, 128, 3, 3)),
    "c512@7": ((8, 512, 7, 7), (512, 512, 3, 3)),
}


def runner(x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> Callable[[], None]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    one, pad = (1, 1), ((1, 1), (1, 1))
    dy = rng.standard_normal((x_shape[0], w_shape[0]) + x_shape[2:]).astype(np.float32)

    def run() -> None:
        K.conv2d(x, w, one, pad, one, 1)
        K._input_grad(dy, w, x_shape[2:], one, pad, one, 1)
        K.conv2d_weight_grad(x, dy, (3, 3), one, pad, one, 1)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    default_min = W.MIN_CHANNELS
    # kernels/conv.py now times both on a shape's first call; forced, MIN_CHANNELS alone decides, as
    # this experiment was written for
    K.ALGORITHM = "winograd"
    runs = {name: runner(*shapes) for name, shapes in CASES.items()}
    modes = {"winograd": 1, "im2col": 10**9}  # MIN_CHANNELS that forces each kernel
    for mode in modes.values():  # warm-up: every case, both kernels
        W.MIN_CHANNELS = mode
        for run in runs.values():
            run()
    print("| case | winograd ms (min / median) | im2col ms (min / median) | ratio (min) | chosen now |")
    print("|---|---|---|---|---|")
    try:
        for name, run in runs.items():
            times: dict[str, list[float]] = {m: [] for m in modes}
            for _ in range(args.repeats):
                for mode, threshold in modes.items():
                    W.MIN_CHANNELS = threshold
                    t0 = time.perf_counter()
                    run()
                    times[mode].append((time.perf_counter() - t0) * 1e3)
            wino, im2col = times["winograd"], times["im2col"]
            c, f = CASES[name][0][1], CASES[name][1][0]
            W.MIN_CHANNELS = default_min
            chosen = "winograd" if W.applies(np.float32, (3, 3), (1, 1), (1, 1), 1, c, f) else "im2col"
            print(f"| {name} | {min(wino):.2f} / {statistics.median(wino):.2f} | {min(im2col):.2f} / "
                  f"{statistics.median(im2col):.2f} | {min(wino) / min(im2col):.2f} | {chosen} |")
    finally:
        W.MIN_CHANNELS = default_min


if __name__ == "__main__":
    main()
