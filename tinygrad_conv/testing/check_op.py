"""``check_op``: everything an op must pass, run from its registry entry (like PyTorch's OpInfo tests).

For every sample the op declares, in float32 and in float64:

* forward and backward run, with a random upstream gradient; outputs have the sample's dtype and
  are on the tape; gradients have their input's shape and dtype;
* neither forward nor backward changes its inputs (or the upstream gradient) in place;
* the same sample with non-contiguous inputs (a transposed copy transposed back, or a strided
  slice of a bigger array) gives the same outputs and gradients;
* float32 results agree with float64 ones computed on the same values;
* outputs and gradients agree with PyTorch, when a reference is given and torch is installed;
* in float64: gradcheck (finite differences), and gradgradcheck when the op says it is
  twice-differentiable;
* for an op registered with ``broadcasts=True``: each same-shape sample again with one input
  shrunk to a broadcastable shape, against the op on the explicitly broadcast input.

Every failure names the sample, the input, the element, and our value against the expected one.

>>> import tinygrad_conv as tc
>>> report = tc.testing.check_op("exp")
>>> report.ok
True
>>> str(report).splitlines()[0]  # a second line notes when PyTorch is absent and parity skipped
'exp: ok (... checks on 3 samples in float32 and float64)'
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.engine import grad as autograd_grad
from ..autograd.function import Function
from ..ops.registry import OpInfo, Sample, make_op_info, registry
from ..tensor import Tensor
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

#: (rtol, atol) for parity with PyTorch; gradients get 10 times more.
TOLERANCES = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-7, 1e-9)}
#: rtol for "the same computation on a different memory layout" (BLAS may sum in another order).
SAME_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
#: (rtol, atol relative to the largest expected value) for float32 against float64.
F32_VS_F64 = (2e-3, 2e-4)


class OpCheckError(AssertionError):
    """What ``check_op`` raises: its message is the report; ``.report`` is the :class:`OpReport`."""

    def __init__(self, report: OpReport) -> None:
        super().__init__(str(report))
        self.report = report


@dataclass
class Failure:
    """One failed check: where (the sample), what (the check) and how (ours against expected)."""

    where: str
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}\n      {self.check}: {self.message}"


@dataclass(repr=False)
class OpReport:
    """The outcome of checking one op: how many checks ran, the failures, and what was skipped."""

    op: str
    checks: int = 0
    #: samples declared (each one runs in every dtype)
    samples: int = 0
    dtypes: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def passed(self, n: int = 1) -> None:
        self.checks += n

    def failed(self, where: str, check: str, message: str) -> None:
        self.checks += 1
        self.failures.append(Failure(where, check, message))

    def __str__(self) -> str:
        counts = f"{self.checks} checks on {self.samples} samples"
        if self.dtypes:
            counts += " in " + " and ".join(self.dtypes)
        if self.ok:
            lines = [f"{self.op}: ok ({counts})"]
        else:
            lines = [f"{self.op}: FAILED ({counts}, {len(self.failures)} failed)"]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)

    __repr__ = __str__


# ----------------------------------------------------------------------------- helpers
def _resolve(op: Any, samples: Any, reference: Any, broadcasts: bool | None) -> OpInfo:
    """A registered name, an OpInfo, or a Function subclass / function (registered or not)."""
    if isinstance(op, str):
        ops = registry()
        if op not in ops:
            close = difflib.get_close_matches(op, ops, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"check_op: no op named '{op}' is registered{hint} (see "
                           "tinygrad_conv.ops.registry(), or pass the Function class or function)")
        info = ops[op]
    elif isinstance(op, OpInfo):
        info = op
    else:
        found = [i for i in registry().values()
                 if i.function is op or (isinstance(op, type) and i.node_types and i.node_types[0] is op
                                         and i.function == op.apply)]
        info = found[0] if found else make_op_info(op)
    changes: dict[str, Any] = {}
    if samples is not None:
        changes["samples"] = samples
    if reference is not None:
        changes["reference"] = reference
    if broadcasts is not None:
        changes["broadcasts"] = broadcasts
    return dataclasses.replace(info, **changes) if changes else info


def _input_names(info: OpInfo, n: int) -> list[str]:
    """'input 0 (a)', ... from the op's signature, so the report speaks the op's own words."""
    positional: list[str] = []
    star = ""
    for p in info.signature.parameters.values():
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            positional.append(p.name)
        elif p.kind == inspect.Parameter.VAR_POSITIONAL:  # cat(*tensors): tensors[0], tensors[1]...
            star = p.name
            break
    names = []
    for i in range(n):
        label = positional[i] if i < len(positional) else f"{star}[{i - len(positional)}]" if star else ""
        names.append(f"input {i} ({label})" if label else f"input {i}")
    return names


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"{v.dtype.name}{tuple(v.shape)}" if v.dtype.kind != "f" else str(tuple(v.shape))
    if isinstance(v, (tuple, list)) and any(isinstance(e, np.ndarray) for e in v):
        return "(" + ", ".join(_short(e) for e in v) + ")"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _where(k: int, sample: Sample, dtype: Any, extra: str = "") -> str:
    args = ", ".join(_short(a) for a in sample.args)
    kw = ", ".join(f"{key}={_short(v)}" for key, v in sample.kwargs.items())
    desc = args + (f"; {kw}" if kw else "")
    # sample_inputs names samples by their shapes: no need to say it twice.
    same = sample.name.replace("'", "") == desc.replace("'", "")
    name = f" '{sample.name}'" if sample.name and not same else ""
    return f"sample {k}{name} [{np.dtype(dtype).name}] args {desc}{extra}"


def _materialize(args_in: Sequence[Any], grad: tuple[int, ...] | None, dtype: Any,
                 layout: Any = None) -> tuple[list[Any], list[int]]:
    """Float arrays become Tensors of ``dtype`` that require grad (those in ``grad``, default all);
    other arrays constant Tensors; plain values stay. ``layout`` may re-lay each array out."""
    args: list[Any] = []
    diff: list[int] = []
    for i, a in enumerate(args_in):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            arr = np.array(a, dtype=dtype)
            want = grad is None or i in grad
            args.append(Tensor(layout(arr) if layout else arr, requires_grad=want))
            if want:
                diff.append(i)
        elif isinstance(a, np.ndarray):
            arr = np.array(a)
            args.append(Tensor(layout(arr) if layout else arr))
        else:
            args.append(a)
    return args, diff


def _kwargs(kwargs: dict[str, Any], dtype: Any) -> dict[str, Any]:
    return {k: (Tensor(np.array(v, dtype=dtype)) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                else v) for k, v in kwargs.items()}


def _noncontiguous(a: np.ndarray) -> np.ndarray:
    """The same values in a non-contiguous layout: a transposed copy transposed back (2-d and up)
    or every other element of a bigger array."""
    if a.ndim == 0 or a.size < 2:
        return a
    if a.ndim >= 2:
        f = np.ascontiguousarray(a.T).T
        if not f.flags.c_contiguous:
            return f
    big = np.zeros(a.shape + (2,), dtype=a.dtype)
    big[..., 0] = a
    return big[..., 0]


def _all_outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _mismatch(ours: Any, expected: Any, rtol: float, atol: float) -> str | None:
    """None when close; else where they differ most: 'at element (1, 2): ours .., expected ..'."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    bad = ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return None
    gap = np.nan_to_num(np.abs(a - b), nan=np.inf) * bad
    j = tuple(int(t) for t in np.unravel_index(int(np.argmax(gap)), b.shape)) if b.ndim else ()
    return (f"at element {j}: ours {float(a[j]):.8g}, expected {float(b[j]):.8g} "
            f"({int(bad.sum())} of {bad.size} elements differ)")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


@dataclass
class _Run:
    """One execution of the op: outputs, gradients for ``diff``, the upstream gradients used."""

    outputs: list[Any] = field(default_factory=list)
    grads: tuple[Any, ...] = ()
    vs: list[np.ndarray] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (check, message)
    ran_backward: bool = False


def _changed(before: np.ndarray, now: np.ndarray) -> str | None:
    if before.shape != now.shape:
        return f"its shape went from {before.shape} to {now.shape}"
    if np.array_equal(before, now, equal_nan=True):
        return None
    diff = ~((before == now) | (np.isnan(before) & np.isnan(now)) if before.dtype.kind == "f"
             else before == now)
    j = tuple(int(t) for t in np.unravel_index(int(np.argmax(diff)), before.shape)) if before.ndim else ()
    return f"element {j} was {_num(before[j])}, now {_num(now[j])}"


def _num(v: Any) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    return f"{v:.8g}" if isinstance(v, float) else repr(v)


def _execute(info: OpInfo, args: list[Any], kwargs: dict[str, Any], diff: list[int], names: list[str],
             rng: np.random.Generator | None = None, vs: list[np.ndarray] | None = None) -> _Run:
    """Run forward and backward once, watching the inputs and the upstream gradient for changes."""
    run = _Run()
    before = {i: a._data.copy() for i, a in enumerate(args) if isinstance(a, Tensor)}
    try:
        out = info.function(*args, **kwargs)
    except Exception as exc:  # the report says which sample broke and how
        run.errors.append(("forward", f"raised {type(exc).__name__}: {exc}"))
        return run
    for i, b in before.items():
        how = _changed(b, args[i]._data)
        if how:
            run.errors.append(("inputs not mutated", f"forward changed {names[i]} in place ({how}); an "
                               "op must leave its inputs as they are: write results into new arrays "
                               "(y = x * 2, not x *= 2), or copy first"))
            before[i] = args[i]._data.copy()
    run.outputs = _all_outputs(out)
    diff_outs = [o for o in run.outputs if isinstance(o, Tensor) and o.dtype.kind == "f" and o.requires_grad]
    if vs is None:
        assert rng is not None
        vs = [rng.standard_normal(o.shape).astype(o.dtype) for o in diff_outs]
    run.vs = vs
    if not diff_outs or not diff:
        return run
    if len(vs) != len(diff_outs):
        run.errors.append(("backward", f"{len(diff_outs)} differentiable outputs here, {len(vs)} in "
                           "the first run of this sample"))
        return run
    v_before = [v.copy() for v in vs]
    try:
        run.grads = autograd_grad(diff_outs, [args[i] for i in diff], [Tensor(v) for v in vs],
                                  allow_unused=True)
        run.ran_backward = True
    except Exception as exc:
        run.errors.append(("backward", f"raised {type(exc).__name__}: {exc}"))
        return run
    for i, b in before.items():
        how = _changed(b, args[i]._data)
        if how:
            run.errors.append(("inputs not mutated", f"backward changed {names[i]} in place ({how}); "
                               "compute gradients into new tensors"))
    for j, (b, v) in enumerate(zip(v_before, vs)):
        how = _changed(b, v)
        if how:
            run.errors.append(("inputs not mutated", f"backward changed the upstream gradient of "
                               f"output {j} in place ({how}); compute gradients into new tensors"))
    return run


def _report_derived(report: OpReport, where: str, what: str, derived: _Run, main: _Run) -> None:
    """Errors of a second run of a sample, less those the first run already reported."""
    seen = {check for check, _ in main.errors}
    for check, msg in derived.errors:
        if check not in seen:
            report.failed(where, f"{what}: {check}", msg)


def _sum_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast array back to ``shape`` (NumPy's adjoint of broadcasting)."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, s in enumerate(shape)
                                      if s == 1 and a.shape[lead + k] != 1)
    return (a.sum(axis=axes, keepdims=True) if axes else a).reshape(shape)


# ----------------------------------------------------------------------------- the checker
def check_op(op: str | OpInfo | type[Function] | Any, *, samples: Any = None, reference: Any = None,
             broadcasts: bool | None = None, torch_parity: bool = True, second_order: bool | None = None,
             noncontiguous: bool = True, dtypes: Sequence[Any] = (np.float32, np.float64), seed: int = 0,
             raise_on_failure: bool = True, verbose: bool = False) -> OpReport:
    """Run every check on one op; raise :class:`OpCheckError` (whose message is the report) on failure.

    ``op`` is a registered name, an :class:`OpInfo`, or a Function subclass or function, registered
    or not (then give ``samples=``, and optionally ``reference=`` and ``broadcasts=``).
    ``second_order`` overrides the op's twice-differentiability; ``verbose`` prints the report.

    >>> import tinygrad_conv as tc
    >>> report = tc.testing.check_op("mul", raise_on_failure=False)
    >>> report.ok, report.samples
    (True, 4)
    """
    info = _resolve(op, samples, reference, broadcasts)
    report = OpReport(info.name)
    if info.samples is None:
        report.failed("(no samples)", "samples",
                      "the op declares no sample inputs, so nothing can be checked: pass samples= to "
                      "register(), e.g. samples=sample_inputs((3, 4)) from tinygrad_conv.testing")
    else:
        _check_all(info, report, torch_parity, second_order, noncontiguous, dtypes, seed)
    if verbose:
        print(report)
    if raise_on_failure and not report.ok:
        raise OpCheckError(report)
    return report


def _check_all(info: OpInfo, report: OpReport, torch_parity: bool, second_order: bool | None,
               noncontiguous: bool, dtypes: Sequence[Any], seed: int) -> None:
    torch = None
    if info.reference is None:
        report.notes.append("no PyTorch reference given: values checked by finite differences only")
    elif not torch_parity:
        report.notes.append("PyTorch parity not asked for")
    else:
        torch = _torch()
        if torch is None:
            report.notes.append("PyTorch is not installed: parity skipped")
    twice = info.twice_differentiable if second_order is None else second_order
    if not twice:
        report.notes.append("declared first-order only: gradgradcheck skipped")
    assert info.samples is not None
    for dtype in dtypes:
        dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        try:
            cases = list(info.samples(rng, dtype))
        except Exception as exc:
            report.failed(f"samples [{dtype.name}]", "samples",
                          f"the samples function raised {type(exc).__name__}: {exc}")
            continue
        if not cases:
            report.failed(f"samples [{dtype.name}]", "samples", "the samples function yielded nothing")
        report.samples = max(report.samples, len(cases))
        report.dtypes.append(dtype.name)
        for k, sample in enumerate(cases):
            _check_sample(info, report, k, sample, dtype, torch, twice, noncontiguous,
                          np.dtype(np.float64) in [np.dtype(d) for d in dtypes], rng)


def _check_sample(info: OpInfo, report: OpReport, k: int, sample: Sample, dtype: np.dtype, torch: Any,
                  twice: bool, noncontiguous: bool, with_f64: bool, rng: np.random.Generator) -> None:
    where = _where(k, sample, dtype)
    names = _input_names(info, len(sample.args))
    args, diff = _materialize(sample.args, sample.grad, dtype)
    kwargs = _kwargs(sample.kwargs, dtype)
    run = _execute(info, args, kwargs, diff, names, rng=rng)
    for check, msg in run.errors:
        report.failed(where, check, msg)
    if run.errors and not run.outputs:
        return
    if not _check_outputs(info, report, where, run, args, diff, dtype, names):
        return
    if not run.ran_backward and diff and run.errors:
        return
    if torch is not None:
        _check_torch(info, report, where, sample, dtype, torch, run, diff, names)
    if dtype == np.float32 and with_f64:
        _check_against_f64(info, report, where, sample, args, run, diff, names)
    if noncontiguous:
        _check_noncontiguous(info, report, where, sample, dtype, run, diff, names)
    if dtype == np.float64 and diff:
        _check_gradients(info, report, where, args, diff, kwargs, names, twice)
        if info.broadcasts:
            _check_broadcasting(info, report, k, sample, names, rng)


def _check_outputs(info: OpInfo, report: OpReport, where: str, run: _Run, args: list[Any],
                   diff: list[int], dtype: np.dtype, names: list[str]) -> bool:
    ok = True
    for j, o in enumerate(run.outputs):
        if isinstance(o, np.ndarray):
            report.failed(where, "outputs", f"output {j} is a NumPy array, not a Tensor: wrap it "
                          "(Tensor(array)) or, better, return the op's Function.apply(...) result")
            ok = False
        elif isinstance(o, Tensor) and o.dtype.kind == "f" and o.dtype != dtype:
            report.failed(where, "output dtype", f"output {j} has dtype {o.dtype}, expected "
                          f"{dtype.name} (the inputs' dtype); cast the result with .astype(x.dtype) "
                          "in forward")
            ok = False
    float_outs = [o for o in run.outputs if isinstance(o, Tensor) and o.dtype.kind == "f"]
    if diff and float_outs and not any(o.requires_grad for o in float_outs):
        report.failed(where, "on the tape", "no output requires grad although the inputs do: the op "
                      "computed its result outside the tape (raw arrays, .data, .numpy() or "
                      "Tensor(array)); call a Function's apply, or compose Tensor ops")
        return False
    for i, g in zip(diff, run.grads):
        if g is None:
            continue
        if not isinstance(g, Tensor) or g.shape != args[i].shape or g.dtype != args[i].dtype:
            got = f"{g.shape} {g.dtype}" if isinstance(g, Tensor) else type(g).__name__
            report.failed(where, "gradient shape", f"the gradient for {names[i]} is {got}, expected "
                          f"{args[i].shape} {args[i].dtype} (its input's shape and dtype)")
            ok = False
    if ok:
        report.passed()
    return ok


def _grad_arrays(run: _Run, args: list[Any], diff: list[int]) -> list[np.ndarray]:
    return [np.zeros(args[i].shape) if g is None else g._data for i, g in zip(diff, run.grads)]


def _compare_runs(report: OpReport, where: str, check: str, ours: _Run, expected: _Run,
                  ours_args: list[Any], diff: list[int], names: list[str], rtol: float,
                  atol_scale: float, what: str) -> None:
    """Outputs and gradients of two runs of the same computation must agree."""
    bad = False
    for j, (o, e) in enumerate(zip(ours.outputs, expected.outputs)):
        if not (isinstance(o, Tensor) and isinstance(e, Tensor)):
            continue
        if o.shape != e.shape:
            report.failed(where, check, f"output {j} has shape {o.shape} {what}, {e.shape} otherwise")
            bad = True
            continue
        if o.dtype.kind in "fc":
            atol = atol_scale * max(1.0, float(np.max(np.abs(e._data), initial=0.0)))
            msg = _mismatch(o._data, e._data, rtol, atol)
        else:
            msg = None if np.array_equal(o._data, e._data) else _mismatch(o._data, e._data, 0, 0)
        if msg:
            report.failed(where, check, f"output {j} {what} differs {msg}")
            bad = True
    for i, g, ge in zip(diff, _grad_arrays(ours, ours_args, diff), _grad_arrays(expected, ours_args, diff)):
        if g.shape != ge.shape:
            continue  # reported by the gradient shape check
        atol = atol_scale * max(1.0, float(np.max(np.abs(ge), initial=0.0)))
        msg = _mismatch(g, ge, rtol, atol)
        if msg:
            report.failed(where, check, f"the gradient for {names[i]} {what} differs {msg}")
            bad = True
    if not bad:
        report.passed()


def _check_against_f64(info: OpInfo, report: OpReport, where: str, sample: Sample, args: list[Any],
                       run: _Run, diff: list[int], names: list[str]) -> None:
    """float32 results against float64 ones computed from the very same (float32) values."""
    args64 = [Tensor(a._data.astype(np.float64), requires_grad=a.requires_grad)
              if isinstance(a, Tensor) and a.dtype.kind == "f" else a for a in args]
    run64 = _execute(info, args64, _kwargs(sample.kwargs, np.float64), diff, names,
                     vs=[v.astype(np.float64) for v in run.vs])
    if run64.errors:
        _report_derived(report, where, "float64 run of the float32 values", run64, run)
        return
    rtol, atol = F32_VS_F64
    _compare_runs(report, where, "float32 against float64", run, run64, args, diff, names,
                  rtol, atol, "in float32")


def _check_noncontiguous(info: OpInfo, report: OpReport, where: str, sample: Sample, dtype: np.dtype,
                         run: _Run, diff: list[int], names: list[str]) -> None:
    args, _ = _materialize(sample.args, sample.grad, dtype, layout=_noncontiguous)
    if not any(isinstance(a, Tensor) and not a._data.flags.c_contiguous for a in args):
        return  # nothing here can be laid out differently (scalars, single elements)
    vs = [_noncontiguous(v) for v in run.vs]
    nc = _execute(info, args, _kwargs(sample.kwargs, dtype), diff, names, vs=vs)
    if nc.errors:
        _report_derived(report, where, "non-contiguous inputs", nc, run)
        return
    rtol = SAME_RTOL[dtype]
    _compare_runs(report, where, "non-contiguous inputs", nc, run, args, diff, names, rtol, rtol,
                  "with non-contiguous inputs")


def _check_gradients(info: OpInfo, report: OpReport, where: str, args: list[Any], diff: list[int],
                     kwargs: dict[str, Any], names: list[str], twice: bool) -> None:
    fresh = [Tensor(a._data.copy(), requires_grad=a.requires_grad) if isinstance(a, Tensor) else a
             for a in args]

    def fn(*xs: Any) -> Any:
        return info.function(*xs, **kwargs)

    try:
        gradcheck(fn, fresh)
        report.passed()
    except GradcheckError as exc:
        report.failed(where, "gradcheck", _explain(exc, names, len(args)))
        return  # second order is moot while first order is wrong
    except Exception as exc:
        report.failed(where, "gradcheck", f"raised {type(exc).__name__}: {exc}")
        return
    if not twice:
        return
    try:
        gradgradcheck(fn, fresh)
        report.passed()
    except GradcheckError as exc:
        msg = _explain(exc, names, len(args))
        hint = _second_order_hint(fn, fresh, exc)
        report.failed(where, "gradgradcheck", msg + (f"\n      hint: {hint}" if hint else ""))
    except Exception as exc:
        report.failed(where, "gradgradcheck", f"raised {type(exc).__name__}: {exc} (if backward is not "
                      "made of Tensor ops, register the op with twice_differentiable=False)")


def _explain(exc: GradcheckError, names: list[str], n: int) -> str:
    if exc.order == 1:
        return (f"the gradient for {names[exc.input]} is wrong at element {exc.element}: ours "
                f"{exc.analytic:.8g}, expected {exc.numerical:.8g} by finite differences "
                f"({exc.mismatched} of {exc.size} elements differ)")
    wrt = names[exc.input] if exc.input < n else f"the upstream gradient of output {exc.input - n}"
    return (f"the second derivative (of the gradients) with respect to {wrt} is wrong at element "
            f"{exc.element}: ours {exc.analytic:.8g}, expected {exc.numerical:.8g} by finite differences "
            f"of backward ({exc.mismatched} of {exc.size} elements differ)")


def _second_order_hint(fn: Any, args: list[Any], exc: GradcheckError) -> str | None:
    """When the gradients are not even connected to the input on the tape, say why that happens."""
    if exc.input >= len(args):
        return None
    x = args[exc.input]
    xs = [Tensor(a._data.copy(), requires_grad=a.requires_grad) if isinstance(a, Tensor) else a
          for a in args]
    try:
        outs = [o for o in _all_outputs(fn(*xs)) if isinstance(o, Tensor) and o.requires_grad]
        vs = [Tensor(np.ones(o.shape, o.dtype), requires_grad=True) for o in outs]
        diff = [a for a in xs if isinstance(a, Tensor) and a.requires_grad]
        gs = [g for g in autograd_grad(outs, diff, vs, create_graph=True, allow_unused=True)
              if g is not None and g.requires_grad]
        if not gs:
            return None
        total = gs[0].sum()
        for g in gs[1:]:
            total = total + g.sum()
        (dx,) = autograd_grad(total, [xs[exc.input]], allow_unused=True)
    except Exception:
        return None
    if dx is not None:
        return None
    return (f"the gradients do not depend on input {exc.input} (shape {x.shape}) on the tape, but "
            "finite differences say they should: backward reached it through something off the tape "
            "(.data, .numpy(), .detach(), Tensor(array), or an intermediate saved in forward, which "
            "runs off the tape). Save inputs or outputs, recompute the rest in backward with Tensor "
            "ops, or register the op with twice_differentiable=False")


def _shrinks(a: np.ndarray) -> list[np.ndarray]:
    """Smaller arrays that broadcast back to ``a``'s shape: the leading dim dropped, the last made 1."""
    out = [a[0]]
    if a.shape[-1] > 1:
        out.append(a[..., :1])
    return out


def _check_broadcasting(info: OpInfo, report: OpReport, k: int, sample: Sample, names: list[str],
                        rng: np.random.Generator) -> None:
    """A same-shape sample again with one input shrunk; compared with the explicitly broadcast input."""
    floats = [i for i, a in enumerate(sample.args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    shapes = {sample.args[i].shape for i in floats}
    if len(floats) < 2 or len(shapes) != 1 or not next(iter(shapes)):
        return
    full_shape = next(iter(shapes))
    dtype = np.dtype(np.float64)
    kwargs = _kwargs(sample.kwargs, dtype)
    for i in floats:
        for small in _shrinks(sample.args[i]):
            if sample.grad is not None and i not in sample.grad:
                continue
            where = _where(k, sample, dtype, f", with {names[i]} broadcast from {small.shape}")
            small_args = list(sample.args)
            small_args[i] = np.ascontiguousarray(small)
            full_args = list(sample.args)
            full_args[i] = np.broadcast_to(small, full_shape).copy()
            sa, diff = _materialize(small_args, sample.grad, dtype)
            fa, _ = _materialize(full_args, sample.grad, dtype)
            full = _execute(info, fa, kwargs, diff, names, rng=rng)
            ours = _execute(info, sa, kwargs, diff, names, vs=full.vs)
            errors = [("broadcast input: " + c, m) for c, m in ours.errors + full.errors]
            for check, msg in errors:
                report.failed(where, check, msg)
            if errors:
                continue
            # The gradient of the small input is the broadcast one summed back to its shape.
            expected = _Run(outputs=full.outputs, vs=full.vs, ran_backward=True, grads=tuple(
                Tensor(_sum_to(g._data, sa[j].shape)) if j == i and g is not None else g
                for j, g in zip(diff, full.grads)))
            _compare_runs(report, where, "broadcasting", ours, expected, sa, diff, names,
                          SAME_RTOL[dtype] * 1e3, SAME_RTOL[dtype] * 1e3, "with a broadcast input")
            if ours.ran_backward:
                _check_gradients(info, report, where, sa, diff, kwargs, names, twice=False)


def _to_torch(torch: Any, a: Any, grad: bool) -> Any:
    if isinstance(a, Tensor):
        t = torch.from_numpy(np.array(a._data, copy=True))
        if grad:
            t.requires_grad_(True)
        return t
    return a


def _check_torch(info: OpInfo, report: OpReport, where: str, sample: Sample, dtype: np.dtype, torch: Any,
                 run: _Run, diff: list[int], names: list[str]) -> None:
    rtol, atol = TOLERANCES[dtype]
    args, _ = _materialize(sample.args, sample.grad, dtype)
    targs = [_to_torch(torch, a, i in diff) for i, a in enumerate(args)]
    tkw = {k: _to_torch(torch, v, False) for k, v in _kwargs(sample.kwargs, dtype).items()}
    try:
        tout = info.reference(torch, *targs, **tkw)  # type: ignore[misc]
    except Exception as exc:
        report.failed(where, "PyTorch parity", f"the PyTorch reference raised {type(exc).__name__}: {exc}")
        return
    ours_all, theirs_all = run.outputs, _all_outputs(tout)
    if len(ours_all) != len(theirs_all):
        report.failed(where, "PyTorch parity", f"{len(ours_all)} outputs, PyTorch gives {len(theirs_all)}")
        return
    bad = False
    for j, (o, t) in enumerate(zip(ours_all, theirs_all)):
        if not isinstance(o, Tensor) or not hasattr(t, "detach"):
            continue
        tv = t.detach().numpy()
        if o.shape != tuple(tv.shape):
            report.failed(where, "PyTorch parity", f"output {j} has shape {o.shape}, PyTorch "
                          f"{tuple(tv.shape)}")
            return
        msg = _mismatch(o._data, tv, rtol, atol)
        if msg:
            report.failed(where, "PyTorch parity", f"output {j} differs from PyTorch {msg}")
            bad = True
    tdiff_outs = [t for t in theirs_all if hasattr(t, "requires_grad") and t.dtype.is_floating_point
                  and t.requires_grad]
    tin = [targs[i] for i in diff]
    if tdiff_outs and tin and run.ran_backward and len(tdiff_outs) == len(run.vs):
        tgrads = torch.autograd.grad(tdiff_outs, tin, [torch.from_numpy(v.copy()) for v in run.vs],
                                     allow_unused=True)
        for i, g, tg in zip(diff, run.grads, tgrads):
            ours = np.zeros(args[i].shape, dtype) if g is None else g._data
            theirs = np.zeros(args[i].shape, dtype) if tg is None else tg.numpy()
            msg = _mismatch(ours, theirs, rtol * 10, atol * 10)
            if msg:
                report.failed(where, "PyTorch parity", f"the gradient for {names[i]} differs from "
                              f"PyTorch {msg}")
                bad = True
    if not bad:
        report.passed()


def check_ops(ops: Iterable[str] | None = None, **kwargs: Any) -> list[OpReport]:
    """Run ``check_op`` on several ops (all registered ones by default); never raises."""
    names = list(ops) if ops is not None else sorted(registry())
    return [check_op(n, raise_on_failure=False, **kwargs) for n in names]


def summary(reports: Sequence[OpReport]) -> str:
    """One report per op, then a count: what ``tinygrad-conv check`` prints."""
    failed = [r for r in reports if not r.ok]
    lines = [str(r) for r in reports]
    lines.append(f"checked {len(reports)} op(s): {len(reports) - len(failed)} ok, {len(failed)} failed"
                 + (f" ({', '.join(r.op for r in failed)})" if failed else ""))
    return "\n".join(lines)
