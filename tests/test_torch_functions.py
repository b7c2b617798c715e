"""The torch.* functions that mirror Tensor methods (issue 15, item 1), against PyTorch: signatures
and defaults (read from PyTorch's docstrings), values and gradients with random upstream gradients,
the overloads (max with dim / with a tensor, where with one argument, cat of a tuple), and errors.
The new ops (sin, cos, gather, scatter, scatter_add, flip, einsum, ...) are also checked by the
registry test; here are the cases it cannot take (PyTorch's own gradient fails on some of them)."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(15)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


# ----------------------------------------------------------------------------- signatures
def _doc_params(torch, name):
    """(name, default) pairs from PyTorch's signature or docstring, without out=."""
    fn = getattr(torch, name)
    try:
        sig = inspect.signature(fn)
        params = [(p.name, None if p.default is inspect.Parameter.empty else repr(p.default))
                  for p in sig.parameters.values()]
    except (TypeError, ValueError):
        first = fn.__doc__.strip().splitlines()[0]
        inside = first[first.index("(") + 1: first.rindex(")")]
        params = []
        for part in re.split(r",\s*", inside):
            part = re.sub(r":\s*[^=]+", "", part).strip()
            if part in ("*", ""):
                continue
            pname, _, default = part.partition("=")
            params.append((pname.strip(), default.strip() or None))
    return [(n, d) for n, d in params if n != "out"]


SIGNATURES = ["cat", "concat", "concatenate", "stack", "flatten", "exp", "log", "sin", "cos", "sqrt", "abs",
              "sigmoid", "tanh", "clamp", "clip", "matmul", "mm", "bmm", "split", "chunk", "gather", "flip", "norm",
              "allclose", "numel", "eq", "ne", "lt", "le", "gt", "ge", "t"]


@pytest.mark.parametrize("name", SIGNATURES)
def test_signature_matches_pytorch(torch, name):
    theirs = _doc_params(torch, name)
    ours = [(p.name, None if p.default is inspect.Parameter.empty else repr(p.default))
            for p in inspect.signature(getattr(tc, name)).parameters.values()]
    ours = [(n, d) for n, d in ours if n not in ("sparse_grad",)]
    theirs = [(n, d) for n, d in theirs if n not in ("sparse_grad",)]
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    for (n, d), (_, td) in zip(ours, theirs):
        if td is not None:
            assert d is not None and (d.strip("'") == td.strip("'") or float(d) == float(td)), (n, d, td)


def test_reductions_take_pytorch_keywords():
    for name in ("sum", "mean"):
        assert list(inspect.signature(getattr(tc, name)).parameters) == ["input", "dim", "keepdim", "dtype"]
    for name in ("var", "std"):
        params = inspect.signature(getattr(tc, name)).parameters
        assert list(params) == ["input", "dim", "unbiased", "keepdim", "correction"]
        assert params["correction"].kind is inspect.Parameter.KEYWORD_ONLY


def test_every_name_is_exported():
    for name in tc.torch_functions.__all__:
        assert name in tc.__all__ and callable(getattr(tc, name)), name


# ----------------------------------------------------------------------------- values and gradients
def _run_both(torch, fn_ours, fn_theirs, arrays, grad_idx=None):
    """Call both with the same inputs; backward each output with the same random gradient; return
    (our outputs, their outputs, our input grads, their input grads)."""
    grad_idx = range(len(arrays)) if grad_idx is None else grad_idx
    ours = [tc.tensor(a, requires_grad=(i in grad_idx and a.dtype.kind == "f")) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=(i in grad_idx and a.dtype.kind == "f")) for i, a in enumerate(arrays)]
    o, t = fn_ours(*ours), fn_theirs(*theirs)
    o_list = list(o) if isinstance(o, tuple) else [o]
    t_list = list(t) if isinstance(t, tuple) else [t]
    assert len(o_list) == len(t_list)
    # float32 sums in another order than PyTorch's: a few ulps, more where terms cancel
    tol = {"rtol": 1e-5, "atol": 1e-5} if any(a.dtype == np.float32 for a in arrays) else {"rtol": 1e-11, "atol": 1e-12}
    for a, b in zip(o_list, t_list):
        assert a.shape == tuple(b.shape)
        assert a.dtype == np.dtype(str(b.dtype).replace("torch.", ""))
        np.testing.assert_allclose(_np(a), _np(b), **tol)
    diff_o = [(a, b) for a, b in zip(o_list, t_list) if b.requires_grad]
    leaves_o = [x for x in ours if x.requires_grad]
    leaves_t = [x for x in theirs if x.requires_grad]
    if diff_o and leaves_o:
        gs = [RNG.standard_normal(b.shape).astype(_np(b).dtype) for _, b in diff_o]
        g_o = tc.grad([a for a, _ in diff_o], leaves_o, [tc.tensor(g) for g in gs], allow_unused=True)
        g_t = torch.autograd.grad([b for _, b in diff_o], leaves_t, [torch.tensor(g) for g in gs],
                                  allow_unused=True)
        for a, b in zip(g_o, g_t):
            if b is None:
                assert a is None or not np.any(_np(a))
            else:
                np.testing.assert_allclose(_np(a), _np(b), **tol)


def _idx(shape, high):
    return RNG.integers(0, high, shape)


CASES = {
    "flatten": (lambda m, a: m.flatten(a, 1), [(2, 3, 4)]),
    "flatten start end": (lambda m, a: m.flatten(a, 0, 1), [(2, 3, 4)]),
    "cat tuple": (lambda m, a, b: m.cat((a, b), 1), [(2, 3), (2, 2)]),
    "cat list dim kw": (lambda m, a, b: m.cat([a, b], dim=-2), [(2, 3), (1, 3)]),
    "concat": (lambda m, a, b: m.concat((a, b)), [(2, 3), (1, 3)]),
    "concatenate": (lambda m, a, b: m.concatenate((a, b), axis=1), [(2, 3), (2, 1)]),
    "stack": (lambda m, a, b: m.stack((a, b), 1), [(2, 3), (2, 3)]),
    "stack negative": (lambda m, a, b, c: m.stack([a, b, c], dim=-1), [(2, 3), (2, 3), (2, 3)]),
    "exp": (lambda m, a: m.exp(a), [(3, 4)]),
    "log": (lambda m, a: m.log(m.abs(a) + 0.5), [(3, 4)]),
    "sin": (lambda m, a: m.sin(a), [(3, 4)]),
    "cos": (lambda m, a: m.cos(a), [(3, 4)]),
    "sqrt": (lambda m, a: m.sqrt(m.abs(a) + 0.1), [(3, 4)]),
    "abs": (lambda m, a: m.abs(a), [(3, 4)]),
    "sum": (lambda m, a: m.sum(a), [(3, 4)]),
    "sum dims keepdim": (lambda m, a: m.sum(a, (0, 2), keepdim=True), [(2, 3, 4)]),
    "sum dtype": (lambda m, a: m.sum(a, 1, dtype=m.float32), [(3, 4)]),
    "mean": (lambda m, a: m.mean(a, -1), [(3, 4)]),
    "mean dtype": (lambda m, a: m.mean(a, dtype=m.float32), [(3, 4)]),
    "max all": (lambda m, a: m.max(a), [(3, 4)]),
    "max dim": (lambda m, a: tuple(m.max(a, 1)), [(3, 4)]),
    "max dim keepdim": (lambda m, a: tuple(m.max(a, dim=0, keepdim=True)), [(3, 4)]),
    "max other": (lambda m, a, b: m.max(a, b), [(3, 4), (4,)]),
    "min dim": (lambda m, a: tuple(m.min(a, -1)), [(3, 4)]),
    "min other": (lambda m, a, b: m.min(a, b), [(3, 4), (3, 1)]),
    "argmax": (lambda m, a: m.argmax(a), [(3, 4)]),
    "argmax dim keepdim": (lambda m, a: m.argmax(a, 1, keepdim=True), [(3, 4)]),
    "argmax keepdim no dim": (lambda m, a: m.argmax(a, keepdim=True), [(3, 4)]),
    "argmin dim": (lambda m, a: m.argmin(a, dim=0), [(3, 4)]),
    "sigmoid": (lambda m, a: m.sigmoid(a), [(3, 4)]),
    "tanh": (lambda m, a: m.tanh(a), [(3, 4)]),
    "clamp": (lambda m, a: m.clamp(a, -0.5, 0.5), [(3, 4)]),
    "clamp min only": (lambda m, a: m.clamp(a, min=0.1), [(3, 4)]),
    "clip": (lambda m, a: m.clip(a, max=0.2), [(3, 4)]),
    "clamp tensor bounds": (lambda m, a, lo, hi: m.clamp(a, lo, hi), [(3, 4), (4,), (3, 1)]),
    "where": (lambda m, a, b: m.where(a > 0, a, b), [(3, 4), (3, 4)]),
    "where numbers": (lambda m, a: m.where(a > 0, a, 0.0), [(3, 4)]),
    "matmul": (lambda m, a, b: m.matmul(a, b), [(2, 3, 4), (4, 5)]),
    "mm": (lambda m, a, b: m.mm(a, b), [(3, 4), (4, 2)]),
    "bmm": (lambda m, a, b: m.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "einsum": (lambda m, a, b: m.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    "einsum list": (lambda m, a, b: m.einsum("ij,kj", [a, b]), [(3, 4), (2, 4)]),
    "einsum trace": (lambda m, a: m.einsum("ii", a), [(3, 3)]),
    "einsum diagonal batch": (lambda m, a: m.einsum("bii->bi", a), [(2, 3, 3)]),
    "einsum outer sum": (lambda m, a, b: m.einsum("i,jk->ij", a, b), [(3,), (2, 4)]),
    "einsum ellipsis": (lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b), [(2, 3, 4), (4, 2)]),
    "einsum broadcast 1": (lambda m, a, b: m.einsum("ij,ij->ij", a, b), [(1, 3), (2, 3)]),
    "einsum sublist": (lambda m, a, b: m.einsum(a, [0, 1], b, [1, 2], [0, 2]), [(3, 4), (4, 2)]),
    "einsum repeated in one": (lambda m, a, b: m.einsum("iij,j->i", a, b), [(3, 3, 2), (2,)]),
    "split int": (lambda m, a: m.split(a, 2), [(5, 3)]),
    "split sizes": (lambda m, a: m.split(a, [1, 3, 2], dim=1), [(2, 6)]),
    "chunk": (lambda m, a: m.chunk(a, 3), [(5, 3)]),
    "chunk fewer": (lambda m, a: m.chunk(a, 4, dim=1), [(2, 6)]),
    "flip": (lambda m, a: m.flip(a, (0, 2)), [(2, 3, 4)]),
    "norm": (lambda m, a: m.norm(a), [(3, 4)]),
    "norm dim keepdim": (lambda m, a: m.norm(a, dim=1, keepdim=True), [(3, 4)]),
    "norm p1": (lambda m, a: m.norm(a, p=1, dim=0), [(3, 4)]),
    "norm p3": (lambda m, a: m.norm(a, 3), [(3, 4)]),
    "norm fro dims": (lambda m, a: m.norm(a, "fro", dim=(1, 2)), [(2, 3, 4)]),
    "norm inf": (lambda m, a: m.norm(a, float("inf"), dim=1), [(3, 4)]),
    "norm -inf": (lambda m, a: m.norm(a, float("-inf")), [(3, 4)]),
    "norm 0": (lambda m, a: m.norm(a, 0, dim=1), [(3, 4)]),
    "std": (lambda m, a: m.std(a), [(3, 4)]),
    "std dim unbiased keepdim": (lambda m, a: m.std(a, 1, False, True), [(3, 4)]),
    "std bool": (lambda m, a: m.std(a, False), [(3, 4)]),
    "std correction": (lambda m, a: m.std(a, dim=0, correction=2), [(5, 4)]),
    "var": (lambda m, a: m.var(a, 1), [(3, 4)]),
    "var unbiased kw": (lambda m, a: m.var(a, dim=(0, 1), unbiased=False, keepdim=True), [(3, 4)]),
    "var correction": (lambda m, a: m.var(a, correction=0), [(3, 4)]),
    "t": (lambda m, a: m.t(a), [(3, 4)]),
    "t vector": (lambda m, a: m.t(a), [(3,)]),
    "transpose": (lambda m, a: m.transpose(a, 0, 2), [(2, 3, 4)]),
    "reshape": (lambda m, a: m.reshape(a, (4, -1)), [(2, 3, 4)]),
    "squeeze unsqueeze": (lambda m, a: m.unsqueeze(m.squeeze(a, 1), 0), [(2, 1, 4)]),
    "permute": (lambda m, a: m.permute(a, (2, 0, 1)), [(2, 3, 4)]),
    "maximum": (lambda m, a, b: m.maximum(a, b), [(3, 4), (3, 4)]),
    "minimum": (lambda m, a, b: m.minimum(a, b), [(3, 4), (4,)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_gradients_match_pytorch(torch, case, dtype):
    fn, shapes = CASES[case]
    arrays = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    if case == "norm 0":
        arrays[0][0, 1] = 0.0
    _run_both(torch, lambda *xs: fn(tc, *xs), lambda *xs: fn(torch, *xs), arrays)


def _index_case(torch, fn, x_shape, idx, src_shape=None, dtype=np.float64):
    arrays = [RNG.standard_normal(x_shape).astype(dtype), np.asarray(idx, dtype=np.int64)]
    if src_shape is not None:
        arrays.append(RNG.standard_normal(src_shape).astype(dtype))
    _run_both(torch, lambda *xs: fn(tc, *xs), lambda *xs: fn(torch, *xs), arrays, grad_idx=(0, 2))


def test_gather_matches_pytorch(torch):
    _index_case(torch, lambda m, x, i: m.gather(x, 1, i), (3, 4), _idx((3, 6), 4))  # repeats: the grads add
    _index_case(torch, lambda m, x, i: m.gather(x, 0, i), (3, 4), _idx((2, 3), 3))  # a smaller index
    _index_case(torch, lambda m, x, i: x.gather(-1, i), (2, 3, 4), _idx((2, 3, 2), 4), dtype=np.float32)
    _index_case(torch, lambda m, x, i: m.gather(x, 0, i), (), np.array(0))


def test_scatter_matches_pytorch(torch):
    idx = np.array([[2, 0], [1, 3], [0, 1]])  # no repeats within a row: PyTorch's gradient is defined
    _index_case(torch, lambda m, x, i, s: m.scatter(x, 1, i, s), (3, 4), idx, (3, 2))
    _index_case(torch, lambda m, x, i, s: x.scatter(1, i, src=s), (3, 4), idx, (3, 2))
    _index_case(torch, lambda m, x, i: m.scatter(x, 1, i, 2.5), (3, 4), idx)
    _index_case(torch, lambda m, x, i: m.scatter(x, 1, i, value=-1.0), (3, 4), idx)
    _index_case(torch, lambda m, x, i, s: m.scatter_add(x, 1, i, s), (3, 4), _idx((3, 5), 4), (3, 5))
    # reduce: forward only, as PyTorch (its backward is not implemented)
    x, i = tc.tensor(RNG.standard_normal((3, 4))), tc.tensor(idx)
    tx, ti = torch.tensor(x.numpy()), torch.tensor(idx)
    src = RNG.standard_normal((3, 2))
    for reduce in ("add", "multiply"):
        ours = tc.scatter(x, 1, i, tc.tensor(src), reduce=reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch deprecates reduce= with a src tensor
            theirs = torch.scatter(tx, 1, ti, torch.tensor(src), reduce=reduce)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())
        np.testing.assert_allclose(tc.scatter(x, 1, i, 3.0, reduce=reduce).numpy(),
                                   torch.scatter(tx, 1, ti, 3.0, reduce=reduce).numpy())
    leaf = tc.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    out = tc.scatter(leaf, 1, i, 2.0, reduce="add")
    with pytest.raises(RuntimeError, match="derivative of scatter with reduce='add' is not implemented"):
        out.sum().backward()


def test_scatter_and_scatter_add_with_a_larger_src_by_finite_differences():
    """A src larger than the index: only its leading block is read, so only that block gets a
    gradient (PyTorch 2.13's backward fails on this case: it returns the index's shape)."""
    x = tc.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    src = tc.tensor(RNG.standard_normal((3, 3)), requires_grad=True)
    idx = tc.tensor(np.array([[0, 2, 1], [3, 0, 2]]))
    assert gradcheck(lambda a, s: tc.scatter(a, 0, idx, s), (x, src))
    assert gradgradcheck(lambda a, s: tc.scatter(a, 0, idx, s), (x, src))
    assert gradcheck(lambda a, s: tc.scatter_add(a, 0, idx, s), (x, src))
    assert gradgradcheck(lambda a, s: tc.scatter_add(a, 0, idx, s), (x, src))
    g = tc.grad(tc.scatter_add(x, 0, idx, src).sum(), src)[0]
    assert g.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]


def test_new_ops_differentiate_twice():
    a = tc.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    b = tc.tensor(RNG.standard_normal((4, 2)), requires_grad=True)
    idx = tc.tensor(_idx((3, 5), 4))
    for fn, args in [(lambda x: tc.sin(x) * tc.cos(x), (a,)),
                     (lambda x: tc.gather(x, 1, idx), (a,)),
                     (lambda x: tc.flip(x, (0, 1)), (a,)),
                     (lambda x, y: tc.einsum("ij,jk->ik", x * x, y), (a, b)),
                     (lambda x: tc.einsum("ij,ij->i", x, x), (a,)),
                     (lambda x: tc.norm(x, dim=1), (a,)),
                     (lambda x: tc.std(x, 0), (a,))]:
        assert gradcheck(fn, args)
        assert gradgradcheck(fn, args)


def test_einsum_backward_is_einsum():
    a = tc.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    b = tc.tensor(RNG.standard_normal((4, 2)), requires_grad=True)
    out = tc.einsum("ij,jk->ik", a, b)
    assert out.grad_fn.name == "einsum"
    (ga,) = tc.grad(out, a, tc.ones(3, 2, dtype=tc.float64), create_graph=True)
    assert ga.grad_fn.name == "einsum"


def test_norm_at_zero_has_pytorch_subgradient(torch):
    x = tc.zeros(2, 3, dtype=tc.float64, requires_grad=True)
    tx = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    g = RNG.standard_normal(2)
    (ours,) = tc.grad(tc.norm(x, dim=1), x, tc.tensor(g))
    (theirs,) = torch.autograd.grad(torch.norm(tx, dim=1), tx, torch.tensor(g))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert not np.isnan(ours.numpy()).any()


# ----------------------------------------------------------------------------- overloads and results
def test_max_and_min_return_named_values_and_indices(torch):
    a = RNG.standard_normal((3, 4))
    ours, theirs = tc.max(tc.tensor(a), 1), torch.max(torch.tensor(a), 1)
    values, indices = ours
    assert ours.values is values and ours.indices is indices
    np.testing.assert_array_equal(indices.numpy(), theirs.indices.numpy())
    assert indices.dtype == tc.int64
    assert isinstance(tc.max(tc.tensor(a)), tc.Tensor) and tc.max(tc.tensor(a)).ndim == 0
    m = tc.min(tc.tensor(a), dim=0, keepdim=True)
    assert m.values.shape == (1, 4) and m.indices.tolist() == torch.min(torch.tensor(a), 0, True).indices.tolist()
    # the method takes a tensor too, as torch.Tensor.max(other)
    assert np.array_equal(tc.tensor(a).max(tc.zeros(4, dtype=tc.float64)).numpy(), np.maximum(a, 0))


def test_where_with_one_argument_gives_indices(torch):
    c = RNG.standard_normal((3, 4)) > 0
    ours, theirs = tc.where(tc.tensor(c)), torch.where(torch.tensor(c))
    assert len(ours) == len(theirs) == 2
    for o, t in zip(ours, theirs):
        assert o.dtype == tc.int64 and o.tolist() == t.tolist()
    assert [i.tolist() for i in tc.where(tc.tensor(True))] == [i.tolist() for i in torch.where(torch.tensor(True))]


def test_where_dtypes_follow_pytorch(torch):
    c = RNG.standard_normal(4) > 0
    x = RNG.standard_normal(4).astype(np.float32)
    for o, t in [(tc.where(tc.tensor(c), 1, 0), torch.where(torch.tensor(c), 1, 0)),
                 (tc.where(tc.tensor(c), tc.tensor(x), 0.0), torch.where(torch.tensor(c), torch.tensor(x), 0.0)),
                 (tc.where(tc.tensor(c), 1.0, 0.0), torch.where(torch.tensor(c), 1.0, 0.0))]:
        assert str(o.dtype) == str(t.dtype).replace("torch.", "") and o.tolist() == t.tolist()


def test_functional_cat_and_stack_take_a_sequence_or_arguments():
    a, b = tc.ones(2, 3), tc.zeros(2, 3)
    assert F.cat((a, b), 1).shape == (2, 6)
    assert F.cat([a, b]).shape == (4, 3)
    assert F.cat((a, b), dim=1).shape == (2, 6)
    assert F.cat(a, b, dim=1).shape == (2, 6)  # the registered form, as the op checker calls it
    assert F.stack((a, b), 2).shape == (2, 3, 2)
    assert F.stack(a, b).shape == (2, 2, 3)
    with pytest.raises(TypeError, match="only dim may follow"):
        F.cat((a, b), 1, 2)
    import tinygrad_conv.nn.functional as nnF  # the path PyTorch programs import F from

    assert nnF.cat((a, b), 1).shape == (2, 6) and nnF.stack([a, b], 0).shape == (2, 2, 3)


def test_cat_promotes_and_skips_empty_vectors(torch):
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    ours = tc.cat([tc.tensor(a), tc.tensor(a.astype(np.float64))])
    theirs = torch.cat([torch.tensor(a), torch.tensor(a.astype(np.float64))])
    assert ours.dtype == tc.float64 and theirs.dtype == torch.float64
    assert tc.cat([tc.tensor(a), tc.tensor(a).long()]).dtype == tc.float32
    assert tc.cat([tc.tensor(a), tc.zeros(0)]).shape == tuple(torch.cat([torch.tensor(a), torch.zeros(0)]).shape)


def test_sum_mean_dtypes_follow_pytorch(torch):
    ints = np.array([[1, 2], [3, 4]], dtype=np.int32)
    assert tc.sum(tc.tensor(ints)).dtype == tc.int64 == np.dtype(str(torch.sum(torch.tensor(ints)).dtype)[6:])
    assert tc.sum(tc.tensor([True, True, False])).item() == 2
    assert tc.sum(tc.tensor(ints), dtype=tc.float64).dtype == tc.float64
    assert tc.mean(tc.tensor(ints), dtype=tc.float32).item() == 2.5
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        tc.mean(tc.tensor(ints))


def test_allclose_and_numel(torch):
    a = RNG.standard_normal((2, 3))
    for b in (a + 1e-9, a + 1e-3, a[:1]):
        assert tc.allclose(tc.tensor(a), tc.tensor(b)) == torch.allclose(torch.tensor(a), torch.tensor(b))
    assert tc.allclose(tc.tensor([1.0, 2.0]), tc.tensor([1.1, 2.0]), rtol=0.2)
    nan = tc.tensor([float("nan")])
    assert not tc.allclose(nan, nan) and tc.allclose(nan, nan, equal_nan=True)
    assert tc.numel(tc.zeros(2, 3, 4)) == 24 == torch.numel(torch.zeros(2, 3, 4))


def test_comparison_functions(torch):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        ours = getattr(tc, name)(tc.tensor(a), tc.tensor(b))
        theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
        assert ours.dtype == tc.bool and ours.tolist() == theirs.tolist()
        assert getattr(tc, name)(tc.tensor(a), 0.0).tolist() == getattr(torch, name)(torch.tensor(a), 0.0).tolist()


def test_split_and_chunk_pieces_are_views():
    x = tc.arange(10.0).reshape(5, 2)
    a, b, c = tc.split(x, 2)
    assert a._is_view() and c.shape == (1, 2)
    pieces = tc.chunk(tc.zeros(0, 2), 3)
    assert len(pieces) == 3 and all(p.shape == (0, 2) for p in pieces)
    assert [p.shape for p in tc.split(tc.zeros(0, 2), 0)] == [(0, 2)]


def test_flip_is_a_copy():
    x = tc.tensor([1.0, 2.0, 3.0])
    y = tc.flip(x, [0])
    y += 1
    assert x.tolist() == [1.0, 2.0, 3.0] and y.tolist() == [4.0, 3.0, 2.0]
    assert x.flip(0).tolist() == tc.flip(x, (0,)).tolist()


def test_manual_seed_is_top_level():
    tc.manual_seed(3)
    a = tc.randn(3)
    tc.manual_seed(3)
    assert tc.randn(3).tolist() == a.tolist()


# ----------------------------------------------------------------------------- errors
def _raises_like(torch, ours, theirs, match):
    """Both raise; ours the same exception type as PyTorch, naming what is wrong."""
    with pytest.raises(Exception) as t:
        theirs(torch)
    with pytest.raises(type(t.value), match=match):
        ours(tc)


ERRORS = [
    ("cat of a tensor", lambda m: m.cat(m.zeros(2, 3)), "must be tuple of Tensors, not Tensor"),
    ("cat empty", lambda m: m.cat([]), "expected a non-empty list of Tensors"),
    ("cat sizes", lambda m: m.cat([m.zeros(2, 3), m.zeros(3, 3)], 1),
     "Sizes of tensors must match except in dimension 1. Expected size 2 but got size 3 for tensor number 1"),
    ("cat dim", lambda m: m.cat([m.zeros(2, 3)], 2), "Dimension out of range"),
    ("cat 0-d", lambda m: m.cat([m.zeros(()), m.zeros(())]), "zero-dimensional tensor \\(at position 0\\)"),
    ("cat ndim", lambda m: m.cat([m.zeros(2, 3), m.zeros(2, 3, 1)]), "same number of dimensions: got 2 and 3"),
    ("cat element", lambda m: m.cat([m.zeros(2), 1]), "expected Tensor as element 1"),
    ("cat float dim", lambda m: m.cat([m.zeros(2)], 1.0), "argument 'dim' must be int, not float"),
    ("stack sizes", lambda m: m.stack([m.zeros(2, 3), m.zeros(2, 4)]),
     "stack expects each tensor to be equal size, but got \\[2, 3\\] at entry 0 and \\[2, 4\\] at entry 1"),
    ("stack empty", lambda m: m.stack([]), "stack expects a non-empty TensorList"),
    ("stack dim", lambda m: m.stack([m.zeros(2, 3)], 3), "Dimension out of range"),
    ("flatten dim", lambda m: m.flatten(m.zeros(2, 3), 2), "Dimension out of range"),
    ("flatten order", lambda m: m.flatten(m.zeros(2, 3), 1, 0), "start_dim cannot come after end_dim"),
    ("max empty", lambda m: m.max(m.zeros(0)), "Expected reduction dim to be specified"),
    ("max dim", lambda m: m.max(m.zeros(2, 3), 5), "out of range"),
    ("argmax dim", lambda m: m.argmax(m.zeros(2, 3), dim=5), "Dimension out of range"),
    ("argmax empty", lambda m: m.argmax(m.zeros(0)), "Expected reduction dim to be specified"),
    ("where condition", lambda m: m.where(m.zeros(2), m.zeros(2), m.zeros(2)),
     "where expected condition to be a boolean tensor"),
    ("clamp none", lambda m: m.clamp(m.zeros(2)), "At least one of 'min' or 'max' must not be None"),
    ("mm vector", lambda m: m.mm(m.zeros(3), m.zeros(3, 2)), "self must be a matrix"),
    ("mm shapes", lambda m: m.mm(m.zeros(2, 3), m.zeros(4, 2)),
     "mat1 and mat2 shapes cannot be multiplied \\(2x3 and 4x2\\)"),
    ("mm dtypes", lambda m: m.mm(m.zeros(2, 3), m.zeros(3, 2, dtype=m.float64)), "same dtype"),
    ("bmm 2d", lambda m: m.bmm(m.zeros(2, 3), m.zeros(3, 2)), "batch1 must be a 3D tensor"),
    ("bmm batch", lambda m: m.bmm(m.zeros(2, 3, 4), m.zeros(3, 4, 5)),
     "Expected size for first two dimensions of batch2 tensor to be: \\[2, 4\\] but got: \\[3, 4\\]"),
    ("t 3d", lambda m: m.t(m.zeros(2, 3, 4)), "t\\(\\) expects a tensor with <= 2 dimensions, but self is 3D"),
    ("einsum operands", lambda m: m.einsum("ij,jk->ik", m.zeros(2, 3)), "fewer operands were provided"),
    ("einsum more operands", lambda m: m.einsum("ij->i", m.zeros(2, 3), m.zeros(2)), "more operands were provided"),
    ("einsum repeated output", lambda m: m.einsum("ij->ii", m.zeros(2, 3)),
     "output subscript i appears more than once"),
    ("einsum unknown output", lambda m: m.einsum("ij->k", m.zeros(2, 3)), "output subscript k does not appear"),
    ("einsum dims", lambda m: m.einsum("ijk->ij", m.zeros(2, 3)),
     "number of subscripts in the equation \\(3\\) does not match the number of dimensions \\(2\\)"),
    ("einsum sizes", lambda m: m.einsum("ij,jk", m.zeros(2, 3), m.zeros(4, 2)),
     "subscript j has size 4 for operand 1 which does not broadcast with previously seen size 3"),
    ("einsum dtypes", lambda m: m.einsum("ij,jk", m.zeros(2, 3), m.zeros(3, 2, dtype=m.float64)), "dtype"),
    ("split sizes", lambda m: m.split(m.zeros(3, 2), [1, 1]),
     "split_with_sizes expects split_sizes to sum exactly to 3"),
    ("split negative", lambda m: m.split(m.zeros(3, 2), -1), "split expects split_size be non-negative"),
    ("split zero", lambda m: m.split(m.zeros(3, 2), 0), "split_size can only be 0 if dimension size is 0"),
    ("split negative section", lambda m: m.split(m.zeros(3, 2), [2, -1, 2]), "only non-negative entries"),
    ("split dim", lambda m: m.split(m.zeros(3, 2), 1, 2), "Dimension out of range"),
    ("chunk zero", lambda m: m.chunk(m.zeros(3), 0), "chunk expects `chunks` to be greater than 0, got: 0"),
    ("gather index dtype", lambda m: m.gather(m.zeros(2, 3), 1, m.zeros(2, 1)), "Expected dtype int32/int64 for index"),
    ("gather index ndim", lambda m: m.gather(m.zeros(2, 3), 1, m.zeros(2, dtype=m.int64)),
     "Index tensor must have the same number of dimensions as input tensor"),
    ("gather bounds", lambda m: m.gather(m.zeros(2, 3), 1, m.full((2, 1), 3, dtype=m.int64)),
     "index 3 is out of bounds for dimension 1 with size 3"),
    ("gather negative", lambda m: m.gather(m.zeros(2, 3), 1, m.full((2, 1), -1, dtype=m.int64)),
     "index -1 is out of bounds for dimension 1 with size 3"),
    ("gather size", lambda m: m.gather(m.zeros(2, 3), 1, m.zeros(5, 1, dtype=m.int64)),
     "Size does not match at dimension 0"),
    ("gather dim", lambda m: m.gather(m.zeros(2, 3), 2, m.zeros(2, 1, dtype=m.int64)), "Dimension out of range"),
    ("scatter dtype",
     lambda m: m.scatter(m.zeros(2, 3), 1, m.zeros(2, 1, dtype=m.int64), m.zeros(2, 1, dtype=m.float64)),
     "Expected self.dtype to be equal to src.dtype"),
    ("scatter src size", lambda m: m.scatter(m.zeros(2, 3), 1, m.zeros(2, 2, dtype=m.int64), m.zeros(1, 1)),
     "to be no larger size than src"),
    ("scatter reduce", lambda m: m.scatter(m.zeros(2, 3), 1, m.zeros(2, 1, dtype=m.int64), 1.0, reduce="mean"),
     "reduce argument must be either add or multiply"),
    ("flip repeated", lambda m: m.flip(m.zeros(2, 3), (0, 0)), "dim 0 appears multiple times in the list of dims"),
    ("flip dim", lambda m: m.flip(m.zeros(2, 3), (2,)), "Dimension out of range"),
    ("flip int", lambda m: m.flip(m.zeros(2, 3), 0), "must be tuple of ints, not int"),
    ("norm int", lambda m: m.norm(m.tensor([1, 2])), "Expected a floating point or complex tensor as input"),
    ("norm order", lambda m: m.norm(m.zeros(2, 3), p="foo"), "Order foo not supported"),
    ("allclose dtypes", lambda m: m.allclose(m.zeros(2), m.zeros(2, dtype=m.float64)), "did not match"),
    ("numel number", lambda m: m.numel(3), "must be Tensor, not int"),
    ("eq shapes", lambda m: m.eq(m.zeros(2), m.zeros(3)), "size of tensor a"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_match_pytorch(torch, case):
    _, call, match = case
    _raises_like(torch, call, call, match)


def test_failed_calls_leave_inputs_unchanged():
    x = tc.tensor(RNG.standard_normal((2, 3)))
    before = x.numpy().copy()
    with pytest.raises(RuntimeError):
        tc.scatter(x, 1, tc.tensor([[5]]), 1.0)
    with pytest.raises(RuntimeError):
        tc.cat([x, tc.zeros(3, 3, dtype=tc.float64)], 1)
    np.testing.assert_array_equal(x.numpy(), before)
