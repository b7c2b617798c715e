"""Tensor methods of issue 15, item 4, against PyTorch: t, mm, expand_as, view_as, reshape_as, norm,
the comparison methods, type, the dtype conversions, size/dim/numel/item/tolist, argmax, normal_ and
uniform_, and Python's number protocols (float, int, index, bool, format)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tinygrad_conv as tc

RNG = np.random.default_rng(4)


def _both(torch, a, grad=True):
    return tc.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _compare(torch, fn, *arrays):
    """fn(tensor, *others) on both libraries; values equal, gradients (random upstream) equal."""
    ours = [tc.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    o, t = fn(*ours), fn(*theirs)
    assert o.shape == tuple(t.shape) and str(o.dtype) == str(t.dtype).replace("torch.", "")
    # float32 sums in another order than PyTorch's: a few ulps, more where terms cancel
    tol = {"rtol": 1e-12, "atol": 1e-12} if arrays[0].dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), **tol)
    g = RNG.standard_normal(o.shape).astype(o.dtype)
    go = tc.grad(o, ours, tc.tensor(g), allow_unused=True)
    gt = torch.autograd.grad(t, theirs, torch.tensor(g), allow_unused=True)
    for a, b in zip(go, gt):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), **tol)


@pytest.mark.parametrize("name, fn, shapes", [
    ("t", lambda x: x.t(), [(3, 4)]),
    ("t 1-d", lambda x: x.t(), [(3,)]),
    ("mm", lambda x, y: x.mm(y), [(3, 4), (4, 2)]),
    ("bmm", lambda x, y: x.bmm(y), [(2, 3, 4), (2, 4, 2)]),
    ("expand_as", lambda x, y: x.expand_as(y) * y, [(3, 1), (2, 3, 4)]),
    ("view_as", lambda x, y: x.view_as(y) * y, [(2, 6), (3, 4)]),
    ("reshape_as", lambda x, y: x.reshape_as(y) * y, [(2, 6), (4, 3)]),
    ("norm", lambda x: x.norm(), [(3, 4)]),
    ("norm p dim keepdim", lambda x: x.norm(1, 1, True), [(3, 4)]),
    ("norm keywords", lambda x: x.norm(p=2, dim=(0, 1)), [(2, 3, 4)]),
    ("std", lambda x: x.std(1), [(3, 4)]),
    ("sum and mean dtype", lambda x: x.sum(1, dtype=_dtype_of(x, "float64")) + x.mean(0, True, dtype=_dtype_of(
        x, "float64")).sum(), [(3, 4)]),
    ("std overloads", lambda x: x.std(0, False, True) + x.std(False), [(3, 4)]),
    ("var overloads", lambda x: x.var(1, True, True) + x.var(False) + x.var(dim=0, correction=2, keepdim=True),
     [(3, 4)]),
    ("flip", lambda x: x.flip(0, 1), [(3, 4)]),
    ("gather", lambda x: x.gather(1, _index_of(x)), [(3, 4)]),
    ("sin cos", lambda x: x.sin() * x.cos(), [(3, 4)]),
    ("split", lambda x: x.split(2)[1], [(5, 3)]),
    ("chunk", lambda x: x.chunk(2, dim=1)[0], [(5, 3)]),
    ("float to double", lambda x: x.double() * 2, [(3,)]),
    ("type to double", lambda x: x.type(_dtype_of(x, "float64")) * 2, [(3,)]),
    ("half", lambda x: x.half(), [(3,)]),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_methods_match_pytorch(torch, name, fn, shapes, dtype):
    if name == "half" and dtype == np.float64:
        pytest.skip("one dtype is enough")
    _compare(torch, fn, *[RNG.standard_normal(s).astype(dtype) for s in shapes])


def _index_of(x):
    idx = np.array([[0, 3, 3], [1, 0, 2], [2, 2, 1]])
    return tc.tensor(idx) if isinstance(x, tc.Tensor) else sys.modules["torch"].tensor(idx)


def _dtype_of(x, name):
    return getattr(tc, name) if isinstance(x, tc.Tensor) else getattr(sys.modules["torch"], name)


# ----------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparison_methods(torch, name):
    a = RNG.integers(0, 3, (3, 4)).astype(np.float32)
    b = RNG.integers(0, 3, (4,)).astype(np.float32)
    for other in (b, 1.0, 1):
        o = getattr(tc.tensor(a), name)(tc.tensor(other) if isinstance(other, np.ndarray) else other)
        t = getattr(torch.tensor(a), name)(torch.tensor(other) if isinstance(other, np.ndarray) else other)
        assert o.dtype == tc.bool and o.tolist() == t.tolist()
    with pytest.raises(RuntimeError, match=f"{name}: The size of tensor a \\[3, 4\\] must match"):
        getattr(tc.tensor(a), name)(tc.zeros(3))


# ----------------------------------------------------------------------------- conversions
@pytest.mark.parametrize("method, name", [("float", "float32"), ("double", "float64"), ("half", "float16"),
                                          ("long", "int64"), ("int", "int32"), ("short", "int16"),
                                          ("char", "int8"), ("byte", "uint8"), ("bool", "bool")])
def test_conversion_methods(torch, method, name):
    a = np.array([[1.7, -0.0], [2.2, 0.4]], dtype=np.float32)
    o, t = getattr(tc.tensor(a), method)(), getattr(torch.tensor(a), method)()
    assert o.dtype == np.dtype(name) and str(t.dtype) == f"torch.{name}"
    if method != "byte":  # casting negatives to uint8 is undefined in PyTorch
        assert o.tolist() == t.tolist()
    assert o.type() == t.type().replace("torch.", "tinygrad_conv.")
    x = tc.tensor(a, requires_grad=True)
    y = getattr(x, method)()
    assert y.requires_grad == (y.dtype.kind == "f")


def test_type(torch):
    x = tc.zeros(2)
    assert x.type() == "tinygrad_conv.FloatTensor"
    assert x.type(tc.float32) is x
    assert x.type("torch.DoubleTensor").dtype == tc.float64
    assert x.type("tinygrad_conv.LongTensor").dtype == tc.int64
    with pytest.raises(ValueError, match="invalid type: 'foo'"):
        x.type("foo")
    with pytest.raises(ValueError):
        torch.zeros(2).type("foo")


# ----------------------------------------------------------------------------- sizes and values
def test_size_dim_numel_item_tolist(torch):
    a = RNG.standard_normal((2, 3, 4))
    o, t = tc.tensor(a), torch.tensor(a)
    assert o.size() == tuple(t.size()) and o.dim() == t.dim() == 3 and o.numel() == t.numel() == 24
    for d in (0, 1, 2, -1, -3):
        assert o.size(d) == t.size(d)
    for d in (3, -4):
        with pytest.raises(IndexError):
            t.size(d)
        with pytest.raises(IndexError, match="Dimension out of range"):
            o.size(d)
    assert tc.tensor(2.5).size() == ()
    with pytest.raises(IndexError):
        torch.tensor(2.5).size(0)
    with pytest.raises(IndexError, match="Dimension specified as 0 but tensor has no dimensions"):
        tc.tensor(2.5).size(0)
    assert o.tolist() == t.tolist()
    assert tc.tensor([[3]]).item() == torch.tensor([[3]]).item() == 3
    assert isinstance(tc.tensor([1.5]).item(), float)
    with pytest.raises(RuntimeError, match="a Tensor with 24 elements cannot be converted to Scalar"):
        o.item()


@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": -1, "keepdim": False},
                                    {"keepdim": True}])
def test_argmax_and_argmin(torch, kwargs):
    a = RNG.integers(0, 4, (3, 5)).astype(np.float32)  # ties: the first index wins, as PyTorch
    for name in ("argmax", "argmin"):
        o, t = getattr(tc.tensor(a), name)(**kwargs), getattr(torch.tensor(a), name)(**kwargs)
        assert o.dtype == tc.int64 and o.shape == tuple(t.shape) and o.tolist() == t.tolist()


def test_sum_and_mean_of_integers(torch):
    for a in (np.array([[1, 2], [3, 4]], dtype=np.uint8), np.array([True, False, True]), np.arange(4, dtype=np.int32)):
        o, t = tc.tensor(a).sum(), torch.tensor(a).sum()
        assert o.dtype == tc.int64 and str(t.dtype) == "torch.int64" and o.item() == t.item()
    assert tc.tensor([1, 2]).mean(dtype=tc.float32).item() == torch.tensor([1, 2]).mean(dtype=torch.float32).item()
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        tc.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).mean()


def test_argmax_errors(torch):
    with pytest.raises(IndexError, match="argmax: Dimension out of range"):
        tc.zeros(2, 3).argmax(dim=2)
    with pytest.raises(IndexError, match="Expected reduction dim to be specified"):
        tc.zeros(0).argmax()
    with pytest.raises(IndexError, match="to have non-zero size"):
        tc.zeros(2, 0).argmax(1)
    with pytest.raises(IndexError):
        torch.zeros(2, 0).argmax(1)


# ----------------------------------------------------------------------------- normal_ and uniform_
def test_normal_and_uniform_follow_the_seed_and_generators():
    tc.manual_seed(7)
    a = tc.empty(1000).normal_(2.0, 0.5)
    tc.manual_seed(7)
    assert tc.empty(1000).normal_(2.0, 0.5).tolist() == a.tolist()
    assert abs(a.mean().item() - 2.0) < 0.1 and abs(a.std().item() - 0.5) < 0.05
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    u = tc.empty(1000, dtype=tc.float64).uniform_(-2.0, 3.0, generator=g1)
    again = tc.empty(1000, dtype=tc.float64).uniform_(-2, 3, generator=g2)
    assert u.dtype == tc.float64 and u.tolist() == again.tolist()
    assert u.min().item() >= -2.0 and u.max().item() < 3.0
    assert tc.zeros(3).uniform_(**{"from": 5.0, "to": 6.0}).min().item() >= 5.0
    x = tc.zeros(4)
    assert x.normal_() is x and x.uniform_() is x


def test_normal_and_uniform_in_place_rules_match_pytorch(torch):
    leaf, tleaf = tc.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    for x in (tleaf, leaf):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            x.normal_()
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            x.uniform_()
    assert leaf.tolist() == [0.0, 0.0, 0.0]
    with tc.no_grad():
        leaf.normal_()  # how initialisers change parameters
    assert leaf.tolist() != [0.0, 0.0, 0.0]
    # A non-leaf is rebased: the old values get a zero gradient, as PyTorch's NormalBackward.
    x, tx = tc.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    y, ty = x * 2, tx * 2
    y.normal_()
    ty.normal_()
    g = RNG.standard_normal(3).astype(np.float32)
    (y * 3).backward(tc.tensor(g))
    (ty * 3).backward(torch.tensor(g))
    assert x.grad.tolist() == tx.grad.tolist() == [0.0, 0.0, 0.0]


def test_normal_and_uniform_errors(torch):
    x = tc.zeros(3)
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0, but found std -1"):
        x.normal_(0, -1)
    with pytest.raises(RuntimeError, match="uniform_ expects to return a \\[from, to\\) range, but found from=1 > "):
        x.uniform_(1, 0)
    with pytest.raises(NotImplementedError):
        torch.zeros(2, dtype=torch.int64).normal_()
    with pytest.raises(NotImplementedError, match="normal_: not implemented for int64"):
        tc.zeros(2, dtype=tc.int64).normal_()
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        x.normal_(generator=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'low'"):
        x.uniform_(low=0)
    assert x.tolist() == [0.0, 0.0, 0.0]


# ----------------------------------------------------------------------------- Python protocols
def test_float_int_bool_match_pytorch(torch):
    for a in ([2.7], [[-2.7]], 3.5, [0.0], [1]):
        o, t = tc.tensor(a), torch.tensor(a)
        assert float(o) == float(t) and int(o) == int(t) and bool(o) == bool(t)
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        float(tc.zeros(2))
    with pytest.raises(ValueError, match="only one element tensors"):
        int(tc.zeros(2))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(tc.zeros(2))


def test_integer_tensors_are_indices(torch):
    items = [10, 20, 30, 40]
    for a in (1, [2], [[3]], True):
        assert items[tc.tensor(a)] == items[torch.tensor(a)]
    assert items[tc.tensor(1):tc.tensor(3)] == [20, 30]
    assert list(range(tc.tensor(3))) == [0, 1, 2]
    assert tc.zeros(5)[tc.tensor(2)].shape == ()
    for bad in (tc.tensor(1.0), tc.tensor([1, 2])):
        with pytest.raises(TypeError, match="only integer tensors of a single element can be converted to an index"):
            items[bad]
    with pytest.raises(TypeError):
        items[torch.tensor(1.0)]


def test_format_matches_pytorch(torch):
    loss, tloss = tc.tensor(0.123456), torch.tensor(0.123456)
    assert f"{loss:.3f}" == f"{tloss:.3f}" == "0.123"
    assert f"{tc.tensor(3):>4d}" == f"{torch.tensor(3):>4d}"
    assert format(loss, "e") == format(tloss, "e")
    x = tc.zeros(2)
    assert f"{x}" == str(x) and format(x, "") == str(x)
    for t in (x, torch.zeros(2)):  # PyTorch formats only 0-d tensors as numbers
        with pytest.raises(TypeError, match="unsupported format string passed to"):
            f"{t:.3f}"


# ----------------------------------------------------------------------------- scatter_ and scatter_add_
def test_scatter_in_place_matches_pytorch(torch):
    labels = np.array([2, 0, 1, 2])
    one_hot = tc.zeros(4, 3).scatter_(1, tc.tensor(labels[:, None]), 1.0)
    assert one_hot.tolist() == torch.zeros(4, 3).scatter_(1, torch.tensor(labels[:, None]), 1.0).tolist()
    idx = np.array([[0, 2], [1, 0]])
    a, src, g = (RNG.standard_normal(s) for s in ((2, 3), (2, 2), (2, 3)))
    results = []
    for m in (tc, torch):
        x, s = m.tensor(a, requires_grad=True), m.tensor(src, requires_grad=True)
        y = x * 1
        assert y.scatter_(1, m.tensor(idx), s) is y  # a non-leaf takes the new history
        z = (x * 1).scatter_add_(1, m.tensor(idx), s)
        (y * 2 + z).backward(m.tensor(g))
        results.append((y.detach().numpy(), z.detach().numpy(), x.grad.numpy(), s.grad.numpy()))
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            x.scatter_(1, m.tensor(idx), s)
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    x = tc.zeros(2, 3)
    with pytest.raises(RuntimeError, match="index 5 is out of bounds"):
        x.scatter_(1, tc.tensor([[5]]), 1.0)
    assert x.tolist() == [[0.0] * 3] * 2  # a refused call changes nothing
