"""Experiment: relu keeping a one-byte mask from its forward, so that its backward is one pass.

The library's relu saves its output (alive anyway as the next layer's input) and its backward
makes the mask from it a block at a time: compare with 0, widen the truth to the gradient's width,
AND with the gradient's bits (three NumPy passes; ``tinygrad_conv/kernels/elementwise.py``). The
alternative measured here makes an int8 mask (-1 where the output is nonzero, NaN included, else 0)
in the forward's block loop, while the block is in cache, and keeps it instead of the output; the
backward is then one pass, the gradient's bits ANDed with the mask (NumPy widens the int8 in its
buffered loop). It costs one byte an element for as long as the graph lives.

Both run through the autograd op (a ``Function`` defined here, split over the library's threads as
its relu is), forward + backward of R1's array from ``benchmarks/cases.json``, against PyTorch, in
timing.py's protocol with six blocks a side. The script first checks that both give the same
gradient bits, with NaN, -NaN, 0 and -0 in the input.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/experiments/relu_mask.py``
(from the repository root). Prints ms (min) per side and the ratios.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for timing.py
from timing import FULL, compare, import_torch, load_cases, machine_line, with_rounds  # noqa: E402

import tinygrad_conv as tc  # noqa: E402
import tinygrad_conv.functional as F  # noqa: E402
from tinygrad_conv.autograd.function import Context, Function  # noqa: E402
from tinygrad_conv.kernels import elementwise  # noqa: E402
from tinygrad_conv.kernels.parallel import parallel_for  # noqa: E402

BLOCK = elementwise._BLOCK


def relu_and_mask_range(flat_x: np.ndarray, flat_out: np.ndarray, flat_mask: np.ndarray) -> None:
    """max(x, 0) into ``flat_out`` (the library's block kernel) and -1/0 (output nonzero or not)
    into the int8 ``flat_mask``, block by block while the block is in cache."""
    for lo in range(0, flat_x.size, BLOCK):
        hi = min(flat_x.size, lo + BLOCK)
        elementwise.relu_range(flat_x[lo:hi], flat_out[lo:hi])
        mask = flat_mask[lo:hi]
        np.not_equal(flat_out[lo:hi], 0, out=mask.view(np.bool_))
        np.negative(mask, out=mask)


def and_mask_range(bits_g: np.ndarray, flat_mask: np.ndarray, bits_out: np.ndarray) -> None:
    for lo in range(0, bits_g.size, BLOCK):
        hi = min(bits_g.size, lo + BLOCK)
        np.bitwise_and(bits_g[lo:hi], flat_mask[lo:hi], out=bits_out[lo:hi], casting="unsafe")


class MaskedByInt8(Function):
    """g where the int8 mask is -1, else 0; linear in g, so its own backward is itself."""

    name = "masked_by_int8"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(mask)
        out = np.empty_like(g)
        bits_g, flat_mask = g.reshape(-1).view(np.int32), mask.reshape(-1)
        bits_out = out.reshape(-1).view(np.int32)
        parallel_for(bits_g.size, lambda a, b: and_mask_range(bits_g[a:b], flat_mask[a:b], bits_out[a:b]))
        return out

    @staticmethod
    def backward(ctx: Context, gg: tc.Tensor) -> Any:
        (mask,) = ctx.saved_tensors
        return MaskedByInt8.apply(gg, mask), None


class ReluKeepingMask(Function):
    """relu that keeps an int8 mask from its forward instead of its output (float32 input only)."""

    name = "relu_keeping_mask"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out, mask = np.empty_like(x), np.empty(x.shape, dtype=np.int8)
        flat_x, flat_out, flat_mask = x.reshape(-1), out.reshape(-1), mask.reshape(-1)
        parallel_for(flat_x.size, lambda a, b: relu_and_mask_range(flat_x[a:b], flat_out[a:b], flat_mask[a:b]))
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx: Context, g: tc.Tensor) -> Any:
        (mask,) = ctx.saved_tensors
        return MaskedByInt8.apply(g, mask)


def main() -> None:
    torch = import_torch()
    print(machine_line(torch) + "\n")
    shape = load_cases()["relu"][0]["input"]
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32)
    x_np.reshape(-1)[:4] = [np.nan, -np.nan, 0.0, -0.0]
    dy_np = rng.standard_normal(shape).astype(np.float32)
    x, dy = tc.Tensor(x_np, requires_grad=True), tc.Tensor(dy_np)

    grads = []
    for relu in (F.relu, ReluKeepingMask.apply):
        x.grad = None
        relu(x).backward(dy)
        grads.append(x.grad.numpy().view(np.int32).copy())
    assert np.array_equal(grads[0], grads[1]), "the two relus' gradients differ"

    def ours() -> None:
        x.grad = None
        F.relu(x).backward(dy)

    def keeping_mask() -> None:
        x.grad = None
        ReluKeepingMask.apply(x).backward(dy)

    sides = {"library relu (saves its output)": ours, "relu keeping an int8 mask": keeping_mask}
    if torch is not None:
        tx = torch.from_numpy(x_np.copy()).requires_grad_(True)
        tdy = torch.from_numpy(dy_np)

        def theirs() -> None:
            tx.grad = None
            torch.nn.functional.relu(tx).backward(tdy)

        sides["PyTorch"] = theirs
    best = compare(sides, with_rounds(FULL, 6))
    names = list(best)
    print(f"relu {tuple(shape)}, forward + backward through the op, ms (min over 6 blocks a side)")
    for name in names:
        print(f"  {name:34s} {best[name]:.3f}")
    print(f"mask / library: {best[names[1]] / best[names[0]]:.2f}")
    if torch is not None:
        print(f"against PyTorch: library {best[names[0]] / best['PyTorch']:.2f}, "
              f"keeping the mask {best[names[1]] / best['PyTorch']:.2f}")


if __name__ == "__main__":
    main()
