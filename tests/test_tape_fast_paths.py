"""The tape's fast paths give what the general paths give (benchmark O1's per-op overhead).

Each test here would fail if a shortcut on the hot path of every op (``Function.apply``, the
engine, the arithmetic ops' forward) computed something different from the general code beside it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv.autograd.function import SavedEntry, _resolve_one
from tinygrad_conv.dtypes import promote_operands
from tinygrad_conv.ops.elementwise import _arithmetic, _result


def _operands() -> list[object]:
    rng = np.random.default_rng(0)
    arrays: list[object] = [rng.standard_normal((2, 3)).astype(dt) for dt in (np.float16, np.float32, np.float64)]
    arrays += [np.arange(6, dtype=np.int64).reshape(2, 3), np.arange(6, dtype=np.int8).reshape(2, 3) + 1,
               np.array([[True, False, True]]), np.array(1.5, dtype=np.float32),  # 0-d: NumPy gives a scalar
               rng.standard_normal(3).astype(">f4"),  # a byte-swapped dtype of kind "f"
               rng.standard_normal((2, 1)).astype(np.float32)]  # broadcasts
    return arrays + [2.5, 3, -1, True, np.float64(0.5), 2 ** 70]


@pytest.mark.parametrize("ufunc,true_divide", [(np.add, False), (np.subtract, False), (np.multiply, False),
                                               (np.true_divide, True)])
def test_arithmetic_shortcut_equals_promote_operands(ufunc: np.ufunc, true_divide: bool) -> None:
    # _arithmetic answers float operands of one dtype and float-array-with-Python-number at once;
    # the general path is promote_operands then _result. Same values, dtype and type, every pair.
    for a, b in itertools.product(_operands(), repeat=2):
        if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
            continue
        if ufunc is np.subtract and (np.asarray(a).dtype == bool or np.asarray(b).dtype == bool):
            continue  # Sub refuses bools before it gets here
        with np.errstate(all="ignore"):
            try:
                dt, (pa, pb) = promote_operands(a, b, true_divide=true_divide)
                want = _result(ufunc(pa, pb), dt)
            except (ValueError, TypeError, OverflowError) as exc:
                with pytest.raises(type(exc)):
                    _arithmetic(ufunc, a, b, true_divide=true_divide)
                continue
            got = _arithmetic(ufunc, a, b, true_divide=true_divide)
        assert type(got) is np.ndarray and got.dtype == want.dtype and got.shape == want.shape, (a, b)
        np.testing.assert_array_equal(got, want)


def test_chain_nodes_share_out_meta_and_keep_their_own() -> None:
    x = tc.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x * 2.0 + 1.0
    assert y.grad_fn.out_meta == (((3,), np.dtype(np.float32)),)
    assert y.grad_fn.out_meta is y.grad_fn.next[0][0].out_meta  # one tuple for the chain
    z = y.double() * tc.Tensor(np.ones((2, 3)))  # a new dtype, then a new shape
    assert z.grad_fn.out_meta == (((2, 3), np.dtype(np.float64)),)
    assert z.grad_fn.next[0][0].out_meta == (((3,), np.dtype(np.float64)),)
    assert y.grad_fn.out_meta == (((3,), np.dtype(np.float32)),)  # the earlier nodes' are unchanged
    z.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [4.0, 4.0, 4.0]


def test_scalar_saved_inline_as_resolve_one_would() -> None:
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    for k in (2.5, 3, True):
        entries = (x * k).grad_fn.ctx.saved_entries()
        assert entries[0] == ("input", x, x._vbox, 0)
        assert entries[1] == _resolve_one(k, (x, k), (x._data, k), (), (), ())
        assert entries[1] == SavedEntry("value", k) and type(entries[1].value) is type(k)


class _SaveSecond(tc.Function):
    array_forward = True

    @staticmethod
    def forward(ctx, a, b, c):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(b)
        return a * b * c

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (b,) = ctx.saved_tensors
        return g * b, None, g * b


def test_a_tensor_on_an_earlier_arguments_array_keeps_its_role() -> None:
    # (x, x.detach(), x): the detached middle one shares x's array, so forward gets a view of it and
    # what it saves is that constant, not x; the third (x again) is x.
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    y = _SaveSecond.apply(x, d, x)
    (entry,) = y.grad_fn.ctx.saved_entries()
    assert entry.kind == "input" and entry.value is d
    assert y.grad_fn.next == (x, None, x)
    (g,) = tc.grad(y.sum(), x, create_graph=True)
    assert g.tolist() == [2.0, 4.0]
    # d is a constant: the gradient does not depend on x (had d resolved to x, it would)
    assert not g.requires_grad


def test_chain_keeps_hooks_retain_grad_versions_and_grad_inputs() -> None:
    rng = np.random.default_rng(1)
    x0 = tc.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    x, mids, seen = x0, [], []
    for i in range(6):
        x = x * 1.5 + 0.25
        if i == 2:
            x.retain_grad()
            x.register_hook(lambda g: seen.append(g.tolist()) or g * 2.0)
            mids.append(x)
    upstream = rng.standard_normal(4).astype(np.float32)
    # (expected values as PyTorch gives them: the hook doubles the gradient before retain_grad keeps it)
    x.backward(tc.Tensor(upstream), retain_graph=True)
    np.testing.assert_allclose(mids[0].grad.numpy(), upstream * 1.5 ** 3 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(x0.grad.numpy(), upstream * 1.5 ** 6 * 2.0, rtol=1e-5)
    (gm,) = tc.grad(x, mids, tc.Tensor(upstream))  # grad(): only the nodes that lead to mids run
    np.testing.assert_allclose(gm.numpy(), upstream * 1.5 ** 3 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(mids[0].grad.numpy(), upstream * 1.5 ** 3 * 4.0, rtol=1e-6)
    assert len(seen) == 2
    # the saved input of a product changed in place: caught at backward, naming the op
    y = tc.Tensor([1.0, 2.0], requires_grad=True) * 1.0
    z = y * 3.0
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|in-place operation.*'mul'"):
        z.sum().backward()


def test_release_frees_what_forward_stored_and_keeps_the_op_name() -> None:
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3.0).sum()
    node = y.grad_fn.next[0][0]
    y.backward()
    assert node.released and "needs_input_grad" not in vars(node.ctx) and node.ctx.saved_entries() == ()
    with pytest.raises(RuntimeError, match=r"second time \(op 'mul'\)"):
        _ = node.ctx.saved_tensors


def test_chain_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    start = rng.standard_normal(5).astype(np.float32)
    upstream = rng.standard_normal(5).astype(np.float32)
    x0, t0 = tc.Tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    x, t = x0, t0
    for _ in range(50):
        x = x * 1.0001 + 0.0001
        t = t * 1.0001 + 0.0001
    x.backward(tc.Tensor(upstream))
    t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(x.detach().numpy(), t.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x0.grad.numpy(), t0.grad.numpy(), rtol=1e-6)
