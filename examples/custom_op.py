"""Add a new op, check it, draw it and train with it: the script version of docs/new-ops.md.

    python examples/custom_op.py                 # writes smooth_max.dot (and .svg) to a temp folder
    python examples/custom_op.py --out pictures  # ...or to ./pictures

The op is a smooth maximum, log(exp(beta*a) + exp(beta*b)) / beta: max(a, b) with a gradient
everywhere. It is registered with sample inputs and a PyTorch reference, so ``check_op`` can check
it (and ``tinygrad-conv check --module examples/custom_op.py`` from the command line).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

import tinygrad_conv as tc
from tinygrad_conv.ops import register
from tinygrad_conv.optim import SGD
from tinygrad_conv.testing import check_op, sample_inputs


@register("smooth_max", broadcasts=True, replace=True,
          samples=sample_inputs([(3, 4), (3, 4)], [(3, 1), (4,)], params=[{}, {"beta": 4.0}]),
          reference=lambda torch, a, b, beta=1.0: torch.logaddexp(beta * a, beta * b) / beta)
class SmoothMax(tc.Function):
    """log(exp(beta * a) + exp(beta * b)) / beta: max(a, b) with a gradient everywhere."""

    @staticmethod
    def forward(ctx, a, b, *, beta=1.0):
        m = tc.functional.maximum(a, b)  # shift by the max, so exp never overflows
        out = m + ((beta * (a - m)).exp() + (beta * (b - m)).exp()).log() / beta
        ctx.save_for_backward(a, b, out)
        ctx.beta = beta
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        wa = (ctx.beta * (a - out)).exp()  # d out / d a: the softmax weight of a
        wb = (ctx.beta * (b - out)).exp()
        return grad * wa, grad * wb


def draw(out_dir: Path) -> Path:
    """Draw a small graph with the new op; the node is labelled smooth_max, with beta."""
    from tinygrad_conv.viz import make_dot

    a = tc.Tensor([[1.0, -2.0, 3.0]], requires_grad=True)
    y = a.smooth_max(tc.Tensor([0.0, 0.0, 0.0]), beta=4.0).sum()
    dot = make_dot(y, params={"a": a})
    assert "<B>smooth_max</B>" in dot.source
    out_dir.mkdir(parents=True, exist_ok=True)
    path = Path(dot.save(str(out_dir / "smooth_max.dot")))
    if shutil.which("dot"):  # the Graphviz program draws the picture; the DOT text needs none
        path = Path(dot.render(str(out_dir / "smooth_max"), format="svg", cleanup=True))
    return path


def train(steps: int = 30) -> tuple[list[float], float]:
    """Fit a threshold t so that smooth_max(x, t) matches max(x, 0.5)."""
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.uniform(-2.0, 2.0, 256).astype(np.float32))
    target = tc.Tensor(np.maximum(x.numpy(), 0.5))
    t = tc.Tensor([-1.0], requires_grad=True)
    opt = SGD([t], lr=1.0)
    losses = []
    for _ in range(steps):
        loss = ((x.smooth_max(t, beta=8.0) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, t.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the drawing (default: a temp folder)")
    args = parser.parse_args()

    report = check_op("smooth_max")  # raises, with the report, if anything is wrong
    print(report)
    print(tc.ops.registry()["smooth_max"])

    print("drawing:", draw(args.out or Path(tempfile.mkdtemp(prefix="custom_op_"))))

    losses, t = train()
    print(f"training: loss {losses[0]:.4f} -> {losses[-1]:.6f}, threshold t = {t:.3f} (target 0.5)")
    assert losses[-1] < 0.01 * losses[0] and abs(t - 0.5) < 0.05


if __name__ == "__main__":
    main()
