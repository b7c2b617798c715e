"""``check_op``: everything an op must pass, run from its registry entry (like PyTorch's OpInfo tests).

For every sample the op declares: output shapes and dtypes in float32 and float64, parity of values
and gradients with PyTorch when a reference is given and torch is installed (random upstream
gradient), gradcheck in float64, gradgradcheck when the op says it is twice-differentiable, and
that the inputs were not changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.engine import grad as autograd_grad
from ..ops.registry import OpInfo, Sample, registry
from ..tensor import Tensor
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

TOLERANCES = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-7, 1e-9)}


class OpCheckError(AssertionError):
    """What ``check_op`` raises: the report of every failed check."""


@dataclass
class OpReport:
    """The outcome of checking one op: one line per check, and the failures."""

    op: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    checks: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def passed(self, what: str) -> None:
        self.checks += 1

    def failed(self, what: str) -> None:
        self.checks += 1
        self.failures.append(what)

    def __str__(self) -> str:
        head = f"{self.op}: {'ok' if self.ok else 'FAILED'} ({self.checks} checks"
        head += f", {len(self.failures)} failed)" if self.failures else ")"
        return "\n".join([head, *("  - " + f for f in self.failures)])


def _materialize(sample: Sample, dtype: Any, requires_grad: bool = True) -> tuple[list[Any], list[int]]:
    """Turn a sample's arrays into Tensors: float arrays of ``dtype`` (differentiated), others constant."""
    args: list[Any] = []
    diff: list[int] = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            want = sample.grad is None or i in sample.grad
            args.append(Tensor(a.astype(dtype), requires_grad=requires_grad and want))
            if want:
                diff.append(i)
        elif isinstance(a, np.ndarray):
            args.append(Tensor(a))
        else:
            args.append(a)
    return args, diff


def _kwargs(sample: Sample, dtype: Any) -> dict[str, Any]:
    return {k: (Tensor(v.astype(dtype)) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
            for k, v in sample.kwargs.items()}


def _float_outputs(out: Any) -> list[Tensor]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _all_outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def check_op(op: str | OpInfo, *, torch_parity: bool = True, second_order: bool | None = None,
             raise_on_failure: bool = True, seed: int = 0, verbose: bool = False) -> OpReport:
    """Run every check on one registered op; raise :class:`OpCheckError` with the report on failure.

    >>> import tinygrad_conv as tc
    >>> print(tc.testing.check_op("exp", torch_parity=False))
    exp: ok (...)
    """
    info = registry()[op] if isinstance(op, str) else op
    report = OpReport(info.name)
    if info.samples is None:
        report.failed("declares no sample inputs: pass samples= to register() so it can be checked")
        if raise_on_failure:
            raise OpCheckError(str(report))
        return report
    torch = _torch() if torch_parity and info.reference is not None else None
    twice = info.twice_differentiable if second_order is None else second_order
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(seed)
        for k, sample in enumerate(info.samples(rng, dtype)):
            label = f"sample {k} '{sample.name}' ({np.dtype(dtype).name})"
            _check_sample(info, sample, dtype, label, report, torch, twice and dtype == np.float64, rng)
    if verbose:
        print(report)
    if raise_on_failure and not report.ok:
        raise OpCheckError(str(report))
    return report


def _check_sample(info: OpInfo, sample: Sample, dtype: Any, label: str, report: OpReport, torch: Any,
                  second: bool, rng: np.random.Generator) -> None:
    args, diff = _materialize(sample, dtype)
    kwargs = _kwargs(sample, dtype)
    before = [a.data.copy() if isinstance(a, Tensor) else None for a in args]
    try:
        out = info.function(*args, **kwargs)
    except Exception as exc:  # the report says which sample broke and how
        report.failed(f"{label}: forward raised {type(exc).__name__}: {exc}")
        return
    for i, (a, b) in enumerate(zip(args, before)):
        if b is not None and not np.array_equal(a.data, b, equal_nan=True):
            report.failed(f"{label}: forward changed input {i} in place")
    outs = _float_outputs(out)
    for j, o in enumerate(outs):
        if o.dtype != np.dtype(dtype):
            report.failed(f"{label}: output {j} has dtype {o.dtype}, expected {np.dtype(dtype).name}")
    # gradients of the right shape, with a random upstream gradient
    diff_outs = [o for o in outs if o.requires_grad]
    vs = [rng.standard_normal(o.shape).astype(o.dtype) for o in diff_outs]
    grads: tuple[Any, ...] = ()
    if diff_outs and diff:
        try:
            grads = autograd_grad(diff_outs, [args[i] for i in diff], [Tensor(v) for v in vs],
                                  allow_unused=True)
        except Exception as exc:
            report.failed(f"{label}: backward raised {type(exc).__name__}: {exc}")
            return
        for i, g in zip(diff, grads):
            if g is not None and (g.shape != args[i].shape or g.dtype != args[i].dtype):
                report.failed(f"{label}: gradient for input {i} is {g.shape} {g.dtype}, expected "
                              f"{args[i].shape} {args[i].dtype}")
    report.passed(f"{label}: forward and backward ran")
    if torch is not None:
        _check_torch(info, sample, dtype, label, report, torch, out, diff, vs, grads)
    if dtype == np.float64 and diff:
        fn = _bound(info, args, diff, kwargs)
        xs = [args[i] for i in diff]
        try:
            gradcheck(fn, xs)
            report.passed(f"{label}: gradcheck")
        except GradcheckError as exc:
            report.failed(f"{label}: {exc}")
        except Exception as exc:
            report.failed(f"{label}: gradcheck raised {type(exc).__name__}: {exc}")
        if second:
            try:
                gradgradcheck(fn, xs)
                report.passed(f"{label}: gradgradcheck")
            except GradcheckError as exc:
                report.failed(f"{label}: second order: {exc}")
            except Exception as exc:
                report.failed(f"{label}: gradgradcheck raised {type(exc).__name__}: {exc}")


def _bound(info: OpInfo, args: list[Any], diff: list[int], kwargs: dict[str, Any]) -> Any:
    """fn(*differentiated inputs) with the other arguments fixed."""

    def fn(*xs: Any) -> Any:
        full = list(args)
        for i, x in zip(diff, xs):
            full[i] = x
        return info.function(*full, **kwargs)

    return fn


def _to_torch(torch: Any, a: Any, dtype: Any, grad: bool) -> Any:
    if isinstance(a, Tensor):
        t = torch.from_numpy(np.array(a.data, copy=True))
        if grad:
            t.requires_grad_(True)
        return t
    return a


def _check_torch(info: OpInfo, sample: Sample, dtype: Any, label: str, report: OpReport, torch: Any,
                 out: Any, diff: list[int], vs: list[np.ndarray], grads: tuple[Any, ...]) -> None:
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    args, _ = _materialize(sample, dtype, requires_grad=False)
    targs = [_to_torch(torch, a, dtype, i in diff) for i, a in enumerate(args)]
    tkw = {k: _to_torch(torch, v, dtype, False) for k, v in _kwargs(sample, dtype).items()}
    try:
        tout = info.reference(torch, *targs, **tkw)  # type: ignore[misc]
    except Exception as exc:
        report.failed(f"{label}: the PyTorch reference raised {type(exc).__name__}: {exc}")
        return
    ours_all, theirs_all = _all_outputs(out), _all_outputs(tout)
    if len(ours_all) != len(theirs_all):
        report.failed(f"{label}: {len(ours_all)} outputs, PyTorch gives {len(theirs_all)}")
        return
    for j, (o, t) in enumerate(zip(ours_all, theirs_all)):
        tv = t.detach().numpy()
        if o.shape != tuple(tv.shape):
            report.failed(f"{label}: output {j} has shape {o.shape}, PyTorch {tuple(tv.shape)}")
            return
        if not np.allclose(o.data, tv, rtol=rtol, atol=atol, equal_nan=True):
            k = np.unravel_index(int(np.argmax(np.abs(o.data - tv))), tv.shape) if tv.ndim else ()
            report.failed(f"{label}: output {j} differs from PyTorch at {k}: ours "
                          f"{float(o.data[k]):.8g}, PyTorch {float(tv[k]):.8g}")
    tdiff_outs = [t for t in theirs_all if t.dtype.is_floating_point and t.requires_grad]
    tin = [targs[i] for i in diff]
    if not tdiff_outs or not tin:
        return
    tgrads = torch.autograd.grad(tdiff_outs, tin, [torch.from_numpy(v) for v in vs], allow_unused=True)
    for i, g, tg in zip(diff, grads, tgrads):
        ours = np.zeros(args[i].shape, dtype) if g is None else g.data
        theirs = np.zeros(args[i].shape, dtype) if tg is None else tg.numpy()
        if not np.allclose(ours, theirs, rtol=rtol * 10, atol=atol * 10, equal_nan=True):
            k = np.unravel_index(int(np.argmax(np.abs(ours - theirs))), theirs.shape) if theirs.ndim else ()
            report.failed(f"{label}: gradient for input {i} differs from PyTorch at {k}: ours "
                          f"{float(ours[k]):.8g}, PyTorch {float(theirs[k]):.8g}")
    report.passed(f"{label}: parity with PyTorch")


def check_ops(ops: Iterable[str] | None = None, **kwargs: Any) -> list[OpReport]:
    """Run ``check_op`` on several ops (all registered ones by default); never raises."""
    names = list(ops) if ops is not None else sorted(registry())
    return [check_op(n, raise_on_failure=False, **kwargs) for n in names]
