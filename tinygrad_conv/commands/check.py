"""``tinygrad-conv check``: run the op checker on built-in ops or on the ops of your own module.

    tinygrad-conv check                       # every registered op
    tinygrad-conv check conv2d max_pool2d     # just these
    tinygrad-conv check --module my_ops.py    # the ops my_ops.py registers (a file path...)
    tinygrad-conv check --module pkg.my_ops   # (...or a dotted module name)
    tinygrad-conv check --list                # the registry: signatures, twice-differentiable

Each op gets a report (which sample, which input, which element, ours against expected); the exit
status is 1 when any op fails, 2 for an unknown op or a module that cannot be imported.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ops", nargs="*", metavar="OP",
                        help="op names to check (default: all built-in ops, or the ops --module registers)")
    parser.add_argument("--module", "-m", action="append", default=[], metavar="MODULE",
                        help="import this module (dotted name or .py file path) first and check the ops it "
                             "registers; may be given more than once")
    parser.add_argument("--no-torch", action="store_true", help="skip parity with PyTorch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample inputs (default 0)")
    parser.add_argument("--list", action="store_true",
                        help="list the registered ops (signature, twice-differentiable, samples, reference) "
                             "instead of checking them")


def import_module(spec: str) -> ModuleType:
    """Import a module by dotted name, or by file path (``my_ops.py``, ``./lib/ops.py``)."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise ImportError(f"no such file: {spec}")
        name = path.stem
        file_spec = importlib.util.spec_from_file_location(name, path.resolve())
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot import {spec} as a Python module")
        module = importlib.util.module_from_spec(file_spec)
        # The module's own folder first, so it can import its neighbours, as `python my_ops.py` would.
        sys.path.insert(0, str(path.resolve().parent))
        sys.modules[name] = module
        try:
            file_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # `-m pkg.mod` from the current folder, as python -m does
    return importlib.import_module(spec)


def ops_of(module: ModuleType, new: set[str]) -> list[str]:
    """The ops a module registered: new in the registry, or whose code lives in that module."""
    from ..ops.registry import registry

    mine = set(new)
    for name, info in registry().items():
        owners = [info.function, *info.node_types]
        if any(getattr(o, "__module__", None) == module.__name__ for o in owners):
            mine.add(name)
    return sorted(mine)


def list_ops() -> str:
    from ..ops.registry import registry

    rows = []
    for name, info in sorted(registry().items()):
        flags = ["twice-differentiable" if info.twice_differentiable else "first-order only"]
        flags.append("samples" if info.samples is not None else "NO SAMPLES")
        if info.reference is not None:
            flags.append("torch reference")
        if info.method:
            flags.append(f"Tensor.{info.method}")
        rows.append(f"{name}{info.plain_signature()}\n    {', '.join(flags)}")
    return "\n".join(rows) + f"\n{len(rows)} registered ops"


def run(args: argparse.Namespace) -> int:
    import tinygrad_conv  # noqa: F401  (registers the built-in ops)

    from ..ops.registry import registry
    from ..testing.check_op import check_op, summary

    selected: list[str] = []
    for spec in args.module:
        before = set(registry())
        try:
            module = import_module(spec)
        except Exception as exc:
            print(f"tinygrad-conv check: cannot import module {spec!r}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 2
        found = ops_of(module, set(registry()) - before)
        if not found:
            print(f"tinygrad-conv check: module {spec!r} registers no ops (use "
                  "tinygrad_conv.ops.register on a Function subclass or a function)", file=sys.stderr)
            return 2
        selected += found
    if args.list:
        print(list_ops())
        return 0
    known = registry()
    if args.ops:
        unknown = [n for n in args.ops if n not in known]
        if unknown:
            print(f"tinygrad-conv check: unknown op(s) {', '.join(unknown)}; registered: "
                  f"{', '.join(sorted(known))}", file=sys.stderr)
            return 2
        selected = list(args.ops)
    elif not selected:
        selected = sorted(known)
    reports = []
    start = time.perf_counter()
    for name in selected:
        report = check_op(name, torch_parity=not args.no_torch, seed=args.seed, raise_on_failure=False)
        reports.append(report)
        print(report, flush=True)
    total = summary(reports).splitlines()[-1]
    print(f"{total} in {time.perf_counter() - start:.1f}s")
    return 0 if all(r.ok for r in reports) else 1
