"""Graph drawing at model scale: building the DOT text of a 2,000-op graph (target: under 2 s).

The graph is a deep stack of small modules (Linear, Tanh) recorded under module scopes, so the
drawer does all its work: op labels, leaf names from the Module, nested clusters. Times are the
DOT build only (``make_dot(...).source``), not Graphviz's layout, which is the ``dot`` program's
business. Reported: min and median over repeats, for the full drawing, with ``show_saved``, and
collapsed to one node per layer; then the backward drawing of the same model.

    python benchmarks/bench_viz.py
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from timing import timed

import tinygrad_conv as tc
from tinygrad_conv import nn, viz

TARGET_OPS = 2000
BLOCKS = 10  # nested Sequentials, so clusters nest two deep


def build() -> tuple[Any, tc.Tensor, int]:
    """A model of Linear+Tanh layers whose forward records about TARGET_OPS ops."""
    width = 8
    x = tc.Tensor(np.random.default_rng(0).standard_normal((4, width)).astype(np.float32))
    probe = nn.Sequential(nn.Linear(width, width), nn.Tanh())
    ops_per_layer = count_ops(viz.make_dot(probe(x)).source)
    layers_per_block = max(1, TARGET_OPS // (BLOCKS * ops_per_layer))
    model = nn.Sequential(*[nn.Sequential(*[m for _ in range(layers_per_block)
                                            for m in (nn.Linear(width, width), nn.Tanh())])
                            for _ in range(BLOCKS)])
    loss = model(x).sum()
    return model, loss, count_ops(viz.make_dot(loss).source)


def count_ops(source: str) -> int:
    """Op nodes in a drawing (their DOT ids are op<seq>, one per recorded op)."""
    return len(re.findall(r"^\s*op\d+ \[", source, flags=re.M))


def main() -> None:
    model, loss, n_ops = build()
    print(f"graph: {n_ops} recorded ops, {sum(1 for _ in model.parameters())} parameters")
    cases = {
        "make_dot": lambda: viz.make_dot(loss, params=model).source,
        "make_dot show_saved": lambda: viz.make_dot(loss, params=model, show_saved=True).source,
        "make_dot collapse=2 (one node per layer)": lambda: viz.make_dot(loss, params=model,
                                                                         collapse=2).source,
        "make_dot collapse=1 (one node per block)": lambda: viz.make_dot(loss, params=model,
                                                                         collapse=1).source,
    }
    for name, fn in cases.items():
        best, median = timed(fn, repeats=7)
        flag = "ok" if best < 2000.0 else "SLOWER THAN 2 s"
        print(f"{name:45s} min {best:8.1f} ms   median {median:8.1f} ms   {flag}")
    # The backward drawing runs grad(create_graph=True) each time, so it is timed as a whole.
    best, median = timed(lambda: viz.make_backward_dot(loss, params=model).source, repeats=3)
    print(f"{'make_backward_dot (grad + drawing)':45s} min {best:8.1f} ms   median {median:8.1f} ms")


if __name__ == "__main__":
    main()
