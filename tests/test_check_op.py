"""The op checker, tested against deliberately broken ops (issue: experimenting with new ops).

Each broken op has a correct twin that passes the same checks, so a test cannot pass merely
because the checker reports everything. None of these ops is registered globally (the registry
test would pick them up); the CLI tests register and unregister theirs.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.cli import main
from tinygrad_conv.ops import Sample
from tinygrad_conv.ops.registry import registry, unregister
from tinygrad_conv.testing import (
    GradcheckError,
    OpCheckError,
    OpReport,
    check_op,
    gradcheck,
    gradgradcheck,
    sample_inputs,
)


def failures(report: OpReport, check: str) -> list[str]:
    """The failure texts (where + message) of one kind of check."""
    return [str(f) for f in report.failures if f.check == check]


# ----------------------------------------------------------------------------- a wrong sign
class Sin(tc.Function):
    array_forward = True
    sign = 1.0

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @classmethod
    def backward(cls, ctx, g):
        (x,) = ctx.saved_tensors
        return g * Cos.apply(x) * cls.sign


class Cos(tc.Function):
    array_forward = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * Sin.apply(x)


class SinWrongSign(Sin):
    sign = -1.0


def torch_sin(torch, x):
    return torch.sin(x)


def test_correct_sin_passes_every_check():
    report = check_op(Sin, samples=sample_inputs((3, 4), ()), reference=torch_sin)
    assert report.ok and report.samples == 2 and report.dtypes == ["float32", "float64"]
    # forward/backward, PyTorch, float32 vs float64, non-contiguous, gradcheck, gradgradcheck
    assert report.checks >= 10


def test_a_wrong_sign_is_caught_with_the_input_the_element_and_both_values():
    report = check_op(SinWrongSign, samples=sample_inputs((3, 4)), reference=torch_sin,
                      raise_on_failure=False)
    assert not report.ok
    (grad_fail,) = [f for f in report.failures if f.check == "gradcheck"]
    assert "sample 0 [float64] args (3, 4)" in grad_fail.where
    assert "the gradient for input 0 (x) is wrong at element (" in grad_fail.message
    # ours is exactly minus the expected value: the report shows both
    ours = float(grad_fail.message.split("ours ")[1].split(",")[0])
    expected = float(grad_fail.message.split("expected ")[1].split(" ")[0])
    assert ours == pytest.approx(-expected, rel=1e-5) and abs(expected) > 1e-3


@pytest.mark.usefixtures("torch")  # check_op compares with PyTorch only where it is installed
def test_a_wrong_sign_is_caught_by_the_pytorch_parity_check_too():
    report = check_op(SinWrongSign, samples=sample_inputs((3, 4)), reference=torch_sin,
                      raise_on_failure=False)
    torch_fails = failures(report, "PyTorch parity")
    assert len(torch_fails) == 2 and "float32" in torch_fails[0] and "float64" in torch_fails[1]
    assert all("the gradient for input 0 (x) differs from PyTorch" in f for f in torch_fails)


def test_failure_raises_with_the_report_as_message():
    with pytest.raises(OpCheckError) as info:
        check_op(SinWrongSign, samples=sample_inputs((2, 3)))
    text = str(info.value)
    assert text.startswith("sin_wrong_sign: FAILED")
    assert "gradcheck: the gradient for input 0 (x)" in text
    assert info.value.report.failures


# ----------------------------------------------------------------------------- a missing flip
class Corr1d(tc.Function):
    """Valid 1-d cross-correlation y[i] = sum_k x[i + k] w[k]. dx is the full correlation of the
    padded dy with the FLIPPED kernel; dw is the correlation of x with dy."""

    array_forward = True
    flip = True

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        k = w.shape[0]
        return np.stack([np.dot(x[i:i + k], w) for i in range(x.shape[0] - k + 1)])

    @classmethod
    def backward(cls, ctx, g):
        x, w = ctx.saved_tensors
        k = w.shape[0]
        kernel = w[::-1] if cls.flip else w
        return cls.apply(F.pad(g, (k - 1, k - 1)), kernel), cls.apply(x, g)


class Corr1dNoFlip(Corr1d):
    flip = False


def corr_samples(rng, dtype):
    yield Sample((rng.standard_normal(7), rng.standard_normal(3)), name="signal and kernel")
    yield Sample((rng.standard_normal(5), rng.standard_normal(2)), name="short")


def torch_corr(torch, x, w):
    return torch.nn.functional.conv1d(x[None, None], w[None, None])[0, 0]


def test_correct_correlation_passes_including_second_order():
    report = check_op(Corr1d, samples=corr_samples, reference=torch_corr)
    assert report.ok, str(report)


def test_a_missing_kernel_flip_is_caught_on_the_input_gradient():
    report = check_op(Corr1dNoFlip, samples=corr_samples, reference=torch_corr, raise_on_failure=False)
    grad_fails = failures(report, "gradcheck")
    assert len(grad_fails) == 2  # both samples
    assert all("the gradient for input 0 (x) is wrong at element" in f for f in grad_fails)
    assert "sample 0 'signal and kernel' [float64] args (7,), (3,)" in grad_fails[0]
    # the weight gradient does not use the flip: nothing is said about input 1
    assert not any("input 1 (w)" in str(f) for f in report.failures)


# ----------------------------------------------------------------------------- broadcasting
class BiasAdd(tc.Function):
    """x + b with b broadcast over x's leading dims."""

    array_forward = True

    @staticmethod
    def forward(ctx, x, b):
        ctx.b_ndim = b.ndim
        return x + b

    @staticmethod
    def backward(ctx, g):
        return g, g  # the engine sums a broadcast gradient back to b's shape


class BiasAddFirstRow(BiasAdd):
    """Ignores broadcasting: b's gradient is taken from one broadcast row instead of summing all."""

    @staticmethod
    def backward(ctx, g):
        lead = g.ndim - ctx.b_ndim
        return g, (g[(0,) * lead] if lead else g)


def torch_add(torch, x, b):
    return x + b


BROADCAST_SAMPLES = sample_inputs([(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 3, 4), (3, 4)])


def test_correct_broadcasting_op_passes():
    assert check_op(BiasAdd, samples=BROADCAST_SAMPLES, reference=torch_add).ok


def test_a_gradient_that_ignores_broadcasting_is_caught_on_the_broadcast_samples():
    report = check_op(BiasAddFirstRow, samples=BROADCAST_SAMPLES, reference=torch_add,
                      raise_on_failure=False)
    grad_fails = failures(report, "gradcheck")
    assert [f.split(" [")[0] for f in grad_fails] == ["sample 1", "sample 2"]
    assert all("the gradient for input 1 (b) is wrong" in f for f in grad_fails)
    assert "args (3, 4), (4,)" in grad_fails[0]
    # the same-shape sample passes: only broadcasting is wrong
    assert not any(str(f).startswith("sample 0 ") for f in report.failures)


def test_declared_broadcasting_is_checked_even_with_same_shape_samples_only():
    same_shape = sample_inputs([(3, 4), (3, 4)])
    assert check_op(BiasAddFirstRow, samples=same_shape).ok  # nothing broadcasts here...
    report = check_op(BiasAddFirstRow, samples=same_shape, broadcasts=True, raise_on_failure=False)
    assert not report.ok  # ...until the checker shrinks an input itself
    texts = failures(report, "broadcasting")
    assert texts and all("with input 1 (b) broadcast from (4,)" in t for t in texts)
    assert any("the gradient for input 1 (b) with a broadcast input differs at element" in t for t in texts)
    assert check_op(BiasAdd, samples=same_shape, broadcasts=True).ok


# ----------------------------------------------------------------------------- second order
class Cube(tc.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


class CubeRawBackward(Cube):
    """Right to first order, but backward builds 3x^2 from raw arrays: off the tape."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * tc.Tensor(3.0 * x.detach().numpy() ** 2)


def test_a_backward_right_to_first_order_only_is_caught_by_gradgradcheck():
    assert check_op(Cube, samples=sample_inputs((3, 4))).ok
    report = check_op(CubeRawBackward, samples=sample_inputs((3, 4)),
                      reference=lambda torch, x: x ** 3, raise_on_failure=False)
    assert [f.check for f in report.failures] == ["gradgradcheck"]  # first order, parity: fine
    text = str(report.failures[0])
    assert "[float64]" in text and "with respect to input 0 (x) is wrong at element" in text
    assert "hint: the gradients do not depend on input 0" in text and "twice_differentiable=False" in text


class CubeSavesIntermediate(Cube):
    """Saves x*x computed in forward (off the tape), so 3 * x*x is a constant for backward."""

    @staticmethod
    def forward(ctx, x):
        sq = x * x
        ctx.save_for_backward(sq)
        return sq * x

    @staticmethod
    def backward(ctx, g):
        (sq,) = ctx.saved_tensors
        return g * 3.0 * sq


def test_saving_an_intermediate_of_forward_loses_the_second_derivative_and_the_hint_says_so():
    report = check_op(CubeSavesIntermediate, samples=sample_inputs((2, 3)), raise_on_failure=False)
    assert [f.check for f in report.failures] == ["gradgradcheck"]
    assert "an intermediate saved in forward" in report.failures[0].message


def test_a_first_order_only_op_can_say_so():
    report = check_op(CubeRawBackward, samples=sample_inputs((3, 4)), second_order=False)
    assert report.ok and any("gradgradcheck skipped" in n for n in report.notes)


# ----------------------------------------------------------------------------- layout, mutation, dtype
class RowSums(tc.Function):
    """Sums rows through a strided view that assumes a C-contiguous input."""

    array_forward = True
    strided = True

    @classmethod
    def forward(cls, ctx, x):
        ctx.shape = x.shape
        if cls.strided:
            x = np.lib.stride_tricks.as_strided(x, x.shape, (x.shape[1] * x.itemsize, x.itemsize))
        return x.sum(axis=1)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape[0], 1).expand(ctx.shape)


class RowSumsAnyLayout(RowSums):
    strided = False


def test_non_contiguous_inputs_are_checked():
    assert check_op(RowSumsAnyLayout, samples=sample_inputs((3, 4))).ok
    report = check_op(RowSums, samples=sample_inputs((3, 4)), raise_on_failure=False)
    texts = failures(report, "non-contiguous inputs")
    assert len(texts) == 2  # float32 and float64
    assert "output 0 with non-contiguous inputs differs at element" in texts[0]
    assert "ours" in texts[0] and "expected" in texts[0]


class DoubleInPlace(tc.Function):
    array_forward = True

    @staticmethod
    def forward(ctx, x):
        x *= 2.0  # the bug: the caller's array changes
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g * 2.0


class GradInPlace(tc.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        g.data *= 2.0  # the bug: changes the upstream gradient it was given
        return g


def test_a_forward_that_changes_its_input_is_caught():
    report = check_op(DoubleInPlace, samples=sample_inputs((3, 4)), raise_on_failure=False)
    texts = failures(report, "inputs not mutated")
    assert len(texts) == 2
    assert "forward changed input 0 (x) in place (element (0, 0) was" in texts[0]
    assert "write results into new arrays" in texts[0]


def test_a_backward_that_changes_the_upstream_gradient_is_caught():
    report = check_op(GradInPlace, samples=sample_inputs((3, 4)), raise_on_failure=False)
    texts = failures(report, "inputs not mutated")
    assert texts and "backward changed the upstream gradient of output 0 in place" in texts[0]


class Cancel(tc.Function):
    """(x + 1e6) - 1e6: exact in float64, loses everything below 0.06 in float32."""

    array_forward = True

    @staticmethod
    def forward(ctx, x):
        return (x + x.dtype.type(1e6)) - x.dtype.type(1e6)

    @staticmethod
    def backward(ctx, g):
        return g


class Upcast(tc.Function):
    array_forward = True

    @staticmethod
    def forward(ctx, x):
        return x.astype(np.float64) * 2.0

    @staticmethod
    def backward(ctx, g):
        return g * 2.0


def test_float32_is_compared_with_float64():
    report = check_op(Cancel, samples=sample_inputs((3, 4)), raise_on_failure=False)
    texts = failures(report, "float32 against float64")
    assert len(texts) == 1 and "[float32]" in texts[0] and "output 0 in float32 differs" in texts[0]


def test_output_dtype_must_follow_the_input():
    report = check_op(Upcast, samples=sample_inputs((3, 4)), raise_on_failure=False)
    texts = failures(report, "output dtype")
    assert len(texts) == 1 and "output 0 has dtype float64, expected float32" in texts[0]


def test_an_op_computed_off_the_tape_is_caught():
    def doubled(x):
        return tc.Tensor(x.detach().numpy() * 2.0)  # the result forgets where it came from

    report = check_op(doubled, samples=sample_inputs((3,)), raise_on_failure=False)
    assert failures(report, "on the tape")


# ----------------------------------------------------------------------------- samples
def test_an_op_without_samples_fails():
    report = check_op(Cube, raise_on_failure=False)
    assert not report.ok and "declares no sample inputs" in str(report)


def test_a_broken_samples_function_is_reported():
    def samples(rng, dtype):
        raise ValueError("typo in my samples")

    report = check_op(Cube, samples=samples, raise_on_failure=False)
    assert "the samples function raised ValueError: typo in my samples" in str(report)


def test_sample_inputs_crosses_shapes_with_params_and_draws_from_the_domain():
    make = sample_inputs((2, 3), [(4,), (1, 4)], params=[{}, {"beta": 2.0}], domain="positive")
    cases = list(make(np.random.default_rng(0), np.float32))
    assert [[a.shape for a in c.args] for c in cases] == [[(2, 3)], [(2, 3)], [(4,), (1, 4)], [(4,), (1, 4)]]
    assert [c.kwargs for c in cases] == [{}, {"beta": 2.0}] * 2
    assert all(a.dtype == np.float32 and (a >= 0.5).all() for c in cases for a in c.args)
    per_input = sample_inputs([(50,), (50,)], domain=["positive", "nonzero"])
    (case,) = per_input(np.random.default_rng(1), np.float64)
    assert (case.args[0] > 0).all() and (case.args[1] < 0).any() and (np.abs(case.args[1]) >= 0.2).all()
    with pytest.raises(ValueError, match="unknown domain 'postive'"):
        sample_inputs((2,), domain="postive")
    with pytest.raises(TypeError, match="a case must be a shape"):
        sample_inputs([3, (2,)])


def test_check_op_finds_a_registered_op_by_name_or_class():
    assert check_op("exp").ok
    info = registry()["mul"]
    assert check_op(info.node_types[0], raise_on_failure=False).samples == check_op("mul").samples
    with pytest.raises(KeyError, match="did you mean exp"):
        check_op("epx")


def test_gradcheck_errors_carry_where():
    x = tc.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: SinWrongSign.apply(t), (x,))
    assert info.value.input == 0 and info.value.order == 1 and info.value.element in [(0,), (1,), (2,)]
    assert info.value.analytic == pytest.approx(-info.value.numerical, rel=1e-5)
    with pytest.raises(GradcheckError, match="gradgradcheck: the derivative of the gradients") as info2:
        gradgradcheck(lambda t: CubeRawBackward.apply(t), (x,))
    assert info2.value.order == 2 and info2.value.input == 0


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture
def restore_registry():
    """Unregister whatever a test registers, and forget modules it imported from tmp_path."""
    before, modules = set(registry()), set(sys.modules)
    yield
    for name in set(registry()) - before:
        unregister(name)
    for name in set(sys.modules) - modules:
        if name.startswith("cli_ops"):
            del sys.modules[name]


OPS_FILE = '''
import numpy as np
import tinygrad_conv as tc
from tinygrad_conv.ops import register
from tinygrad_conv.testing import sample_inputs


@register("cli_square", samples=sample_inputs((3, 4)), reference=lambda torch, x: x * x)
class Square(tc.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return {grad}
'''


def test_cli_checks_named_builtin_ops(capsys):
    assert main(["check", "exp", "sum", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "exp: ok (" in out and "sum: ok (" in out and "checked 2 op(s): 2 ok, 0 failed" in out


def test_cli_checks_the_ops_of_a_module_file(tmp_path, capsys, restore_registry):
    good = tmp_path / "cli_ops_good.py"
    good.write_text(OPS_FILE.format(grad="2.0 * x * g"))
    assert main(["check", "--module", str(good)]) == 0
    out = capsys.readouterr().out
    assert "cli_square: ok" in out and "checked 1 op(s)" in out


def test_cli_reports_a_broken_op_and_exits_1(tmp_path, capsys, restore_registry, monkeypatch):
    (tmp_path / "cli_ops_bad.py").write_text(OPS_FILE.format(grad="-2.0 * x * g"))
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--module", "cli_ops_bad"]) == 1  # a dotted name, from the current folder
    out = capsys.readouterr().out
    assert "cli_square: FAILED" in out
    assert "gradcheck: the gradient for input 0 (x) is wrong at element" in out


def test_cli_usage_errors_exit_2(tmp_path, capsys, restore_registry):
    assert main(["check", "no_such_op"]) == 2
    assert "unknown op(s) no_such_op" in capsys.readouterr().err
    empty = tmp_path / "cli_ops_empty.py"
    empty.write_text("x = 1\n")
    assert main(["check", "--module", str(empty)]) == 2
    assert "registers no ops" in capsys.readouterr().err
    assert main(["check", "--module", str(tmp_path / "missing.py")]) == 2


def test_cli_lists_the_registry(capsys):
    assert main(["check", "--list"]) == 0
    out = capsys.readouterr().out
    assert "sum(input, dim=None, keepdim=False, *, dtype=None)\n    twice-differentiable" in out
    assert f"{len(registry())} registered ops" in out


def test_the_report_reads_well():
    report = check_op(SinWrongSign, samples=sample_inputs((3, 4)), raise_on_failure=False)
    lines = str(report).splitlines()
    assert lines[0].startswith("sin_wrong_sign: FAILED (") and "failed)" in lines[0]
    assert lines[1] == "  note: no PyTorch reference given: values checked by finite differences only"
    assert lines[2].startswith("  - sample 0 [float64] args (3, 4)")
    assert lines[3].startswith("      gradcheck: the gradient for input 0 (x) is wrong at element (")
