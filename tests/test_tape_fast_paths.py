"""The tape's fast paths give what the general paths give (benchmark O1's per-op overhead).

Each test here would fail if a shortcut on the hot path of every op (``Function.apply``, the
engine, the arithmetic ops' forward) computed something different from the general code beside it.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv.autograd.function import SavedEntry, _resolve_one
from tinygrad_conv.dtypes import promote_operands
from tinygrad_conv.ops.elementwise import _NUMBER_OPERANDS, _NUMBER_OPERANDS_KEPT, _arithmetic, _result


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
        assert entries[0] == SavedEntry("none", None) == _resolve_one(None, (x, k), (x._data, k), (), (), ())
        assert entries[1] == _resolve_one(k, (x, k), (x._data, k), (), (), ())
        assert entries[1] == SavedEntry("value", k) and type(entries[1].value) is type(k)


def test_mul_keeps_an_operand_only_for_the_other_operands_gradient() -> None:
    # As PyTorch: each operand's gradient needs only the other operand.
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    w = tc.Tensor([3.0, 4.0])
    kinds = [e.kind for e in (x * w).grad_fn.ctx.saved_entries()]
    assert kinds == ["none", "input"]  # x is not kept: w takes no gradient
    w.requires_grad_(True)
    assert [e.kind for e in (x * w).grad_fn.ctx.saved_entries()] == ["input", "input"]
    assert [e.kind for e in (x / w).grad_fn.ctx.saved_entries()] == ["input", "input"]
    assert [e.kind for e in (x / 2.0).grad_fn.ctx.saved_entries()] == ["none", "value"]


def test_an_operand_not_kept_may_change_in_place_before_backward() -> None:
    # PyTorch raises only for a tensor that backward needs: x * 2 does not need x.
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = (h * 3.0).sum()
    with tc.no_grad():
        h.add_(1.0)  # bumps h's version: would raise if h had been saved
    y.backward()
    assert x.grad.tolist() == [3.0, 3.0]
    h2 = x * 1.0
    z = (h2 * h2).sum()
    with tc.no_grad():
        h2.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


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
    z = y * tc.Tensor([3.0, 3.0], requires_grad=True)  # (y is kept for the other operand's gradient)
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


class _TwoOut(tc.Function):
    """An array op with two outputs that reports what forward saw in ctx.needs_input_grad."""

    array_forward = True
    seen: list[tuple[bool, ...]] = []

    @staticmethod
    def forward(ctx, a, k):  # type: ignore[no-untyped-def]
        _TwoOut.seen.append(ctx.needs_input_grad)
        ctx.save_for_backward(a)
        return a * k, (a > 0).astype(np.int64)

    @staticmethod
    def backward(ctx, g, _):  # type: ignore[no-untyped-def]
        return g * 2.0, None


def _describe(t: tc.Tensor) -> tuple[object, ...]:
    return (type(t), t.dtype, t.shape, t.requires_grad, t.grad_fn, t._version, t.tolist())


def test_untracked_apply_gives_what_the_recorded_path_gives() -> None:
    # With grad mode off, apply skips the edges and the node: the outputs must still be what the
    # general code gives (values, dtypes, no grad, a version counter of their own), for one and
    # several outputs, and forward must still see needs_input_grad all False.
    rng = np.random.default_rng(3)
    x = tc.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    h = tc.Tensor(rng.standard_normal(4).astype(np.float16))
    cases = [lambda: x * 1.5, lambda: 2 - x, lambda: x / h, lambda: x + h.double(), lambda: x.exp(),
             lambda: tc.Tensor(np.arange(4)) * 3, lambda: x ** 2]
    for make in cases:
        recorded = make()
        with tc.no_grad():
            plain = make()
        assert _describe(plain)[:3] == _describe(recorded)[:3]
        assert not plain.requires_grad and plain.grad_fn is None and plain._vbox is not x._vbox
        np.testing.assert_array_equal(plain.numpy(), recorded.detach().numpy())
    _TwoOut.seen.clear()
    with tc.no_grad():
        y, idx = _TwoOut.apply(x, 3.0)
    y_rec, idx_rec = _TwoOut.apply(x, 3.0)
    assert _TwoOut.seen == [(False, False), (True, False)]
    assert _describe(y)[1:4] == (np.float32, (4,), False) and _describe(idx)[1:4] == (np.int64, (4,), False)
    np.testing.assert_array_equal(y.numpy(), y_rec.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), idx_rec.numpy())
    assert y._vbox is not idx._vbox


def test_untracked_views_and_anomaly_mode_keep_the_general_path() -> None:
    x = tc.Tensor(np.arange(6.0), requires_grad=True)
    with tc.no_grad():
        v = x.view(2, 3)  # a view op: shares x's memory and version counter
        assert v._vbox is x._vbox and np.shares_memory(v.numpy(), x.detach().numpy())

    class _Scribble(tc.Function):
        array_forward = True

        @staticmethod
        def forward(ctx, a):  # type: ignore[no-untyped-def]
            a += 1.0  # changes its input: anomaly mode catches it, recorded or not
            return a * 2.0

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            return g * 2.0

    with tc.detect_anomaly(), tc.no_grad(), pytest.raises(RuntimeError, match="changed its input 0"):
        _Scribble.apply(tc.Tensor([1.0, 2.0]))


def test_saved_entries_resolved_inline_equal_resolve_one() -> None:
    # An input's array, a Python scalar and an output saved by forward: the inline resolution in
    # apply gives the record _resolve_one gives, and saved_entries() hands them out as SavedEntry.
    x = tc.Tensor([0.5, -1.0], requires_grad=True)
    w = tc.Tensor([2.0, 3.0], requires_grad=True)  # (both operands take a gradient: both are kept)
    y = x * w
    entries = y.grad_fn.ctx.saved_entries()
    assert all(type(e) is SavedEntry for e in entries)
    assert entries == (("input", x, x._vbox, 0), ("input", w, w._vbox, 0))
    assert entries[0] == _resolve_one(x._data, (x, w), (x._data, w._data), (), (), ())
    t = x.tanh()  # saves its output: rebuilt on access with the node as its grad_fn
    (entry,) = t.grad_fn.ctx.saved_entries()
    assert entry.kind == "output" and entry.value[0] is t._data and entry.value[1] == 0
    (saved,) = t.grad_fn.ctx.saved_tensors
    assert saved.grad_fn is t.grad_fn and saved.requires_grad
    # so the second derivative goes through it: d2/dx2 tanh(x) * x**2 (checked against float64 formulas)
    xd = x.detach().numpy()
    (g,) = tc.grad((x.tanh() * x ** 2).sum(), x, create_graph=True)
    (h,) = tc.grad(g.sum(), x)
    th = np.tanh(xd)
    sech2 = 1 - th ** 2
    np.testing.assert_allclose(h.numpy(), -2 * th * sech2 * xd ** 2 + 4 * sech2 * xd + 2 * th, rtol=1e-6)


def test_mul_backward_product_equals_the_op() -> None:
    # Mul's backward multiplies the arrays directly when it is not recorded: the same values and
    # dtype as the registered op, for every operand kind; recorded (create_graph) it is the op.
    from tinygrad_conv.ops.elementwise import _times

    rng = np.random.default_rng(4)
    g32 = tc.Tensor(rng.standard_normal((2, 3)).astype(np.float32))
    g16 = tc.Tensor(rng.standard_normal((2, 3)).astype(np.float16))
    others: list[object] = [1.0001, 3, True, np.float64(0.5),
                            tc.Tensor(rng.standard_normal((2, 3)).astype(np.float64)),
                            tc.Tensor(rng.standard_normal(3).astype(np.float32)),  # broadcasts
                            tc.Tensor(np.arange(3, dtype=np.int64))]
    for g in (g32, g16):
        for b in others:
            with tc.no_grad():
                want = g * b
                got = _times(g, b)
            assert type(got) is tc.Tensor and got.dtype == want.dtype and got.shape == want.shape, b
            assert not got.requires_grad and got.grad_fn is None
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        for b in others:  # grad mode on, but no operand requires grad: the op records nothing
            want = g * b
            got = _times(g, b)
            assert not want.requires_grad and not got.requires_grad and got.grad_fn is None
            assert got.dtype == want.dtype and got.shape == want.shape, b
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    assert _times(x, 2.0).grad_fn.name == "mul"  # grad mode on: recorded
    assert _times(g32[0, :2], x).grad_fn.name == "mul"  # (the other operand requires grad)
    with tc.no_grad():
        assert _times(x, 2.0).grad_fn is None  # grad mode off: never recorded
    (gx,) = tc.grad((x * x * 3.0).sum(), x, create_graph=True)
    (h,) = tc.grad(gx.sum(), x)
    assert gx.tolist() == [6.0, 12.0] and h.tolist() == [6.0, 6.0]


class _Split(tc.Function):
    """Two float outputs, so that a consumer of the second keeps a (node, 1) pair."""

    array_forward = True

    @staticmethod
    def forward(ctx, a):  # type: ignore[no-untyped-def]
        return a * 2.0, a * 3.0

    @staticmethod
    def backward(ctx, g0, g1):  # type: ignore[no-untyped-def]
        return g0 * 2.0 + g1 * 3.0


def test_node_edges_keep_output_zero_as_the_node_and_next_gives_the_pairs() -> None:
    # Node.edges keeps an output 0 as its node alone; next (what the graph drawer and hooks read)
    # and next_functions still give (node, index) pairs, leaves and None, as before.
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    first, second = _Split.apply(y)
    z = first * second + 1.0
    split = first.grad_fn
    mul = z.grad_fn.next[0][0]
    assert mul.edges == (split, (split, 1))
    assert mul.next == ((split, 0), (split, 1)) and mul.next_functions == ((split, 0), (split, 1))
    assert split.edges == (y.grad_fn,) and split.next == ((y.grad_fn, 0),)
    assert y.grad_fn.edges == (x, None) and y.grad_fn.next == (x, None)
    assert y.grad_fn.next_functions == ((x, 0), (None, 0))
    # the engine and grad() follow both forms: d/dx of (2x * 2)(2x * 3) + 1 = 48x
    (g,) = tc.grad(z.sum(), x, retain_graph=True)
    assert g.tolist() == [48.0, 96.0]
    (gs,) = tc.grad(z.sum(), second, retain_graph=True)  # a capture keyed by (node, 1)
    assert gs.tolist() == first.detach().tolist()
    z.sum().backward()
    assert x.grad.tolist() == [48.0, 96.0]


class _SaveThree(tc.Function):
    """Saves an input, its output and a Python value: three entries in the context's flat tuple."""

    array_forward = True

    @staticmethod
    def forward(ctx, a, k):  # type: ignore[no-untyped-def]
        out = np.tanh(a) * k
        ctx.save_for_backward(a, out, k)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        a, out, k = ctx.saved_tensors
        return g * (k - out * out / k), None


class _FirstOrder(tc.Function):
    array_forward = True
    twice_differentiable = False

    @staticmethod
    def forward(ctx, a, k):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(a, k)
        return a * a * k

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        a, k = ctx.saved_tensors
        return g * a * (2.0 * k), None


def test_flat_saved_entries_read_back_in_order_with_their_checks() -> None:
    # The context keeps the entries' fields in one flat tuple: each entry must come back in its
    # place, of its kind, with the version check on the right tensor.
    x = tc.Tensor([0.5, -1.0], requires_grad=True)
    y = _SaveThree.apply(x, 2.0)
    entries = y.grad_fn.ctx.saved_entries()
    assert [e.kind for e in entries] == ["input", "output", "value"]
    assert entries[0] == ("input", x, x._vbox, 0) and entries[2] == SavedEntry("value", 2.0)
    a, out, k = y.grad_fn.ctx.saved_tensors
    assert a is x and k == 2.0 and out.grad_fn is y.grad_fn and out.tolist() == y.tolist()
    (g,) = tc.grad(y.sum(), x, retain_graph=True)
    np.testing.assert_allclose(g.numpy(), 2.0 * (1 - np.tanh(x.detach().numpy()) ** 2), rtol=1e-6)
    with tc.no_grad():
        y.mul_(1.0)  # the saved output changed in place: its entry (the second) catches it
    with pytest.raises(RuntimeError, match=r"shape \(2,\) saved by op 'save_three' is at version 1; "
                                           r"expected version 0"):
        y.sum().backward()


def test_once_differentiable_finds_saved_inputs_in_the_flat_entries() -> None:
    # A first-order rule recorded under create_graph depends on the inputs it saved (read from the
    # flat entries): differentiating its result again must raise, not answer zero.
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    (g,) = tc.grad(_FirstOrder.apply(x, 3.0).sum(), x, create_graph=True)
    assert g.tolist() == [6.0, 12.0] and g.requires_grad
    with pytest.raises(RuntimeError, match="once_differentiable"):
        tc.grad(g.sum(), x)


class _FourArgs(tc.Function):
    array_forward = True

    @staticmethod
    def forward(ctx, a, b, c, d):  # type: ignore[no-untyped-def]
        return a * b

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return g, None, None, None


def test_input_meta_from_the_compact_arg_meta() -> None:
    # The node keeps plain values as they are (arg_meta); input_meta gives the drawer's records,
    # including for a value None and for a tuple value that looks like a constant's record.
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    w = tc.Tensor([3.0, 4.0])
    node = _FourArgs.apply(x, w, None, ("const", (2,), "float32")).grad_fn
    assert node.input_meta == (None, ("const", (2,), np.dtype(np.float32)), ("value", None),
                               ("value", ("const", (2,), "float32")))
    assert node.arg_meta[2] is None and node.arg_meta[3] == ("const", (2,), "float32")
    assert (x * 0.5).grad_fn.input_meta == (None, ("value", 0.5))


def _numbers() -> list[float | int]:
    rng = np.random.default_rng(5)
    special = [1.0001, 0.0001, -3, 7, 2**24 + 1, 2**60, 10**400, 1e-45, 5e-324, 3.4028235e38, 3.4028236e38,
               65504.0, 65520.0, 1e300, -1e300, float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 0]
    return special + (rng.standard_normal(40) * 10.0 ** rng.integers(-40, 40, 40)).tolist()


def _outcome(fn: Any, *args: Any) -> tuple[Any, list[str]]:
    """What ``fn(*args)`` returns (or the exception it raises, as text) and the warnings it gives."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
        warnings.simplefilter("always")
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 (compared, not hidden)
            result = f"{type(exc).__name__}: {exc}"
    return result, [str(w.message) for w in caught]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_kept_number_operands_give_what_the_python_number_gives(dtype: Any) -> None:
    # _arithmetic hands a Python number to the ufunc as a kept 0-d array of the array's dtype: the
    # same bits, dtype and warnings as the number itself (overflow, underflow, nan, +-0, huge ints),
    # on either side, for arrays and 0-d arrays, the first time (filling the table) and after.
    rng = np.random.default_rng(6)
    a = (rng.standard_normal(6) * 100).astype(dtype)
    a[0], a[1] = 0.0, -0.0
    for _ in range(2):
        for ufunc in (np.add, np.subtract, np.multiply, np.true_divide):
            for v in _numbers():
                for arr in (a, a[2:3].reshape(())):
                    for first in (True, False):
                        operands = (arr, v) if first else (v, arr)
                        plain, plain_warnings = _outcome(ufunc, *operands)
                        ours, ours_warnings = _outcome(_arithmetic, ufunc, *operands)
                        assert ours_warnings == plain_warnings
                        if isinstance(plain, str):  # (an int too large for any float raises, in both)
                            assert ours == plain
                            continue
                        plain = np.asarray(plain)  # (NumPy gives a scalar for 0-d operands)
                        assert type(ours) is np.ndarray and ours.dtype == plain.dtype
                        assert ours.tobytes() == plain.tobytes(), (ufunc, v, first)
    for kept in _NUMBER_OPERANDS:  # bounded, and never written to
        assert len(kept) <= _NUMBER_OPERANDS_KEPT
        assert all(not z.flags.writeable and z.shape == () for z in kept.values())
