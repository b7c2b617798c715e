"""F.pad in every mode ('constant', 'reflect', 'replicate', 'circular') against PyTorch: values and
gradients with random upstream gradients, second derivatives (gradgradcheck in float64 and
PyTorch's double backward), PyTorch's rules on which dimensions each mode pads, and its errors.

Also nn.Conv2d's ``padding_mode`` (which pads with F.pad) and ConvTranspose2d's refusal of it.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn
from tinygrad_conv.ops.registry import registry
from tinygrad_conv.testing import gradcheck, gradgradcheck

MODES = ["constant", "reflect", "replicate", "circular"]
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}


def pad_cases() -> Any:
    """(mode, input shape, pad): every number of padded dims each mode accepts, unbatched and
    batched, with widths past the size (replicate, constant), up to it (circular), just under it
    (reflect), zero and negative (crops)."""
    for mode in MODES:
        for k in (1, 2, 3):
            for batched in (False, True):
                ndim = k + 1 + batched
                shape = (2, 3, 4, 5, 4)[-ndim:]
                sizes = shape[-k:][::-1]  # the padded sizes, last dim first like pad
                if mode == "reflect":
                    options = [(s - 1, 1) for s in sizes], [(0, s - 1) for s in sizes], [(-1, 2) for _ in sizes]
                elif mode == "circular":
                    options = [(s, 1) for s in sizes], [(1, 0) for _ in sizes], [(-1, 2) for _ in sizes]
                else:
                    options = [(s + 2, 1) for s in sizes], [(0, 0) for _ in sizes], [(-2, 3) for _ in sizes]
                for widths in options:
                    yield mode, shape, tuple(itertools.chain.from_iterable(widths))
    # constant mode pads any number of dims, of any input
    yield "constant", (3,), (2, -1)
    yield "constant", (2, 3, 4, 2), (1, 1, 0, 2, -1, 1, 2, 0)
    yield "constant", (2, 3), ()


CASES = list(pad_cases())


def both(torch: Any, mode: str, shape: tuple[int, ...], pad: tuple[int, ...], dtype: Any, seed: int,
         **kw: Any) -> tuple[Any, Any]:
    """Our and PyTorch's (output, input gradient) for one random input and upstream gradient."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    t = tc.Tensor(x.copy(), requires_grad=True)
    y = F.pad(t, pad, mode=mode, **kw)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(tc.Tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.pad(tx, pad, mode=mode, **kw)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(t.detach().numpy(), x)  # the input is left as it was
    return (y.detach().numpy(), t.grad.detach().numpy()), (ty.detach().numpy(), tx.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{m}-{s}-{p}" for m, s, p in CASES])
def test_values_and_gradients_match_torch(torch, case, dtype):
    mode, shape, pad = CASES[case]
    (y, dx), (ty, tdx) = both(torch, mode, shape, pad, dtype, seed=case)
    assert y.shape == ty.shape and y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(dx, tdx, **TOL[dtype])


@pytest.mark.parametrize("mode", MODES)
def test_finite_differences_first_and_second_order(mode):
    rng = np.random.default_rng(3)
    for shape, pad in [((2, 3, 4), (2, 3)), ((1, 2, 3, 4), (-1, 3, 2, 1)), ((2, 3, 3, 2, 3), (1, 2, 0, 1, 2, 2))]:
        if mode == "reflect":
            pad = tuple(min(p, 1) for p in pad)
        x = tc.Tensor(rng.standard_normal(shape), requires_grad=True)

        def fn(t: tc.Tensor, pad: tuple[int, ...] = pad) -> tc.Tensor:
            return F.pad(t, pad, mode=mode, value=None)

        assert gradcheck(fn, (x,))
        assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_double_backward_matches_torch(torch, mode):
    """grad of (grad . w) with respect to the upstream gradient and the input, against PyTorch."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 4, 5))
    pad = (3, 1, 2, 3) if mode != "reflect" else (3, 1, 2, 3)
    out_shape = (2, 2, 4 + 5, 5 + 4)
    v, w = rng.standard_normal(out_shape), rng.standard_normal(x.shape)
    t, tv = tc.Tensor(x, requires_grad=True), tc.Tensor(v, requires_grad=True)
    (gx,) = tc.grad(F.pad(t, pad, mode=mode), t, tv, create_graph=True)
    (gv,) = tc.grad((gx * tc.Tensor(w)).sum(), tv)
    tx, ttv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
    (tgx,) = torch.autograd.grad(torch.nn.functional.pad(tx, pad, mode=mode), tx, ttv, create_graph=True)
    (tgv,) = torch.autograd.grad((tgx * torch.from_numpy(w)).sum(), ttv)
    np.testing.assert_allclose(gx.detach().numpy(), tgx.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gv.detach().numpy(), tgv.numpy(), rtol=1e-12, atol=1e-12)


def test_the_backward_is_a_registered_op_whose_backward_is_pad():
    info = registry()["pad_backward"]
    assert info.method is None and not info.functional and info.twice_differentiable
    assert registry()["pad"].twice_differentiable
    x = tc.Tensor(np.arange(12.0).reshape(1, 3, 4), requires_grad=True)
    y = F.pad(x, (2, 1), mode="reflect")
    (gx,) = tc.grad(y, x, tc.Tensor(np.ones(y.shape), requires_grad=True), create_graph=True)
    assert gx.grad_fn.name == "pad_backward"
    # Each input position gets one gradient per output position that copies it: positions 1 and 2
    # are mirrored once each (left 2 wide, right 1 wide), the edges never.
    assert gx.tolist() == [[[1.0, 2.0, 3.0, 1.0]] * 3]


def test_value_defaults_to_zero_and_fills_constant_padding(torch):
    x = tc.Tensor(np.ones((1, 2)))
    assert F.pad(x, (1, 1)).tolist() == [[0.0, 1.0, 1.0, 0.0]]
    assert F.pad(x, (1, 1), value=None).tolist() == [[0.0, 1.0, 1.0, 0.0]]
    assert F.pad(x, (1, 0), "constant", 2.5).tolist() == [[2.5, 1.0, 1.0]]
    # an integer tensor keeps its dtype and the value is cast to it, as in PyTorch
    ints = F.pad(tc.Tensor(np.arange(3)), (1, 1), value=2.5)
    tints = torch.nn.functional.pad(torch.arange(3), (1, 1), value=2.5)
    assert ints.dtype == np.int64 and ints.tolist() == tints.tolist()
    # value=0 is accepted by the other modes (it is the default they ignore)
    assert F.pad(tc.Tensor([[0.0, 1.0, 2.0]]), (1, 1), "reflect", 0).tolist() == [[1.0, 0.0, 1.0, 2.0, 1.0]]


def test_empty_batch_pads_like_torch(torch):
    for mode in MODES:
        x = tc.Tensor(np.zeros((0, 2, 3, 4)), requires_grad=True)
        y = F.pad(x, (1, 2, 2, 1), mode=mode)
        assert y.shape == tuple(torch.nn.functional.pad(torch.zeros(0, 2, 3, 4), (1, 2, 2, 1), mode=mode).shape)
        y.backward(tc.Tensor(np.zeros(y.shape)))
        assert x.grad.shape == (0, 2, 3, 4)


def error_cases() -> Any:
    """(input shape, pad, kwargs, words of our message); each raises in PyTorch too, same type."""
    yield (1, 3, 4), (1, 1, 1), {}, "divisible by 2"
    yield (1, 3, 4), (1, 1), {"mode": "foo"}, "unrecognised padding mode 'foo'"
    yield (1, 3, 4), (1, 1), {"mode": "zeros"}, "unrecognised padding mode 'zeros'"
    yield (1, 3, 4), (1, 1, 1, 1, 1, 1, 1, 1), {}, "padding length 8 and an input of dimension 3"
    yield (1, 3, 4), (-5, 1), {}, "negative size -1"
    yield (1, 3, 4), (-3, -2), {}, "negative size -1"
    for mode in ("reflect", "replicate", "circular"):
        yield (1, 3, 4), (1, 1), {"mode": mode, "value": 2.0}, f'padding mode "{mode}" doesn\'t take in value'
        yield (4,), (1, 1), {"mode": mode}, "padding size 2 is not supported for a 1-d input"
        yield (3, 4), (1, 1, 1, 1), {"mode": mode}, "padding size 4 is not supported for a 2-d input"
        yield (1, 2, 3, 4), (1, 1), {"mode": mode}, "padding size 2 is not supported for a 4-d input"
        yield (1, 2, 3, 4, 5), (1, 1, 1, 1), {"mode": mode}, "padding size 4 is not supported for a 5-d input"
        yield (1, 3, 4), (1, 1, 1, 1, 1, 1), {"mode": mode}, "padding size 6 is not supported for a 3-d input"
        yield (1, 3, 4), (), {"mode": mode}, "padding size 0 is not supported"
    for mode in ("reflect", "replicate"):
        yield (1, 0, 4), (1, 1), {"mode": mode}, "other non-zero dimensions"
        yield (0, 3, 4), (1, 1, 1, 1), {"mode": mode}, "other non-zero dimensions"
        yield (1, 3, 5), (-2, -3), {"mode": mode}, "calculated output size 0"
        yield (1, 3, 5), (-3, -3), {"mode": mode}, "calculated output size -1"
    yield (1, 3, 4), (4, 0), {"mode": "reflect"}, "padding (4, 0) at dimension 2"
    yield (1, 3, 4), (0, 4), {"mode": "reflect"}, "padding (0, 4) at dimension 2"
    yield (1, 3, 4), (1, 1, 3, 0), {"mode": "reflect"}, "padding (3, 0) at dimension 1"
    yield (1, 3, 4), (5, 0), {"mode": "circular"}, "wraps around more than once"
    yield (1, 3, 4), (-3, -2), {"mode": "circular"}, "crops the dimension"


ERRORS = list(error_cases())


@pytest.mark.parametrize("case", range(len(ERRORS)), ids=[f"{c[2]}-{c[1]}" for c in ERRORS])
def test_errors_follow_torch(torch, case):
    shape, pad, kwargs, words = ERRORS[case]
    with pytest.raises((RuntimeError, NotImplementedError)) as theirs:
        torch.nn.functional.pad(torch.zeros(shape), pad, **kwargs)
    x = tc.Tensor(np.zeros(shape), requires_grad=True)
    with pytest.raises((RuntimeError, NotImplementedError)) as ours:
        F.pad(x, pad, **kwargs)
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)
    message = str(ours.value)
    assert message.startswith("pad: ") and words in message, message
    assert x.grad is None and x.grad_fn is None


def test_pad_must_hold_ints(torch):
    x = tc.Tensor(np.zeros((1, 3, 4)))
    for bad, torch_bad in [((1.5, 1), (1.5, 1)), ((True, 1), (True, 1)), (tc.Tensor([1, 1]), torch.tensor([1, 1]))]:
        with pytest.raises(TypeError):
            torch.nn.functional.pad(torch.zeros(1, 3, 4), torch_bad)
        with pytest.raises(TypeError, match="pad: pad must be a tuple of ints"):
            F.pad(x, bad)
    # lists and NumPy integers are fine
    assert F.pad(x, [np.int64(1), 1]).shape == (1, 3, 6)


def test_circular_crop_past_what_is_left_is_refused():
    # PyTorch returns uninitialised memory for (-5, 1) on a size-5 dim (it wraps an empty range);
    # we refuse to wrap more than the crop leaves.
    with pytest.raises(RuntimeError, match="crops the dimension to 0"):
        F.pad(tc.Tensor(np.zeros((1, 1, 5))), (-5, 1), mode="circular")
    with pytest.raises(RuntimeError, match="crops the dimension to 1"):
        F.pad(tc.Tensor(np.zeros((1, 1, 5))), (-4, 3), mode="circular")


# ----------------------------------------------------------------------------- padding_mode on the conv modules
def copy_conv(torch: Any, ours: nn.Module, theirs: Any) -> None:
    ours.weight.detach().numpy()[...] = theirs.weight.detach().numpy()
    if theirs.bias is not None:
        ours.bias.detach().numpy()[...] = theirs.bias.detach().numpy()


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own padding copy
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("setting", [
    {"kernel_size": 3, "padding": 1},
    {"kernel_size": (3, 2), "padding": (2, 1), "stride": 2, "bias": False},
    {"kernel_size": 4, "padding": "same", "dilation": (1, 2)},
    {"kernel_size": 3, "padding": "valid", "groups": 2},
    {"kernel_size": 3, "padding": 1, "unbatched": True},
])
def test_conv2d_padding_mode_matches_torch(torch, mode, setting):
    setting = dict(setting)
    unbatched = setting.pop("unbatched", False)
    rng = np.random.default_rng(5)
    theirs = torch.nn.Conv2d(4, 6, padding_mode=mode, dtype=torch.float64, **setting)
    ours = nn.Conv2d(4, 6, padding_mode=mode, dtype=np.float64, **setting)
    copy_conv(torch, ours, theirs)
    x = rng.standard_normal((4, 7, 8) if unbatched else (2, 4, 7, 8))
    t, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(t), theirs(tx)
    g = rng.standard_normal(y.shape)
    y.backward(tc.Tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.detach().numpy(), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert repr(ours) == repr(theirs)
    assert ours._reversed_padding_repeated_twice == list(theirs._reversed_padding_repeated_twice)


def test_conv2d_padding_mode_is_twice_differentiable():
    rng = np.random.default_rng(6)
    conv = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="reflect", dtype=np.float64)
    x = tc.Tensor(rng.standard_normal((1, 2, 4, 5)), requires_grad=True)
    assert gradcheck(lambda t: conv(t), (x,))
    assert gradgradcheck(lambda t: conv(t), (x,))


def test_padding_mode_errors_match_torch(torch):
    for mode in ["foo", "constant", "zero"]:
        with pytest.raises(ValueError, match=f"but got padding_mode='{mode}'"):
            torch.nn.Conv2d(3, 4, 3, padding_mode=mode)
        with pytest.raises(ValueError, match=f"Conv2d: padding_mode must be one of .*but got padding_mode='{mode}'"):
            nn.Conv2d(3, 4, 3, padding_mode=mode)
    for mode in ["reflect", "replicate", "circular", "foo"]:
        with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
            torch.nn.ConvTranspose2d(3, 4, 3, padding_mode=mode)
        with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
            nn.ConvTranspose2d(3, 4, 3, padding_mode=mode)
    assert nn.ConvTranspose2d(3, 4, 3, padding_mode="zeros").padding_mode == "zeros"
    # F.pad's rules apply to the padding of a module too
    conv = nn.Conv2d(3, 4, 3, padding=3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match="pad: reflect padding must be less than the input size"):
        conv(tc.Tensor(np.zeros((1, 3, 3, 3), np.float32)))
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(3, 4, 3, padding=3, padding_mode="reflect")(torch.zeros(1, 3, 3, 3))
