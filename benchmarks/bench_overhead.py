"""Case O1: autograd overhead per op, side by side with PyTorch in the same process.

A chain of 2000 elementwise ops (x = x * 1.0001 + 0.0001) on a 1-element float32 tensor, then sum
and backward; reported as microseconds per op (forward + backward), min and median over repeats.

Three references run in the same process so that the figure can be compared across machines (the
issue's 8 us target was set on a machine where PyTorch took 19.4 us, a minimal NumPy tape 5.7 and
raw NumPy 2.1, so it is 1.40 times that tape):

- PyTorch;
- a minimal NumPy tape written below (each op appends a closure that adds its gradient into its
  parent's slot; no checks, no hooks, no versions, no dtypes);
- a skeleton tape, also below: the least that issue 2's semantics need on every op, and nothing
  more. A tensor object with a version counter, a recorded node with its inputs and the versions of
  what it saved, a per-thread grad-mode check, a version check at backward and gradients summed per
  tensor. Its backward rules work on arrays (ours are tensor ops, for create_graph), and it has no
  hooks, dtypes, broadcasting, retain_grad or registry, and knows its two ops by a flag. Its ratio
  to the minimal tape shows how much of the 1.40 those checks alone take.

    python benchmarks/bench_overhead.py
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from timing import timed

import tinygrad_conv as tc

STEPS = 1000  # each step is two ops (mul, add): 2000 ops


def ours() -> None:
    x0 = tc.Tensor(np.ones(1, dtype=np.float32), requires_grad=True)
    x = x0
    for _ in range(STEPS):
        x = x * 1.0001 + 0.0001
    x.sum().backward()


class _MiniTape:
    """The least a tape can do: a value, a gradient slot, and a list of backward closures."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def leaf(self, value: np.ndarray) -> list:
        return [value, None]  # [value, grad]

    def mul(self, a: list, k: float) -> list:
        out = [a[0] * k, None]

        def back() -> None:
            g = out[1] * k
            a[1] = g if a[1] is None else a[1] + g

        self.steps.append(back)
        return out

    def add(self, a: list, k: float) -> list:
        out = [a[0] + k, None]

        def back() -> None:
            a[1] = out[1] if a[1] is None else a[1] + out[1]

        self.steps.append(back)
        return out

    def backward(self, root: list) -> None:
        root[1] = np.ones_like(root[0])
        for step in reversed(self.steps):
            step()


class _SkelTensor:
    __slots__ = ("data", "grad", "requires_grad", "node", "version")

    def __init__(self, data: np.ndarray, requires_grad: bool = False, node: _SkelNode | None = None) -> None:
        self.data = data
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self.node = node
        self.version = 0


class _SkelNode:
    """One recorded op: its input, what it saved (with their versions), its constant, its rule."""

    __slots__ = ("input", "saved", "versions", "k", "is_mul", "out")

    def __init__(self, x: _SkelTensor, is_mul: bool, k: float) -> None:
        self.input, self.is_mul, self.k = x, is_mul, k
        # a product saves its input (an in-place change to it must be caught at backward)
        self.saved: tuple[_SkelTensor, ...] = (x,) if is_mul else ()
        self.versions = tuple(t.version for t in self.saved)
        self.out: _SkelTensor | None = None


class _SkeletonTape:
    """A tape with the checks issue 2 asks for on every op (see the module docstring)."""

    def __init__(self) -> None:
        self.nodes: list[_SkelNode] = []
        self.mode = threading.local()

    def record(self, value: np.ndarray, x: _SkelTensor, is_mul: bool, k: float) -> _SkelTensor:
        if not (getattr(self.mode, "enabled", True) and x.requires_grad):
            return _SkelTensor(value)
        node = _SkelNode(x, is_mul, k)
        node.out = _SkelTensor(value, True, node)
        self.nodes.append(node)
        return node.out

    def mul(self, x: _SkelTensor, k: float) -> _SkelTensor:
        return self.record(x.data * k, x, True, k)

    def add(self, x: _SkelTensor, k: float) -> _SkelTensor:
        return self.record(x.data + k, x, False, k)

    def backward(self, root: _SkelTensor) -> None:
        grads = {id(root): np.ones_like(root.data)}
        for node in reversed(self.nodes):
            g = grads.pop(id(node.out), None)
            if g is None:
                continue
            for t, v in zip(node.saved, node.versions):
                if t.version != v:
                    raise RuntimeError("a saved tensor was modified in place")
            x = node.input
            gx = g * node.k if node.is_mul else g
            if x.node is None:
                x.grad = gx if x.grad is None else x.grad + gx
            else:
                grads[id(x)] = gx if id(x) not in grads else grads[id(x)] + gx
            node.saved = ()  # released once used
        self.nodes.clear()


def skeleton_tape() -> None:
    tape = _SkeletonTape()
    x = _SkelTensor(np.ones(1, dtype=np.float32), requires_grad=True)
    for _ in range(STEPS):
        x = tape.add(tape.mul(x, 1.0001), 0.0001)
    tape.backward(x)


def mini_tape() -> None:
    tape = _MiniTape()
    x = tape.leaf(np.ones(1, dtype=np.float32))
    for _ in range(STEPS):
        x = tape.add(tape.mul(x, 1.0001), 0.0001)
    tape.backward(x)


def torch_case() -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)

    def run() -> None:
        x0 = torch.ones(1, requires_grad=True)
        x = x0
        for _ in range(STEPS):
            x = x * 1.0001 + 0.0001
        x.sum().backward()

    return run


def per_op_us(fn: Callable[[], None], repeats: int = 15) -> tuple[float, float]:
    """Min and median microseconds per recorded op (each chain records 2 * STEPS ops)."""
    best_ms, median_ms = timed(fn, repeats)
    return best_ms * 1e3 / (2 * STEPS), median_ms * 1e3 / (2 * STEPS)


def main() -> None:
    ours_min, ours_med = per_op_us(ours)
    mini_min, mini_med = per_op_us(mini_tape)
    skel_min, skel_med = per_op_us(skeleton_tape)
    print("| case | ours us/op (min / median) | minimal NumPy tape | skeleton tape | PyTorch "
          "| ours / minimal | skeleton / minimal | ours / PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    t = torch_case()
    th = per_op_us(t) if t is not None else None
    th_text = f"{th[0]:.2f} / {th[1]:.2f}" if th else "(torch not installed)"
    th_ratio = f"{ours_min / th[0]:.2f}" if th else "-"
    print(
        f"| O1 | {ours_min:.2f} / {ours_med:.2f} | {mini_min:.2f} / {mini_med:.2f} "
        f"| {skel_min:.2f} / {skel_med:.2f} | {th_text} "
        f"| {ours_min / mini_min:.2f} | {skel_min / mini_min:.2f} | {th_ratio} |"
    )
    print(f"\ntarget: at most 8 us/op, set where a minimal tape took 5.7 (a ratio of {8 / 5.7:.2f} to it); "
          "the skeleton tape has issue 2's per-op checks and nothing else")


if __name__ == "__main__":
    main()
