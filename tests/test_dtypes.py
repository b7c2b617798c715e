"""dtypes against PyTorch: names, the default dtype, torch.result_type for every pair of dtypes and
operand kinds (tensor with dims, 0-d tensor, Python number), and the dtypes (values and gradients)
of the ops that promote."""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 3, 2.5]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def default_float64():
    tc.set_default_dtype(tc.float64)
    try:
        yield
    finally:
        tc.set_default_dtype(tc.float32)


def _values(name: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if name == "uint8" or name.startswith("int"):
        return np.asarray(rng.integers(1, 5, shape)).astype(name)  # positive: pow's exponents stay valid
    return np.asarray(rng.uniform(0.5, 2.0, shape)).astype(name)


def _operand(kind: str, name: str, seed: int = 0):
    """(ours, torch's) for a tensor with dims ('nd'), a 0-d tensor ('0d'), or a Python number."""
    import torch

    if kind == "scalar":
        return name, name
    arr = _values(name, (2, 3) if kind == "nd" else (), seed)
    return tc.Tensor(arr), torch.from_numpy(arr.copy())


def _torch_dtype(torch, dt: np.dtype):
    return getattr(torch, "bool" if dt == np.bool_ else np.dtype(dt).name)


OPERANDS = [(k, d) for k in ("nd", "0d") for d in DTYPES] + [("scalar", s) for s in SCALARS]


# ----------------------------------------------------------------------------- names
def test_dtype_names_are_numpy_dtypes_that_compare_with_tensor_dtypes():
    pairs = {"float": "float32", "float32": "float32", "double": "float64", "float64": "float64",
             "half": "float16", "float16": "float16", "long": "int64", "int64": "int64", "int": "int32",
             "int32": "int32", "short": "int16", "int16": "int16", "int8": "int8", "uint8": "uint8",
             "bool": "bool"}
    for name, numpy_name in pairs.items():
        dt = getattr(tc, name)
        assert dt == np.dtype(numpy_name), name
        t = tc.zeros(2, dtype=dt)
        assert t.dtype == dt and t.dtype == getattr(tc, numpy_name if name != "bool" else "bool")
        assert tc.tensor([1, 0], dtype=dt).dtype == dt
    assert tc.Tensor([1.0]).dtype == tc.float32 and tc.Tensor([1]).dtype == tc.long


def test_dtype_names_match_torch_sizes(torch):
    for name in ["float", "float32", "double", "float64", "half", "float16", "long", "int64", "int", "int32",
                 "short", "int16", "int8", "uint8", "bool"]:
        assert getattr(tc, name).itemsize == getattr(torch, name).itemsize, name
        assert getattr(tc, name).kind == ("f" if getattr(torch, name).is_floating_point else
                                          "b" if name == "bool" else getattr(tc, name).kind)


# ----------------------------------------------------------------------------- default dtype
def test_default_dtype_is_float32_and_python_floats_follow_it(default_float64):
    tc.set_default_dtype(tc.float32)
    assert tc.get_default_dtype() == tc.float32
    assert tc.tensor(1.5).dtype == tc.float32 and tc.Tensor([1.5]).dtype == tc.float32
    tc.set_default_dtype(tc.float64)
    assert tc.get_default_dtype() == tc.float64
    assert tc.tensor([1.5]).dtype == tc.float64 and tc.Tensor(2.0).dtype == tc.float64
    assert tc.zeros(2).dtype == tc.float64 and tc.randn(2).dtype == tc.float64
    assert (tc.tensor([1, 2]) / tc.tensor([2, 2])).dtype == tc.float64
    assert (tc.tensor([1, 2]) * 0.5).dtype == tc.float64
    # NumPy arrays keep their dtype whatever the default.
    assert tc.Tensor(np.zeros(2, dtype=np.float32)).dtype == tc.float32


def test_set_default_dtype_refuses_what_torch_refuses(torch):
    for bad in [tc.int64, tc.int32, tc.bool, "int64"]:
        with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
            tc.set_default_dtype(bad)
        with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
            torch.set_default_dtype(_torch_dtype(torch, np.dtype(bad)))
    with pytest.raises(TypeError, match="float32 and float64"):
        tc.set_default_dtype(tc.float16)
    with pytest.raises(TypeError, match="set_default_dtype"):
        tc.set_default_dtype("not a dtype")
    assert tc.get_default_dtype() == tc.float32  # a refused call changed nothing


# ----------------------------------------------------------------------------- result_type
@pytest.mark.parametrize("default", ["float32", "float64"])
def test_result_type_matches_torch_for_every_pair(torch, default):
    torch_default = torch.get_default_dtype()
    tc.set_default_dtype(default)
    torch.set_default_dtype(getattr(torch, default))
    try:
        mismatches = []
        for (ka, da), (kb, db) in itertools.product(OPERANDS, OPERANDS):
            a, ta = _operand(ka, da, 0)
            b, tb = _operand(kb, db, 1)
            ours = tc.result_type(a, b)
            ref = torch.result_type(ta, tb)
            if ours != np.dtype(str(ref).replace("torch.", "")):
                mismatches.append(f"{ka} {da} with {kb} {db}: ours {ours}, torch {ref}")
        assert not mismatches, "\n".join(mismatches)
    finally:
        tc.set_default_dtype(tc.float32)
        torch.set_default_dtype(torch_default)


def test_promote_types_and_can_cast_match_torch(torch):
    for a, b in itertools.product(DTYPES, DTYPES):
        ta, tb = getattr(torch, a), getattr(torch, b)
        assert tc.promote_types(getattr(tc, a), getattr(tc, b)) == \
            _np_name(torch.promote_types(ta, tb)), (a, b)
        assert tc.can_cast(getattr(tc, a), getattr(tc, b)) == torch.can_cast(ta, tb), (a, b)


def _np_name(torch_dtype) -> np.dtype:
    return np.dtype(str(torch_dtype).replace("torch.", ""))


def test_promote_types_refuses_unsupported_dtypes():
    with pytest.raises(TypeError, match="promotion for dtype uint16 is not supported"):
        tc.promote_types(np.uint16, tc.int8)
    with pytest.raises(TypeError, match="result_type: expected a Tensor or a Python number"):
        tc.result_type(tc.zeros(2), "a")


def test_numpy_scalars_count_as_python_numbers(torch):
    f32 = tc.zeros(3)
    i32 = tc.zeros(3, dtype=tc.int32)
    assert torch.result_type(torch.zeros(3), np.float64(2.0)) == torch.float32
    assert tc.result_type(f32, np.float64(2.0)) == tc.float32
    assert tc.result_type(i32, np.int64(2)) == tc.int32
    assert (i32 * np.float64(2.0)).dtype == tc.float32


# ----------------------------------------------------------------------------- ops
BINARY = {
    "add": (lambda a, b: a + b, lambda t, a, b: t.add(a, b) if not _both_scalars(a, b) else None),
    "sub": (lambda a, b: a - b, lambda t, a, b: t.sub(a, b) if not _both_scalars(a, b) else None),
    "mul": (lambda a, b: a * b, lambda t, a, b: t.mul(a, b) if not _both_scalars(a, b) else None),
    "div": (lambda a, b: a / b, lambda t, a, b: t.div(a, b) if not _both_scalars(a, b) else None),
    "pow": (lambda a, b: a ** b, lambda t, a, b: t.pow(a, b) if not _both_scalars(a, b) else None),
    "maximum": (lambda a, b: tc.ops.elementwise.maximum(a, b), lambda t, a, b: t.maximum(a, b)),
    "minimum": (lambda a, b: tc.ops.elementwise.minimum(a, b), lambda t, a, b: t.minimum(a, b)),
    "where": (lambda a, b: tc.ops.elementwise.where(tc.Tensor(np.array([[True, False, True]] * 2)), a, b),
              lambda t, a, b: t.where(t.tensor([[True, False, True]] * 2), a, b)),
}


def _both_scalars(a, b) -> bool:
    return not hasattr(a, "shape") and not hasattr(b, "shape")


def _is_tensor(x) -> bool:
    return isinstance(x, tc.Tensor)


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_ops_give_torch_dtypes_and_values(torch, op):
    ours_fn, torch_fn = BINARY[op]
    checked = 0
    for (ka, da), (kb, db) in itertools.product(OPERANDS, OPERANDS):
        if ka == "scalar" and kb == "scalar":
            continue
        if op in ("maximum", "minimum") and "scalar" in (ka, kb):
            continue  # torch.maximum takes tensors only
        a, ta = _operand(ka, da, 0)
        b, tb = _operand(kb, db, 1)
        try:
            ref = torch_fn(torch, ta, tb)
        except (RuntimeError, NotImplementedError) as e:  # e.g. a bool tensor in a subtraction: refused alike
            with pytest.raises(type(e), match=re.escape(str(e).splitlines()[0])):
                ours_fn(a, b)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):  # a bool False divisor: inf and nan, as torch
            out = ours_fn(a, b)
        assert out.dtype == _np_name(ref.dtype), f"{op}: {ka} {da} with {kb} {db}: {out.dtype} vs {ref.dtype}"
        tol = 2e-3 if out.dtype == np.float16 else 1e-6
        np.testing.assert_allclose(out.numpy().astype(np.float64), ref.numpy().astype(np.float64),
                                   rtol=tol, atol=tol, err_msg=f"{op}: {ka} {da} with {kb} {db}")
        checked += 1
    assert checked > 100


FLOAT_MIXES = [
    (("nd", "float32"), ("0d", "float64")),
    (("0d", "float64"), ("nd", "float32")),
    (("nd", "float64"), ("nd", "float32")),
    (("nd", "float16"), ("0d", "float32")),
    (("nd", "float32"), ("nd", "float32")),
]
GRAD_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "where"]


@pytest.mark.parametrize("op", GRAD_OPS)
@pytest.mark.parametrize("mix", FLOAT_MIXES, ids=lambda m: f"{m[0][0]}{m[0][1]}-{m[1][0]}{m[1][1]}")
def test_gradients_of_mixed_float_dtypes_match_torch(torch, op, mix):
    (ka, da), (kb, db) = mix
    ours_fn, torch_fn = BINARY[op]
    xa = _values(da, (2, 3) if ka == "nd" else (), 2)
    xb = _values(db, (2, 3) if kb == "nd" else (), 3)
    a, b = tc.Tensor(xa, requires_grad=True), tc.Tensor(xb, requires_grad=True)
    ta = torch.from_numpy(xa.copy()).requires_grad_()
    tb = torch.from_numpy(xb.copy()).requires_grad_()
    out, ref = ours_fn(a, b), torch_fn(torch, ta, tb)
    assert out.dtype == _np_name(ref.dtype)
    g = np.random.default_rng(4).standard_normal(ref.shape).astype(out.dtype)  # a random upstream grad
    out.backward(tc.Tensor(g))
    ref.backward(torch.from_numpy(g))
    tol = 5e-3 if np.float16 in (a.dtype, b.dtype) else 1e-5
    for ours, theirs in ((a, ta), (b, tb)):
        assert ours.grad.dtype == ours.dtype == _np_name(theirs.grad.dtype)
        np.testing.assert_allclose(ours.grad.numpy().astype(np.float64), theirs.grad.numpy().astype(np.float64),
                                   rtol=tol, atol=tol)


def test_mixed_dtype_gradients_pass_gradcheck():
    # float64 finite differences through a 0-d float64 parameter scaling a float64 tensor
    # by way of a Python float and an integer tensor (which gets no gradient).
    x = tc.Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    s = tc.Tensor(np.array(0.7), requires_grad=True)
    idx = tc.tensor([[1, 2, 3, 4]])
    assert tc.gradcheck(lambda x, s: (x * s + idx) / idx * 2.5, (x, s))
    assert tc.gradgradcheck(lambda x, s: (x * s + idx) / idx * 2.5, (x, s))


def test_integer_inputs_get_no_gradient(torch):
    x = tc.Tensor(np.array([1.5, -2.0, 0.5], dtype=np.float32), requires_grad=True)
    i = tc.tensor([1, 2, 3])
    y = x * i + i / 2
    assert y.dtype == tc.float32 and (torch.tensor([1.5]) * torch.tensor([1])).dtype == torch.float32
    g = np.random.default_rng(0).standard_normal(3).astype(np.float32)
    y.backward(tc.Tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), g * np.array([1, 2, 3]), rtol=1e-6)
    assert i.grad is None and not i.requires_grad


def test_old_numpy_promotions_are_gone():
    # Each of these came out float64 when ops followed NumPy.
    f = tc.ones(3)
    assert (f * tc.tensor([1, 2, 3])).dtype == tc.float32
    assert (tc.tensor([1, 2]) / tc.tensor([3, 4])).dtype == tc.float32
    assert (f * tc.tensor(2.0, dtype=tc.float64)).dtype == tc.float32
    assert (tc.tensor([1, 2]) * 2.5).dtype == tc.float32
    assert (2.5 - tc.tensor([1, 2])).dtype == tc.float32


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_float_functions_of_integer_tensors_give_the_default_float_dtype(torch, name, dtype):
    x = _values(dtype, (2, 3), 0)
    with np.errstate(divide="ignore"):  # log(False) is -inf, as in torch
        ours = getattr(tc.Tensor(x), name)()
    ref = getattr(torch, name)(torch.from_numpy(x.copy()))
    assert ours.dtype == _np_name(ref.dtype) == tc.float32
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


def test_neg_and_sub_of_bool_raise_torch_errors(torch):
    b = tc.tensor([True, False])
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor is not supported"):
        b.neg()
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor is not supported"):
        torch.tensor([True]).neg()
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with two bool tensors"):
        b - b
    assert (b + b).dtype == tc.bool and (b * b).dtype == tc.bool and (b + 1).dtype == tc.int64


def test_integer_pow_to_negative_powers_follows_torch(torch):
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        torch.tensor([2, 3]) ** -1
    with pytest.raises(RuntimeError, match="pow: Integers to negative integer powers are not allowed"):
        tc.tensor([2, 3]) ** -1
    # In a tensor, a negative exponent gives C's integer answer (1, -1 or 0), where NumPy raises.
    base, exp = [1, -1, -1, 2, 0, 3, -4], [-3, -3, -2, -1, -1, 2, 3]
    ours = tc.tensor(base) ** tc.tensor(exp)
    ref = torch.tensor(base) ** torch.tensor(exp)
    assert ours.dtype == _np_name(ref.dtype) and ours.tolist() == ref.tolist()
    assert (2 ** tc.tensor(exp)).tolist() == (2 ** torch.tensor(exp)).tolist()
    assert (tc.tensor([2, 3]) ** 2).dtype == tc.int64
    assert (tc.tensor([2, 3]) ** 0.5).dtype == tc.float32 == _np_name((torch.tensor([2]) ** 0.5).dtype)


@pytest.mark.parametrize("dtype", ["int64", "float32", "float64", "uint8"])
@pytest.mark.parametrize("bounds", [{"min": 1.5}, {"max": 2}, {"min": 1, "max": 3.5}, {"min": "0d64"}])
def test_clamp_promotes_as_torch(torch, dtype, bounds):
    x = _values(dtype, (2, 3), 0)
    ours_b = {k: (tc.tensor(1.5, dtype=tc.float64) if v == "0d64" else v) for k, v in bounds.items()}
    torch_b = {k: (torch.tensor(1.5, dtype=torch.float64) if v == "0d64" else v) for k, v in bounds.items()}
    ours = tc.ops.elementwise.clamp(tc.Tensor(x), **ours_b)
    ref = torch.clamp(torch.from_numpy(x.copy()), **torch_b)
    assert ours.dtype == _np_name(ref.dtype), (ours.dtype, ref.dtype)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


def test_matmul_refuses_mixed_dtypes_as_torch(torch):
    a32, a64 = np.ones((2, 3), np.float32), np.ones((3, 2), np.float64)
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.from_numpy(a32) @ torch.from_numpy(a64)
    with pytest.raises(RuntimeError, match="matmul: expected both arguments to have the same dtype, but got "
                                           "float32 and float64"):
        tc.Tensor(a32) @ tc.Tensor(a64)
    ints = tc.tensor([[1, 2], [3, 4]]) @ tc.tensor([[1], [1]])
    ref = torch.tensor([[1, 2], [3, 4]]) @ torch.tensor([[1], [1]])
    assert ints.dtype == _np_name(ref.dtype) and ints.tolist() == ref.tolist()


def test_cast_names_the_bad_dtype():
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        tc.ones(2).to(np.complex128)


OTHER_OPS = {
    "sum int32": (lambda m, x: x.sum(), np.arange(6, dtype=np.int32).reshape(2, 3)),
    "sum bool": (lambda m, x: x.sum(), np.array([True, False])),
    "mean float16": (lambda m, x: x.mean(), np.ones(3, np.float16)),
    "max int32": (lambda m, x: x.max(), np.arange(6, dtype=np.int32)),
    "relu int64": (lambda m, x: m.nn.functional.relu(x) if m is not tc else tc.functional.relu(x),
                   np.arange(6, dtype=np.int64)),
    "abs int64": (lambda m, x: x.abs(), np.arange(6, dtype=np.int64) - 3),
    "neg int8": (lambda m, x: -x, np.arange(6, dtype=np.int8)),
    "softmax float64": (lambda m, x: x.softmax(0), np.ones(3)),
    "reshape int16": (lambda m, x: x.reshape(3, 2), np.ones((2, 3), np.int16)),
    "transpose uint8": (lambda m, x: x.transpose(0, 1), np.ones((2, 3), np.uint8)),
    "getitem int8": (lambda m, x: x[0], np.ones((2, 3), np.int8)),
    "float()": (lambda m, x: x.float(), np.ones(3, np.int64)),
    "double()": (lambda m, x: x.double(), np.ones(3, np.float32)),
    "long()": (lambda m, x: x.long(), np.ones(3, np.float64)),
    "eq float scalar": (lambda m, x: x == 1.5, np.ones(3, np.int64)),
    "lt mixed": (lambda m, x: x < x.float(), np.ones(3, np.int64)),
    "where scalars": (lambda m, x: (m if m is not tc else tc.ops.elementwise).where(x > 0, 1.0, 0.0),
                      np.arange(3) - 1),
}


@pytest.mark.parametrize("name", list(OTHER_OPS))
def test_result_dtypes_of_other_op_families_match_torch(torch, name):
    fn, arr = OTHER_OPS[name]
    ref = fn(torch, torch.from_numpy(arr.copy()))
    ours = fn(tc, tc.Tensor(arr.copy()))
    assert ours.dtype == _np_name(ref.dtype)
    np.testing.assert_allclose(np.asarray(ours.tolist(), dtype=np.float64), np.asarray(ref.tolist(), dtype=np.float64),
                               rtol=1e-6)


@pytest.mark.parametrize("which", ["cat", "stack"])
def test_cat_and_stack_promote_as_torch(torch, which):
    from tinygrad_conv.ops import shape

    parts = [(np.ones((2, 3), np.float32), True), (np.arange(6).reshape(2, 3), False),
             (np.ones((2, 3), np.float64), True), (np.ones((2, 3), bool), False)]
    for a_arr, a_grad in parts:
        for b_arr, b_grad in parts:
            a = tc.Tensor(a_arr, requires_grad=a_grad)
            b = tc.Tensor(b_arr, requires_grad=b_grad)
            ta = torch.from_numpy(a_arr.copy()).requires_grad_(a_grad)
            tb = torch.from_numpy(b_arr.copy()).requires_grad_(b_grad)
            out, ref = getattr(shape, which)([a, b], dim=1), getattr(torch, which)([ta, tb], dim=1)
            assert out.dtype == _np_name(ref.dtype), (a_arr.dtype, b_arr.dtype)
            np.testing.assert_array_equal(out.numpy() if not out.requires_grad else out.detach().numpy(),
                                          ref.detach().numpy())
            if ref.requires_grad:
                g = np.random.default_rng(0).standard_normal(ref.shape).astype(out.dtype)
                out.backward(tc.Tensor(g))
                ref.backward(torch.from_numpy(g))
                for ours, theirs in ((a, ta), (b, tb)):
                    if theirs.requires_grad:
                        assert ours.grad.dtype == _np_name(theirs.grad.dtype)
                        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64", "bool"])
def test_integer_and_bool_sums_are_int64_as_in_pytorch(dtype: str, torch: Any) -> None:
    values = np.array([[1, 0, 1], [1, 1, 0]]).astype(dtype)
    ours, theirs = tc.Tensor(values), torch.from_numpy(values)
    for dim in (None, 0, 1):
        a = ours.sum() if dim is None else ours.sum(dim)
        b = theirs.sum() if dim is None else theirs.sum(dim)
        assert str(a.dtype) == str(b.dtype).replace("torch.", "")
        np.testing.assert_array_equal(a.numpy(), b.numpy())
