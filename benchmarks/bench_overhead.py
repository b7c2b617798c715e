"""Case O1 of benchmarks/cases.json: autograd overhead per op, against PyTorch in the same run.

A chain of 2000 elementwise ops (x = x * 1.0001 + 0.0001) on a 1-element float32 tensor, then sum
and backward; reported as microseconds per op (forward + backward), the min of timing.py's
protocol. Two tapes written below run in the same blocks, to show what the per-op checks cost:

- a minimal NumPy tape (each op appends a closure that adds its gradient into its parent's slot;
  no checks, no hooks, no versions, no dtypes);
- a skeleton tape: the least that the tape's semantics need on every op, and nothing more. A
  tensor object with a version counter, a recorded node with its inputs and the versions of what it
  saved, a per-thread grad-mode check, a version check at backward and gradients summed per
  tensor. Its backward rules work on arrays (ours are tensor ops, for create_graph), and it has no
  hooks, dtypes, broadcasting, retain_grad or registry, and knows its two ops by a flag.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_overhead.py [--quick]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from timing import Protocol, compare, script_main, with_rounds

import tinygrad_conv as tc
from tinygrad_conv.ops.elementwise import _FLOAT16, _FLOAT32, _FLOAT64, _arithmetic, _result

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


def torch_case(torch: Any) -> Callable[[], None]:
    def run() -> None:
        x0 = torch.ones(1, requires_grad=True)
        x = x0
        for _ in range(STEPS):
            x = x * 1.0001 + 0.0001
        x.sum().backward()

    return run


def _arithmetic_number_as_given(ufunc: np.ufunc, a: Any, b: Any) -> np.ndarray:
    """_arithmetic's path for a float array and a Python number without the kept operands: the same
    checks, the number handed to the ufunc as it is (the plain side of the trick)."""
    ta, tb = type(a), type(b)
    dt = a.dtype if ta is np.ndarray and (tb is float or tb is int) else None
    if dt is _FLOAT32 or dt is _FLOAT64 or dt is _FLOAT16:
        out = ufunc(a, b)
        return out if type(out) is np.ndarray else _result(out, dt)
    raise TypeError("only a native float array and a Python number")


def number_operand_sides() -> dict[str, Callable[[], None]]:
    """The arithmetic ops' trick on O1's operands, without the tape: a 1-element float32 array times
    a Python number through _arithmetic (the number as its kept 0-d float32 array) against the same
    with the number handed to the ufunc as given (NumPy's weak-scalar conversion at every call).
    Each call is a chain of STEPS multiplies."""
    a = np.ones(1, dtype=np.float32)

    def kept() -> None:
        for _ in range(STEPS):
            _arithmetic(np.multiply, a, 1.0001)

    def as_given() -> None:
        for _ in range(STEPS):
            _arithmetic_number_as_given(np.multiply, a, 1.0001)

    return {"number as given": as_given, "kept 0-d operand (the library's)": kept}


# A side's call here takes milliseconds, so it can afford more rounds than the protocol's least
# (timing.with_rounds says why).
ROUNDS = 6


def report(protocol: Protocol, torch: Any) -> dict[str, float]:
    protocol = with_rounds(protocol, ROUNDS)
    sides = {"ours": ours, "minimal tape": mini_tape, "skeleton tape": skeleton_tape}
    if torch is not None:
        sides["PyTorch"] = torch_case(torch)
    best = compare(sides, protocol)
    us = {name: ms * 1e3 / (2 * STEPS) for name, ms in best.items()}  # each chain records 2 * STEPS ops
    print(f"### O1: autograd overhead per op, us (min over {protocol.rounds} blocks per side)\n")
    print("| case | ours | PyTorch | minimal NumPy tape | skeleton tape | ours / PyTorch | ours / minimal "
          "| skeleton / minimal |")
    print("|---|---|---|---|---|---|---|---|")
    t = us.get("PyTorch", float("nan"))
    print(f"| O1 | {us['ours']:.2f} | {t:.2f} | {us['minimal tape']:.2f} | {us['skeleton tape']:.2f} "
          f"| {us['ours'] / t:.2f} | {us['ours'] / us['minimal tape']:.2f} "
          f"| {us['skeleton tape'] / us['minimal tape']:.2f} |")
    print(f"\nO1 ours / PyTorch {us['ours'] / t:.2f} (target <= 1.0)")
    print("\n### The arithmetic ops' Python number operand: as given, or as a kept 0-d array "
          "(us per multiply of a 1-element float32 array, min)\n")
    trick = compare(number_operand_sides(), protocol)
    names = list(trick)
    print("| _arithmetic(np.multiply, x, 1.0001) | us | against the number as given |")
    print("|---|---|---|")
    for name in names:
        print(f"| {name} | {trick[name] * 1e3 / STEPS:.3f} | {trick[name] / trick[names[0]]:.2f} |")
    ratio = trick[names[1]] / trick[names[0]]
    print(f"\nkept operand against the number as given: {ratio:.2f} (a trick stays where it gains "
          ">= 10%, a ratio <= 0.91)")
    return {"O1": us["ours"] / t, "O1 skeleton/torch": us["skeleton tape"] / t,
            "O1 minimal/torch": us["minimal tape"] / t, "number operand kept/plain": ratio}


def main(argv: list[str] | None = None) -> None:
    script_main(report, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
