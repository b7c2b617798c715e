"""Writing your own op: Function basics, registering it, the messages a mistake gets, anomaly mode.

(Issue: experimenting with new ops.) Every mistake test checks that the message names the op and
says the fix, not only that something was raised.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import Tensor
from tinygrad_conv.ops.registry import register, registry, unregister
from tinygrad_conv.testing import check_op, gradgradcheck, sample_inputs


def leaf(*shape: int, seed: int = 0, dtype=np.float64) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


@pytest.fixture
def scratch_ops():
    """Unregister every op a test registers (the registry is process-wide)."""
    before = set(registry())
    yield
    for name in set(registry()) - before:
        unregister(name)


# ----------------------------------------------------------------------------- Function basics
class Cube(tc.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


class ScaledMul(tc.Function):
    """a * b * scale, with ``scale`` a positional plain value (it gets a None gradient)."""

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        ctx.seen_needs = ctx.needs_input_grad
        return a * b * scale

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = g * a * ctx.scale if ctx.needs_input_grad[1] else None
        return ga, gb, None


def test_saved_tensors_and_needs_input_grad():
    a, b = leaf(3, seed=1), Tensor(np.array([1.0, 2.0, 3.0]))
    y = ScaledMul.apply(a, b, 2.0)
    assert y.grad_fn.ctx.seen_needs == (True, False, False)
    y.backward(Tensor(np.ones(3)))
    assert np.allclose(a.grad.detach().numpy(), 2.0 * b.detach().numpy())
    assert b.grad is None


def test_saved_input_is_the_input_itself_so_backward_differentiates_twice():
    x = leaf(4, seed=2)
    (g,) = tc.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert np.allclose(g.detach().numpy(), 3 * x.detach().numpy() ** 2) and g.requires_grad
    (gg,) = tc.grad(g.sum(), x)
    assert np.allclose(gg.detach().numpy(), 6 * x.detach().numpy())
    assert gradgradcheck(Cube.apply, (leaf(3, seed=3),))


def test_apply_with_plain_values_and_keyword_params():
    class Shift(tc.Function):
        @staticmethod
        def forward(ctx, x, *, by=1.0):
            return x + by

        @staticmethod
        def backward(ctx, g):
            return g

    x = leaf(2)
    y = ScaledMul.apply(x, x, 0.5)
    assert y.grad_fn.input_meta[2] == ("value", 0.5) and y.grad_fn.next[2] is None
    z = Shift.apply(x, by=3.0)
    assert z.grad_fn.params == {"by": 3.0} and len(z.grad_fn.next) == 1
    assert z.grad_fn.name == "shift"  # snake_case of the class name until it is registered
    assert np.allclose(z.detach().numpy(), x.detach().numpy() + 3.0)


def test_array_forward_function():
    class Square(tc.Function):
        array_forward = True

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2.0 * x * g

    x = leaf(3)
    Square.apply(x).sum().backward()
    assert np.allclose(x.grad.detach().numpy(), 2 * x.detach().numpy())
    assert check_op(Square, samples=sample_inputs((3, 4))).ok


def test_backward_may_return_a_list():
    class AddList(tc.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return [g, g]

    a, b = leaf(2), leaf(2, seed=1)
    AddList.apply(a, b).sum().backward()
    assert np.allclose(a.grad.detach().numpy(), 1.0) and np.allclose(b.grad.detach().numpy(), 1.0)


# ----------------------------------------------------------------------------- registering
def test_a_registered_op_is_a_method_a_functional_and_a_named_node(scratch_ops):
    @register("soft_clip", samples=sample_inputs((3, 4), params=[{"limit": 2.0}]),
              reference=lambda torch, x, limit=1.0: limit * torch.tanh(x / limit))
    class SoftClip(tc.Function):
        """limit * tanh(x / limit)."""

        @staticmethod
        def forward(ctx, x, *, limit=1.0):
            out = (x / limit).tanh() * limit
            ctx.save_for_backward(out)  # an output (or input): then backward differentiates twice
            ctx.limit = limit
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            y = out / ctx.limit
            return g * (1.0 - y * y)

    x = leaf(3, 4)
    y = x.soft_clip(limit=2.0)
    assert y.grad_fn.name == "soft_clip" and y.grad_fn.params == {"limit": 2.0}
    assert np.allclose(F.soft_clip(x, limit=2.0).detach().numpy(), y.detach().numpy())
    info = registry()["soft_clip"]
    assert repr(info) == "<op soft_clip(x, *, limit=1.0) twice-differentiable>"
    assert info.doc == "limit * tanh(x / limit)."
    assert check_op("soft_clip").ok
    unregister("soft_clip")
    assert not hasattr(Tensor, "soft_clip") and "soft_clip" not in registry()
    with pytest.raises(AttributeError):
        F.soft_clip  # noqa: B018


def test_method_and_functional_only_when_asked(scratch_ops):
    def double_it(x):
        return x * 2.0

    register("double_it", method=False, functional=False, samples=sample_inputs((2,)))(double_it)
    assert not hasattr(Tensor, "double_it")
    with pytest.raises(AttributeError):
        F.double_it  # noqa: B018
    register("half_it", method="halved", functional=True, samples=sample_inputs((2,)))(lambda x: x * 0.5)
    assert np.allclose(Tensor([2.0]).halved().detach().numpy(), [1.0]) and F.half_it is registry()["half_it"].function


def test_a_registered_op_shows_its_name_and_params_in_the_drawing(scratch_ops):
    viz = pytest.importorskip("tinygrad_conv.viz")

    @register("leaky_step")
    class LeakyStep(tc.Function):
        @staticmethod
        def forward(ctx, x, *, slope=0.1):
            ctx.slope = slope
            ctx.mask = x.detach().numpy() > 0
            return Tensor(np.where(ctx.mask, x.detach().numpy(), slope * x.detach().numpy()))

        @staticmethod
        def backward(ctx, g):
            return g * Tensor(np.where(ctx.mask, 1.0, ctx.slope).astype(g.dtype))

    x = leaf(3)
    source = viz.make_dot(x.leaky_step(slope=0.25).sum(), params={"x": x}).source
    assert "<B>leaky_step</B>" in source and "slope=0.25" in source


def test_register_refuses_what_cannot_work(scratch_ops):
    class NoBackward(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x

    with pytest.raises(TypeError, match=r"NoBackward does not define backward\(ctx, \*grads\)"):
        register("no_backward")(NoBackward)
    with pytest.raises(ValueError, match=r"Tensor.shape is a built-in attribute.*method=False"):
        register("shape")(lambda x: x)
    with pytest.raises(ValueError, match="'exp' is already registered; pick another name or pass replace=True"):
        register("exp")(lambda x: x)


# ----------------------------------------------------------------------------- mistakes and their messages
def test_wrong_number_of_gradients_names_the_arguments_and_the_fix():
    class TwoArgs(tc.Function):
        @staticmethod
        def forward(ctx, x, power):
            return x ** power

        @staticmethod
        def backward(ctx, g):
            return g  # forgot the None for `power`

    y = TwoArgs.apply(leaf(3), 2.0)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    msg = str(info.value)
    assert "backward of 'two_args' returned 1 gradient(s), expected 2" in msg
    assert "(tensor (3,), 2.0)" in msg and "Return None for the arguments that take no gradient" in msg
    assert "pass parameters as keywords" in msg


def test_gradient_of_the_wrong_shape_or_dtype_says_the_fix():
    class WrongShape(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return Tensor(np.ones(2))

    class WrongDtype(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return g.to(np.float32)

    with pytest.raises(RuntimeError, match=r"backward of 'wrong_shape' returned a gradient of shape \(2,\) for "
                                           r"input 0, expected shape \(3,\).*sum over the dims"):
        WrongShape.apply(leaf(3)).backward()
    with pytest.raises(RuntimeError, match=r"backward of 'wrong_dtype' returned a gradient of dtype float32 for "
                                           r"input 0, expected float64.*Cast it with .to\(dtype\)"):
        WrongDtype.apply(leaf(3)).sum().backward()


def test_backward_returning_an_array_says_to_return_a_tensor():
    class ArrayGrad(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g.detach().numpy() * 2.0

    with pytest.raises(TypeError, match=r"backward of 'array_grad' returned a ndarray as the gradient for "
                                        r"input 0; it must return Tensors.*Tensor\(array\)"):
        ArrayGrad.apply(leaf(3)).sum().backward()


def test_forward_returning_an_array_says_to_wrap_it():
    class ArrayOut(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x.detach().numpy() * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    with pytest.raises(TypeError, match=r"array_out.forward must return a Tensor.*array_forward = True"):
        ArrayOut.apply(leaf(3))


class AddOneInPlace(tc.Function):
    @staticmethod
    def forward(ctx, x):
        x += 1.0  # the mistake: x is the caller's tensor (detached, but the same memory)
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g


class AddOneInPlaceArrays(tc.Function):
    array_forward = True

    @staticmethod
    def forward(ctx, x):
        x += 1.0
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def test_a_forward_that_changes_its_input_is_refused_at_apply():
    x = leaf(3)
    before = x.detach().numpy().copy()
    with pytest.raises(RuntimeError, match=r"add_one_in_place.forward changed its input 0 \(shape \(3,\)\) in "
                                           r"place.*build a new tensor \(y = x \* 2, not x \*= 2"):
        AddOneInPlace.apply(x)
    assert not np.array_equal(x.detach().numpy(), before)  # it did change: the message is why


def test_an_array_forward_that_changes_its_input_is_caught_in_anomaly_mode_and_by_check_op():
    AddOneInPlaceArrays.apply(leaf(3))  # not checked on the hot path...
    with tc.detect_anomaly():  # ...but in anomaly mode
        with pytest.raises(RuntimeError, match=r"add_one_in_place_arrays.forward changed its input 0.*"
                                               r"write the result into a new array"):
            AddOneInPlaceArrays.apply(leaf(3))
    report = check_op(AddOneInPlaceArrays, samples=sample_inputs((2, 2)), raise_on_failure=False)
    assert any(f.check == "inputs not mutated" for f in report.failures)


def test_a_saved_tensor_changed_in_place_is_refused_at_backward_with_the_fix():
    x = leaf(3)
    h = x * 1.0  # a non-leaf, so it may be changed in place
    y = Cube.apply(h)  # saves h
    h.mul_(2.0)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    msg = str(info.value)
    assert "modified by an in-place operation" in msg and "saved by op 'cube'" in msg
    assert "is at version 1; expected version 0" in msg
    assert "Do the in-place change after backward, or change a copy (.clone()) instead" in msg


# ----------------------------------------------------------------------------- anomaly mode
class FailingBackward(tc.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        raise ValueError("my rule has a bug")


class LogOfInput(tc.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.log()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x  # inf at x == 0


def test_anomaly_mode_names_the_op_and_the_line_that_created_it_when_backward_fails():
    with tc.detect_anomaly():
        x = leaf(3)
        y = FailingBackward.apply(x)  # THE LINE THAT CREATED IT
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    msg = str(info.value)
    assert msg.startswith("anomaly: backward of 'failing_backward' (node #")
    assert "failed with ValueError: my rule has a bug" in msg
    assert "The op was recorded here:" in msg and __file__ in msg
    assert "y = FailingBackward.apply(x)  # THE LINE THAT CREATED IT" in msg
    assert "/tinygrad_conv/autograd/" not in msg  # the package's own frames are left out
    assert isinstance(info.value.__cause__, ValueError)


def test_anomaly_mode_names_the_op_that_produced_nan_or_inf():
    with tc.detect_anomaly(), np.errstate(divide="ignore"):
        x = Tensor(np.array([1.0, 0.0]), requires_grad=True)
        y = LogOfInput.apply(x)  # CREATES THE INF GRADIENT
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    msg = str(info.value)
    assert msg.startswith("anomaly: backward of 'log_of_input'") and "produced inf in the gradient for input 0" in msg
    assert "y = LogOfInput.apply(x)  # CREATES THE INF GRADIENT" in msg


def test_anomaly_mode_adds_the_line_to_a_mistake_in_the_rule():
    class TooMany(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return g, g

    with tc.detect_anomaly():
        y = TooMany.apply(leaf(2))  # RECORDED HERE
        with pytest.raises(RuntimeError, match=r"(?s)returned 2 gradient\(s\), expected 1.*"
                                               r"y = TooMany.apply\(leaf\(2\)\)  # RECORDED HERE"):
            y.sum().backward()


def test_without_anomaly_mode_errors_pass_through_and_nothing_is_recorded():
    y = FailingBackward.apply(leaf(3))
    assert y.grad_fn.trace is None
    with pytest.raises(ValueError, match="my rule has a bug"):
        y.sum().backward()
    x = Tensor(np.array([1.0, 0.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        LogOfInput.apply(x).sum().backward()  # inf, silently, as in PyTorch
    assert np.isinf(x.grad.detach().numpy()[1])


# ----------------------------------------------------------------------------- the example script
def test_the_custom_op_example_checks_draws_and_trains(tmp_path, monkeypatch, capsys, scratch_ops):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "custom_op.py"
    monkeypatch.setattr("sys.argv", [str(script), "--out", str(tmp_path)])
    runpy.run_path(str(script), run_name="__main__")  # asserts that the loss fell and t is found
    out = capsys.readouterr().out
    assert out.startswith("smooth_max: ok (")
    assert (tmp_path / "smooth_max.dot").exists() or (tmp_path / "smooth_max.svg").exists()
    assert "<op smooth_max(a, b, *, beta=1.0) twice-differentiable>" in out
