"""Experiment: a sum over several axes with the leading axis first (``kernels/reduce.py``) against
``np.sum`` over the same axes, on the conv bias gradients of the benchmark cases and the LeNet,
and PyTorch's ``sum(dim=(0, 2, 3))`` on the same arrays, by timing.py's block protocol.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/experiments/sum_axes.py``
(from the repository root). Prints ms (min) per side and ours / np.sum.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for timing.py
from timing import FULL, compare  # noqa: E402

from tinygrad_conv.kernels.reduce import sum_axes  # noqa: E402

# (N, F, OH, OW) upstream gradients: the LeNet's two convs at batch 32, B4's and R1's shapes.
SHAPES = [(32, 32, 8, 8), (32, 64, 4, 4), (32, 64, 16, 16), (32, 64, 32, 32)]


def main() -> None:
    try:
        import torch
    except ImportError:
        torch = None
    axes = (0, 2, 3)
    print("| upstream gradient | np.sum | sum_axes | PyTorch | sum_axes / np.sum |")
    print("|---|---|---|---|---|")
    for shape in SHAPES:
        g = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        sides = {"np.sum": lambda g=g: np.sum(g, axis=axes), "sum_axes": lambda g=g: sum_axes(g, axes, False)}
        if torch is not None:
            tg = torch.from_numpy(g)
            sides["PyTorch"] = lambda tg=tg: tg.sum(dim=axes)
        best = compare(sides, FULL)
        theirs = best.get("PyTorch", float("nan"))
        print(f"| {shape} | {best['np.sum']:.4f} | {best['sum_axes']:.4f} | {theirs:.4f} "
              f"| {best['sum_axes'] / best['np.sum']:.2f} |")


if __name__ == "__main__":
    main()
