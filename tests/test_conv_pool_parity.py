"""Parity fixes in the conv and pool family (issue 14, items 3 and 6), against PyTorch:

* max_unpool2d writes one value per index as PyTorch does (the last in row-major order of its
  plane, what PyTorch 2.13's CPU kernel keeps), with PyTorch's gradient; max_pool2d's own backward
  is a separate scatter-add op, and pooling stays twice-differentiable;
* nn.MaxUnpool2d;
* operands of different dtypes give PyTorch's RuntimeError naming both dtypes, also under
  ``python -O``;
* empty batches work forward and backward through conv2d, conv_transpose2d, the conv weight
  gradient and the pools, with PyTorch's shapes and zero gradients;
* no ``assert`` statement is left in the conv and pool ops and kernels: user input that reaches
  them gets a clear exception.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn
from tinygrad_conv.kernels import conv as KC
from tinygrad_conv.kernels import pool as KP
from tinygrad_conv.ops.registry import registry
from tinygrad_conv.testing import gradcheck, gradgradcheck

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
ROOT = pathlib.Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- max_unpool2d
def unpool_both(torch: Any, x: np.ndarray, idx: np.ndarray, *args: Any, seed: int = 0,
                **kwargs: Any) -> tuple[Any, Any]:
    """Our and PyTorch's (output, input gradient) of max_unpool2d, with a random upstream gradient."""
    t = tc.Tensor(x.copy(), requires_grad=True)
    y = F.max_unpool2d(t, tc.Tensor(idx), *args, **kwargs)
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    y.backward(tc.Tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_unpool2d(tx, torch.from_numpy(idx), *args, **kwargs)
    ty.backward(torch.from_numpy(g))
    return (y.detach().numpy(), t.grad.detach().numpy()), (ty.detach().numpy(), tx.grad.numpy())


def test_max_unpool_keeps_one_value_of_a_repeated_index_like_torch(torch):
    x = np.array([[[[1.0, 2.0, 3.0, 4.0]]]])
    idx = np.array([[[[3, 3, 1, 3]]]])
    (y, dx), (ty, tdx) = unpool_both(torch, x, idx, (1, 2), output_size=(1, 8))
    # The last value written at index 3 is kept, not the sum 1 + 2 + 4 (the old behaviour).
    assert y.tolist() == [[[[0.0, 3.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0]]]] == ty.tolist()
    np.testing.assert_array_equal(dx, tdx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool_random_repeated_indices_match_torch(torch, dtype):
    rng = np.random.default_rng(1)
    # Indices drawn from a small range, so most of them repeat.
    for shape, plane, args, kwargs in [((2, 3, 5, 6), 30, (2,), {}),
                                       ((3, 4, 4), 20, (2, 1), {"output_size": (5, 5)}),
                                       ((1, 2, 9, 9), 20, ((2, 3), (1, 2)), {"output_size": (1, 2, 10, 19)})]:
        x = rng.standard_normal(shape).astype(dtype)
        idx = rng.integers(0, plane, shape)
        (y, dx), (ty, tdx) = unpool_both(torch, x, idx, *args, **kwargs)
        np.testing.assert_array_equal(y, ty)
        np.testing.assert_allclose(dx, tdx, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool_after_overlapping_max_pool_matches_torch(torch, dtype):
    """Overlapping windows (stride < kernel) pick the same maximum several times: the case the old
    code got wrong, and the one SegNet-like models with 3x3 stride-2 pools run into."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    for k, s, p in [(3, 1, 1), (3, 2, 1), ((2, 3), (1, 2), 0)]:
        y, idx = F.max_pool2d(tc.Tensor(x), k, s, p, return_indices=True)
        assert len(np.unique(idx.detach().numpy()[0, 0])) < idx.detach().numpy()[0, 0].size  # indices do repeat
        (out, dy), (tout, tdy) = unpool_both(torch, y.detach().numpy(), idx.detach().numpy(), k, s, p,
                                             output_size=x.shape[-2:])
        np.testing.assert_array_equal(out, tout)
        np.testing.assert_allclose(dy, tdy, **TOL[dtype])


def test_max_unpool_double_backward_matches_torch_with_repeated_indices(torch):
    rng = np.random.default_rng(3)
    x, v, w = rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((2, 2, 3, 3))
    idx = rng.integers(0, 16, (2, 2, 3, 3))
    t, tv = tc.Tensor(x, requires_grad=True), tc.Tensor(v, requires_grad=True)
    (gx,) = tc.grad(F.max_unpool2d(t, tc.Tensor(idx), 2), t, tv, create_graph=True)
    (gv,) = tc.grad((gx * tc.Tensor(w)).sum(), tv)
    tx, ttv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
    ty = torch.nn.functional.max_unpool2d(tx, torch.from_numpy(idx), 2)
    (tgx,) = torch.autograd.grad(ty, tx, ttv, create_graph=True)
    (tgv,) = torch.autograd.grad((tgx * torch.from_numpy(w)).sum(), ttv)
    np.testing.assert_allclose(gx.detach().numpy(), tgx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gv.detach().numpy(), tgv.numpy(), rtol=1e-12)


def test_max_unpool_distinct_indices_pass_finite_differences():
    # With repeated indices PyTorch's gradient (which we follow) is not the derivative of the kept
    # value, so finite differences only apply where the indices are distinct.
    rng = np.random.default_rng(4)
    idx = tc.Tensor(np.stack([rng.permutation(20)[:6] for _ in range(4)]).reshape(2, 2, 2, 3))
    x = tc.Tensor(rng.standard_normal((2, 2, 2, 3)), requires_grad=True)

    def fn(t: tc.Tensor) -> tc.Tensor:
        return F.max_unpool2d(t, idx, (2, 3))  # a 4x9 output

    assert gradcheck(fn, (x,)) and gradgradcheck(fn, (x,))


def test_max_unpool_skips_minus_one():
    # -1 is our index for a window wholly in the padding (PyTorch has none): it writes nothing.
    out = F.max_unpool2d(tc.Tensor(np.array([[[[5.0, 7.0]]]])), tc.Tensor(np.array([[[[-1, 2]]]])), (1, 2))
    assert out.tolist() == [[[[0.0, 0.0, 7.0, 0.0]]]]


def test_max_unpool_signature_is_torchs(torch):
    import inspect

    ours = list(inspect.signature(F.max_unpool2d).parameters.items())
    theirs = list(inspect.signature(torch.nn.functional.max_unpool2d).parameters.items())
    assert [(n, p.default) for n, p in ours] == [(n, p.default) for n, p in theirs]


def test_max_pool_backward_is_its_own_scatter_add_op():
    info = registry()["max_pool2d_backward"]
    assert info.method is None and not info.functional and info.twice_differentiable
    assert "max_pool2d_backward" not in dir(F)  # PyTorch has no such public name
    with pytest.raises(AttributeError, match="has no attribute 'max_pool2d_backward'"):
        _ = F.max_pool2d_backward
    x = tc.Tensor(np.array([[[[0.0, 5.0, 0.0]]]]), requires_grad=True)
    y = F.max_pool2d(x, (1, 2), stride=1)
    v = tc.Tensor(np.array([[[[1.0, 2.0]]]]), requires_grad=True)
    (gx,) = tc.grad(y, x, v, create_graph=True)
    # Both windows picked the 5: its gradient is the sum of theirs.
    assert gx.tolist() == [[[[0.0, 3.0, 0.0]]]]
    assert gx.grad_fn.name == "max_pool2d_backward"
    # Its backward is the gather at the same indices: each window reads the weight of its maximum.
    (gv,) = tc.grad((gx * tc.Tensor(np.array([[[[10.0, 20.0, 30.0]]]]))).sum(), v)
    assert gv.tolist() == [[[[20.0, 20.0]]]]


@pytest.mark.parametrize("kwargs", [{"kernel_size": 3, "stride": 1, "padding": 1},
                                    {"kernel_size": (3, 2), "stride": (2, 1), "dilation": (1, 2)},
                                    {"kernel_size": 2, "ceil_mode": True, "stride": 2}])
def test_max_pool_is_twice_differentiable_with_overlapping_windows(torch, kwargs):
    """gradgradcheck in float64, and the double backward against PyTorch's."""
    rng = np.random.default_rng(5)
    x = (rng.permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) * 0.1).astype(np.float64)  # no ties
    t = tc.Tensor(x, requires_grad=True)
    assert gradgradcheck(lambda a: F.max_pool2d(a, **kwargs), (t,))
    v = rng.standard_normal(F.max_pool2d(t, **kwargs).shape)
    w = rng.standard_normal(x.shape)
    tv = tc.Tensor(v, requires_grad=True)
    (gx,) = tc.grad(F.max_pool2d(t, **kwargs), t, tv, create_graph=True)
    (gv,) = tc.grad((gx * tc.Tensor(w)).sum(), tv)
    tx, ttv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
    (tgx,) = torch.autograd.grad(torch.nn.functional.max_pool2d(tx, **kwargs), tx, ttv, create_graph=True)
    (tgv,) = torch.autograd.grad((tgx * torch.from_numpy(w)).sum(), ttv)
    np.testing.assert_allclose(gx.detach().numpy(), tgx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gv.detach().numpy(), tgv.numpy(), rtol=1e-12)


def test_max_unpool_module_matches_torch(torch):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 7, 7))
    for args, size in [((2,), (7, 7)), ((3, 2, 1), None), (((2, 3), None, (1, 0)), (7, 7))]:
        pool_args = (args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else 0)
        ours, theirs = nn.MaxUnpool2d(*args), torch.nn.MaxUnpool2d(*args)
        assert repr(ours) == repr(theirs)
        y, idx = nn.MaxPool2d(*pool_args, return_indices=True)(tc.Tensor(x))
        ty, tidx = torch.nn.MaxPool2d(*pool_args, return_indices=True)(torch.from_numpy(x))
        yt = tc.Tensor(y.detach().numpy(), requires_grad=True)
        tyt = torch.tensor(y.detach().numpy(), requires_grad=True)
        out, tout = ours(yt, idx, output_size=size), theirs(tyt, tidx, output_size=size)
        g = rng.standard_normal(out.shape)
        out.backward(tc.Tensor(g))
        tout.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
        np.testing.assert_allclose(yt.grad.detach().numpy(), tyt.grad.numpy(), rtol=1e-12)
    assert "MaxUnpool2d" in nn.__all__


# ----------------------------------------------------------------------------- dtype mismatch
def conv_calls() -> Any:
    """(name, our call, PyTorch's call) for operands of mixed float32 / float64."""
    yield "conv2d weight", "weight type (double)", lambda m, f32, f64: m.conv2d(f32((2, 3, 5, 5)), f64((4, 3, 3, 3)))
    yield "conv2d input", "weight type (float)", lambda m, f32, f64: m.conv2d(f64((2, 3, 5, 5)), f32((4, 3, 3, 3)))
    yield "conv2d bias", "bias type (double)", \
        lambda m, f32, f64: m.conv2d(f32((2, 3, 5, 5)), f32((4, 3, 3, 3)), f64((4,)))
    yield "conv_transpose2d weight", "weight type (double)", \
        lambda m, f32, f64: m.conv_transpose2d(f32((2, 3, 5, 5)), f64((3, 4, 3, 3)))
    yield "conv_transpose2d bias", "bias type (double)", \
        lambda m, f32, f64: m.conv_transpose2d(f32((2, 3, 5, 5)), f32((3, 4, 3, 3)), f64((4,)), stride=2)
    yield "conv2d unbatched", "weight type (double)", lambda m, f32, f64: m.conv2d(f32((3, 5, 5)), f64((4, 3, 3, 3)))


CONV_CALLS = list(conv_calls())


@pytest.mark.parametrize("case", range(len(CONV_CALLS)), ids=[c[0] for c in CONV_CALLS])
def test_mixed_dtypes_raise_torchs_runtime_error(torch, case):
    name, words, call = CONV_CALLS[case]
    with pytest.raises(RuntimeError):  # PyTorch's wording depends on the operand and its backend
        call(torch.nn.functional, lambda s: torch.zeros(s), lambda s: torch.zeros(s, dtype=torch.float64))
    tensors: list[tc.Tensor] = []

    def make(dtype: Any) -> Any:
        def build(shape: tuple[int, ...]) -> tc.Tensor:
            tensors.append(tc.Tensor(np.ones(shape, dtype), requires_grad=True))
            return tensors[-1]
        return build

    with pytest.raises(RuntimeError) as err:
        call(F, make(np.float32), make(np.float64))
    message = str(err.value)
    assert message.startswith(name.split()[0] + ": Input type (") and words in message, message
    assert "float32" in message and "float64" in message
    assert all(t.grad is None and t.grad_fn is None for t in tensors)


def test_conv_modules_with_another_dtype_raise(torch):
    for module, tmodule in [(nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 4, 3)),
                            (nn.ConvTranspose2d(3, 4, 3), torch.nn.ConvTranspose2d(3, 4, 3)),
                            (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
                             torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))]:
        with pytest.raises(RuntimeError):  # "Input type (double) and bias type (float)", or another wording
            tmodule(torch.zeros(1, 3, 5, 5, dtype=torch.float64))
        with pytest.raises(RuntimeError, match=r"Input type \(double\) and weight type \(float\) should be the same"):
            module(tc.Tensor(np.zeros((1, 3, 5, 5))))


def test_conv_weight_grad_refuses_mixed_dtypes():
    with pytest.raises(RuntimeError, match=r"conv2d_weight_grad: Input type \(double\) and grad_output type \(float\)"):
        F.conv2d_weight_grad(tc.Tensor(np.ones((1, 2, 4, 4))), tc.Tensor(np.ones((1, 3, 2, 2), np.float32)), 3)


def test_mixed_dtypes_raise_under_python_O():
    """With asserts stripped the old code answered in float32; the check must not be an assert."""
    code = ("import numpy as np, tinygrad_conv as tc, tinygrad_conv.functional as F\n"
            "x = tc.Tensor(np.ones((1, 2, 4, 4), np.float32)); w = tc.Tensor(np.ones((3, 2, 3, 3)))\n"
            "for call in (lambda: F.conv2d(x, w), lambda: F.conv_transpose2d(x, tc.Tensor(np.ones((2, 3, 3, 3))))):\n"
            "    try:\n"
            "        call()\n"
            "    except RuntimeError as err:\n"
            "        assert 'weight type (double)' in str(err)\n"
            "    else:\n"
            "        raise SystemExit('no error under -O')\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_kernels_raise_clear_errors_not_assertions():
    """The registered backward ops can be called with arbitrary arrays: their kernels check."""
    x32, x64 = np.ones((1, 2, 4, 4), np.float32), np.ones((1, 2, 4, 4))
    calls = [
        (lambda: KC.conv2d(x32, np.ones((3, 2, 3, 3)), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), TypeError, "same dtype"),
        (lambda: KC.conv2d(x64, np.ones((3, 3, 3, 3)), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), ValueError, "groups=1"),
        (lambda: KC.conv2d(x64, np.ones((3, 2, 5, 5)), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), ValueError,
         "does not fit"),
        (lambda: KC.conv_transpose2d(x64, np.ones((2, 3, 3, 3)), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, (3, 3)),
         ValueError, "too small"),
        (lambda: KC.conv2d_weight_grad(x64, np.ones((2, 3, 2, 2)), (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
         ValueError, "batch sizes"),
        (lambda: KC.conv2d_weight_grad(x64, np.ones((1, 3, 5, 5)), (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
         ValueError, "at most 2x2"),
        (lambda: KP.max_pool2d(np.ones((2, 4, 4)), (2, 2), (2, 2), (0, 0), (1, 1), False), ValueError, "4-d"),
        (lambda: KP.max_pool2d(x64, (5, 5), (1, 1), (0, 0), (1, 1), False), ValueError, "do not fit"),
        (lambda: KP.avg_pool2d_backward(np.ones((1, 2, 3, 3)), (4, 4), (2, 2), (2, 2), (0, 0), False, True, None),
         ValueError, "gives 2x2"),
        (lambda: KP.scatter_add_plane(np.ones((1, 2, 2, 2)), np.zeros((1, 2, 2, 3), np.int64), (4, 4)),
         ValueError, "one shape"),
        (lambda: KP.unpool_plane(np.ones((1, 2, 2, 2)), np.zeros((1, 2, 2, 3), np.int64), (4, 4)),
         ValueError, "one shape"),
        (lambda: KP.gather_plane(np.ones((1, 2, 2, 2)), np.zeros((1, 3, 2, 3), np.int64)), ValueError, "(N, C)"),
    ]
    for call, kind, words in calls:
        with pytest.raises(kind) as err:
            call()
        assert words in str(err.value), str(err.value)


@pytest.mark.parametrize("path", ["tinygrad_conv/ops/conv.py", "tinygrad_conv/ops/pool.py",
                                  "tinygrad_conv/kernels/conv.py", "tinygrad_conv/kernels/pool.py"])
def test_no_assert_statements_left(path):
    """``python -O`` strips asserts, and a bare AssertionError tells a user nothing: checks raise."""
    tree = ast.parse((ROOT / path).read_text())
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not lines, f"{path} still asserts on lines {lines}"


# ----------------------------------------------------------------------------- empty batches
def empty_cases() -> Any:
    """(name, our fn, PyTorch's fn, input shape, weight shape or None) on a batch of 0."""
    yield "conv2d", lambda m, x, w, b: m.conv2d(x, w, b, padding=1), (0, 3, 5, 5), (4, 3, 3, 3)
    yield "conv2d strided groups", lambda m, x, w, b: m.conv2d(x, w, b, stride=2, groups=3, dilation=2), \
        (0, 6, 9, 8), (3, 2, 3, 3)
    yield "conv2d winograd-sized", lambda m, x, w, b: m.conv2d(x, w, b, padding=1), (0, 32, 8, 8), (32, 32, 3, 3)
    yield "conv_transpose2d", lambda m, x, w, b: m.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1), \
        (0, 3, 5, 5), (3, 4, 3, 3)
    yield "conv_transpose2d groups", lambda m, x, w, b: m.conv_transpose2d(x, w, b, groups=2, dilation=2), \
        (0, 4, 4, 3), (4, 1, 2, 3)
    yield "max_pool2d", lambda m, x, w, b: m.max_pool2d(x, 3, 2, 1), (0, 3, 7, 7), None
    yield "max_pool2d indices", lambda m, x, w, b: m.max_pool2d(x, 2, return_indices=True)[0], (0, 3, 6, 6), None
    yield "avg_pool2d", lambda m, x, w, b: m.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (0, 3, 7, 7), None
    yield "adaptive_avg_pool2d", lambda m, x, w, b: m.adaptive_avg_pool2d(x, (2, 3)), (0, 3, 7, 7), None


EMPTY = list(empty_cases())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(EMPTY)), ids=[c[0] for c in EMPTY])
def test_empty_batch_forward_and_backward_like_torch(torch, case, dtype):
    name, fn, xshape, wshape = EMPTY[case]
    rng = np.random.default_rng(7)
    x = tc.Tensor(np.zeros(xshape, dtype), requires_grad=True)
    tx = torch.zeros(xshape, dtype=torch.from_numpy(np.zeros(0, dtype)).dtype, requires_grad=True)
    if wshape is not None:
        w_np = rng.standard_normal(wshape).astype(dtype)
        nout = wshape[0] if name.startswith("conv2d") else wshape[1] * (2 if "groups" in name else 1)
        b_np = rng.standard_normal(nout).astype(dtype)
        w, b = tc.Tensor(w_np, requires_grad=True), tc.Tensor(b_np, requires_grad=True)
        tw, tb = torch.tensor(w_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    else:
        w = b = tw = tb = None
    y, ty = fn(F, x, w, b), fn(torch.nn.functional, tx, tw, tb)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    (y * tc.Tensor(np.ones(y.shape, dtype))).sum().backward()
    ty.sum().backward()
    assert x.grad.shape == xshape and x.grad.dtype == dtype
    if w is not None:
        assert w.grad.shape == wshape and not w.grad.detach().numpy().any() and not tw.grad.numpy().any()
        assert b.grad.shape == b_np.shape and not b.grad.detach().numpy().any()


def test_empty_batch_double_backward_and_weight_grad_op(torch):
    x = tc.Tensor(np.zeros((0, 3, 5, 5)), requires_grad=True)
    w = tc.Tensor(np.random.default_rng(8).standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    (gw,) = tc.grad(y, w, tc.Tensor(np.zeros(y.shape), requires_grad=True), create_graph=True)
    assert gw.shape == (4, 3, 3, 3) and not gw.detach().numpy().any()
    (ggx,) = tc.grad(gw.sum(), x)
    assert ggx.shape == (0, 3, 5, 5)
    dw = F.conv2d_weight_grad(tc.Tensor(np.zeros((0, 4, 6, 6))), tc.Tensor(np.zeros((0, 6, 2, 2))), 3, stride=2,
                              groups=2)
    expected = torch.nn.grad.conv2d_weight(torch.zeros(0, 4, 6, 6), (6, 2, 3, 3), torch.zeros(0, 6, 2, 2), stride=2,
                                           groups=2)
    assert dw.shape == tuple(expected.shape) and not dw.detach().numpy().any()


def test_empty_non_batch_dimensions_are_refused_clearly():
    for shape, wshape, words in [((2, 0, 5, 5), (4, 0, 3, 3), "empty dimension"),
                                 ((2, 3, 5, 5), (0, 3, 3, 3), "empty dimension"),
                                 ((2, 3, 0, 5), (4, 3, 3, 3), "only the batch dimension may be 0")]:
        with pytest.raises(ValueError, match=words):
            F.conv2d(tc.Tensor(np.zeros(shape)), tc.Tensor(np.zeros(wshape)))
