"""Factories against PyTorch: signatures (read from PyTorch's own docstrings), default dtypes under
both default float dtypes, values, the seed, copying versus sharing, and the errors."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest

import tinygrad_conv as tc

# Arguments PyTorch's factories take that have no meaning without other devices or layouts;
# they are left out on purpose (docs/porting.md lists them).
UNSUPPORTED = {"out", "layout", "memory_format"}

FACTORIES = ["tensor", "from_numpy", "as_tensor", "rand", "randn", "rand_like", "randn_like", "full", "full_like",
             "zeros", "ones", "zeros_like", "ones_like", "empty", "empty_like", "arange", "linspace", "eye"]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def default_dtype(torch):
    """Set both libraries' default float dtype for one test; restored afterwards."""
    before = torch.get_default_dtype()

    def set_(name: str) -> None:
        tc.set_default_dtype(getattr(tc, name))
        torch.set_default_dtype(getattr(torch, name))

    yield set_
    tc.set_default_dtype(tc.float32)
    torch.set_default_dtype(before)


def _np(torch_dtype) -> np.dtype:
    return np.dtype(str(torch_dtype).replace("torch.", ""))


def _torch_params(doc: str) -> list[tuple[str, str, str | None]]:
    """(name, kind, default) from the first line of a PyTorch docstring, e.g.
    'zeros(*size, *, out=None, dtype=None, ...) -> Tensor'."""
    inside = doc.strip().splitlines()[0]
    inside = inside[inside.index("(") + 1: inside.rindex(")")]
    params, keyword_only = [], False
    for part in re.split(r",\s*", inside.replace("\\*", "*")):
        part = re.sub(r":\s*[^=]+", "", part).strip()  # drop annotations: 'dtype: Optional[dtype] = None'
        if part == "*":
            keyword_only = True
            continue
        if part.startswith("*"):
            params.append((part[1:], "var", None))
            keyword_only = True
            continue
        name, _, default = part.partition("=")
        params.append((name.strip(), "kw" if keyword_only else "pos", default.strip() or None))
    return params


@pytest.mark.parametrize("name", FACTORIES)
def test_signature_is_torchs(torch, name):
    ref = [p for p in _torch_params(getattr(torch, name).__doc__) if p[0] not in UNSUPPORTED]
    kinds = {inspect.Parameter.VAR_POSITIONAL: "var", inspect.Parameter.KEYWORD_ONLY: "kw",
             inspect.Parameter.POSITIONAL_OR_KEYWORD: "pos"}
    ours = []
    for p in inspect.signature(getattr(tc, name)).parameters.values():
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        ours.append((p.name, kinds[p.kind], default))
    if name == "as_tensor":  # PyTorch's docstring omits device's default (it is None)
        ref = [(n, k, "None" if n == "device" else d) for n, k, d in ref]
    if name == "arange":  # end=None is how one Python function takes both arange(end) and arange(start, end)
        ref = [(n, k, "None" if n == "end" else d) for n, k, d in ref]
    assert ours == ref


def test_randint_forms_match_torch(torch):
    for args, kw in [((10, (3,)), {}), ((2, 10, (3, 2)), {}), ((2, 10), {"size": (4,)}),
                     ((), {"high": 5, "size": (2,)}), ((), {"low": 3, "high": 5, "size": (2,)}),
                     ((3,), {"high": 5, "size": (2,)})]:
        t = torch.randint(*args, **kw)
        ours = tc.randint(*args, **kw)
        assert ours.shape == tuple(t.shape) and ours.dtype == _np(t.dtype) == tc.int64
    x = tc.randint(3, 7, (1000,), generator=np.random.default_rng(0))
    assert x.min().item() == 3 and x.max().item() == 6
    assert tc.randint(5, (2,), dtype=tc.float32).dtype == tc.float32
    for args, kw in [((5,), {}), ((2, 5), {}), ((), {"high": 5}), ((), {"low": 1, "high": 3})]:
        ref = torch.randint_like(torch.zeros(2, 3), *args, **kw)
        ours = tc.randint_like(tc.zeros(2, 3), *args, **kw)
        assert ours.shape == tuple(ref.shape) and ours.dtype == _np(ref.dtype)
    assert tc.randint_like(tc.zeros(2, dtype=tc.int32), 1, 2).tolist() == [1, 1]


# ----------------------------------------------------------------------------- dtypes
CALLS = {
    "zeros": (lambda m: m.zeros(2, 3), lambda m: m.zeros(2, 3, dtype=m.int32)),
    "ones": (lambda m: m.ones((2, 3)), lambda m: m.ones([2], dtype=m.float16)),
    "empty": (lambda m: m.empty(2), lambda m: m.empty(2, dtype=m.int64)),
    "rand": (lambda m: m.rand(2, 3), lambda m: m.rand(2, dtype=m.float64)),
    "randn": (lambda m: m.randn(2, 3), lambda m: m.randn(2, dtype=m.float16)),
    "full float": (lambda m: m.full((2,), 1.5), lambda m: m.full((2,), 1.5, dtype=m.int64)),
    "full int": (lambda m: m.full((2,), 3), lambda m: m.full((2,), 3, dtype=m.float64)),
    "full bool": (lambda m: m.full((2,), True), lambda m: m.full((2,), 1, dtype=m.bool)),
    "arange int": (lambda m: m.arange(5), lambda m: m.arange(1, 9, 2, dtype=m.float32)),
    "arange float": (lambda m: m.arange(0, 1, 0.25), lambda m: m.arange(0.5, 3, dtype=m.float64)),
    "linspace": (lambda m: m.linspace(0, 1, 5), lambda m: m.linspace(0, 10, 4, dtype=m.int64)),
    "eye": (lambda m: m.eye(3), lambda m: m.eye(2, 4, dtype=m.int64)),
    "tensor": (lambda m: m.tensor([[1.5, 2.0]]), lambda m: m.tensor([1, 2], dtype=m.float64)),
    "tensor int": (lambda m: m.tensor([1, 2]), lambda m: m.tensor(3, dtype=m.uint8)),
    "tensor bool": (lambda m: m.tensor([True]), lambda m: m.tensor(1.5, dtype=m.float16)),
    "as_tensor": (lambda m: m.as_tensor([0.5]), lambda m: m.as_tensor([1], dtype=m.float32)),
    "randint": (lambda m: m.randint(5, (3,)), lambda m: m.randint(0, 5, (3,), dtype=m.int32)),
}
LIKE = {
    "zeros_like": (), "ones_like": (), "empty_like": (), "rand_like": (), "randn_like": (),
    "full_like": (2.7,), "randint_like": (4,),
}


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("default", ["float32", "float64"])
def test_dtype_defaults_and_overrides_match_torch(torch, default_dtype, name, default):
    default_dtype(default)
    for call in CALLS[name]:
        ref, ours = call(torch), call(tc)
        assert ours.dtype == _np(ref.dtype), (name, ours.dtype, ref.dtype)
        assert ours.shape == tuple(ref.shape)
        if name not in ("empty", "rand", "randn", "randint"):
            np.testing.assert_allclose(ours.numpy().astype(np.float64), ref.numpy().astype(np.float64),
                                       rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(LIKE))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64"])
def test_like_factories_keep_or_override_the_dtype(torch, name, dtype):
    if dtype == "int64" and name in ("rand_like", "randn_like"):
        with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
            getattr(torch, name)(torch.zeros(2, dtype=torch.int64))
        with pytest.raises(NotImplementedError, match=f"{name}: dtype int64 is not supported"):
            getattr(tc, name)(tc.zeros(2, dtype=tc.int64))
        return
    args = LIKE[name]
    src_t, src = torch.zeros(2, 3, dtype=getattr(torch, dtype)), tc.zeros(2, 3, dtype=getattr(tc, dtype))
    ref, ours = getattr(torch, name)(src_t, *args), getattr(tc, name)(src, *args)
    assert ours.dtype == _np(ref.dtype) and ours.shape == tuple(ref.shape)
    ref = getattr(torch, name)(src_t, *args, dtype=torch.float64)
    ours = getattr(tc, name)(src, *args, dtype=tc.float64)
    assert ours.dtype == _np(ref.dtype) == tc.float64
    if name == "full_like":
        assert ours.tolist() == ref.tolist()
    with pytest.raises(TypeError, match=f"{name}\\(\\): argument 'input' \\(position 1\\) must be Tensor, not list"):
        getattr(tc, name)([1.0, 2.0], *args)


def test_requires_grad_makes_a_leaf_and_integer_dtypes_refuse_it():
    for t in [tc.zeros(2, requires_grad=True), tc.randn(2, requires_grad=True), tc.full((2,), 1.0, requires_grad=True),
              tc.arange(0.0, 2.0, requires_grad=True), tc.eye(2, requires_grad=True),
              tc.ones_like(tc.zeros(2), requires_grad=True), tc.tensor([1.0], requires_grad=True)]:
        assert t.requires_grad and t.is_leaf and t.grad_fn is None
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        tc.arange(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        tc.randint(3, (2,), requires_grad=True)


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("args", [(0, 1, 5), (0, 10, 4), (-3.3, 7.1, 17), (1e-3, 2.5, 101), (5, -5, 11),
                                  (2, 2, 3), (0, 1, 1), (0, 1, 0), (0.1, 0.7, 7), (0, 1, 1000)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32"])
def test_linspace_matches_torch(torch, args, dtype):
    ref = torch.linspace(*args, dtype=getattr(torch, dtype)).numpy()
    ours = tc.linspace(*args, dtype=getattr(tc, dtype)).numpy()
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    if dtype.startswith("int"):
        np.testing.assert_array_equal(ours, ref)
    else:
        # PyTorch's vectorised loop rounds some middle values the other way: a few ulp at most.
        np.testing.assert_allclose(ours, ref, rtol=4 * np.finfo(ref.dtype).eps, atol=4 * np.finfo(ref.dtype).eps)
        assert ours[:1].tolist() == ref[:1].tolist() and ours[-1:].tolist() == ref[-1:].tolist()


@pytest.mark.parametrize("args", [(5,), (0, 1, 0.1), (1, 2.5), (-3, 7.1, 0.37), (0, 10, 3), (10, 0, -3),
                                  (0.5, 100.3, 0.7), (0, 1, 1 / 3), (2.5,), (0, 0), (-2, 3, 0.5)])
@pytest.mark.parametrize("dtype", [None, "float64", "int64", "float16"])
def test_arange_matches_torch(torch, args, dtype):
    try:
        ref = torch.arange(*args, dtype=None if dtype is None else getattr(torch, dtype)).numpy()
    except (RuntimeError, ValueError) as e:
        with pytest.raises(type(e), match="step must be nonzero"):
            tc.arange(*args, dtype=None if dtype is None else getattr(tc, dtype))
        return
    ours = tc.arange(*args, dtype=None if dtype is None else getattr(tc, dtype)).numpy()
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    eps = np.finfo(ref.dtype).eps if ref.dtype.kind == "f" else 0
    np.testing.assert_allclose(ours, ref, rtol=4 * eps, atol=4 * eps)


def test_full_eye_and_ones_values_match_torch(torch):
    assert tc.full((2, 2), 1.5, dtype=tc.int64).tolist() == torch.full((2, 2), 1.5, dtype=torch.int64).tolist()
    assert tc.full((2,), tc.tensor(2.5)).tolist() == [2.5, 2.5]
    assert tc.eye(3, 2).tolist() == torch.eye(3, 2).tolist()
    assert tc.eye(0).shape == (0, 0)
    assert tc.zeros(()).shape == () and tc.ones(0, 3).shape == (0, 3)
    assert tc.zeros(np.int64(2), 3).shape == (2, 3) and tc.zeros((np.int32(1),)).shape == (1,)


# ----------------------------------------------------------------------------- the seed
RANDOM = {
    "rand": lambda **k: tc.rand(3, 4, **k),
    "randn": lambda **k: tc.randn(3, 4, **k),
    "randint": lambda **k: tc.randint(0, 1000, (3, 4), **k),
    "rand_like": lambda **k: tc.rand_like(tc.zeros(3, 4), **k),
    "randn_like": lambda **k: tc.randn_like(tc.zeros(3, 4), **k),
    "randint_like": lambda **k: tc.randint_like(tc.zeros(3, 4), 1000, **k),
    "rand float64": lambda **k: tc.rand(3, 4, dtype=tc.float64, **k),
    "randn float16": lambda **k: tc.randn(3, 4, dtype=tc.float16, **k),
}


@pytest.mark.parametrize("name", list(RANDOM))
def test_random_factories_follow_manual_seed(name):
    draw = RANDOM[name]
    tc.manual_seed(0)
    a, b = draw(), draw()
    tc.manual_seed(0)
    c = draw()
    np.testing.assert_array_equal(a.numpy(), c.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())  # without a new seed the stream moves on
    tc.manual_seed(1)
    assert not np.array_equal(a.numpy(), draw().numpy())
    # An explicit generator is used instead of (and leaves alone) the default one.
    tc.manual_seed(0)
    d = draw(generator=np.random.default_rng(5))
    np.testing.assert_array_equal(d.numpy(), draw(generator=np.random.default_rng(5)).numpy())
    np.testing.assert_array_equal(draw().numpy(), a.numpy())


def test_generator_must_be_a_numpy_generator():
    with pytest.raises(TypeError, match="randn: generator must be a numpy.random.Generator"):
        tc.randn(2, generator=3)


def test_randn_and_rand_distributions():
    x = tc.randn(200_000, generator=np.random.default_rng(0)).numpy()
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01
    u = tc.rand(200_000, generator=np.random.default_rng(0)).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


# ----------------------------------------------------------------------------- copy or share
def test_tensor_copies_from_numpy_shares_as_tensor_shares_when_it_can(torch):
    a = np.zeros(3, dtype=np.float32)
    t, f, s = tc.tensor(a), tc.from_numpy(a), tc.as_tensor(a)
    a[0] = 5.0
    assert t.tolist() == [0.0, 0.0, 0.0]  # torch.tensor copies
    assert f.tolist() == [5.0, 0.0, 0.0] and s.tolist() == [5.0, 0.0, 0.0]
    ref = torch.from_numpy(a)
    a[1] = 7.0
    assert ref.tolist() == f.tolist()
    # Writes through the tensor reach the array too.
    with tc.no_grad():
        f.fill_(1.0)
    assert a.tolist() == [1.0, 1.0, 1.0]
    # as_tensor of another dtype must copy; of a Tensor with the same dtype it is that tensor.
    c = tc.as_tensor(a, dtype=tc.float64)
    a[2] = 9.0
    assert c.dtype == tc.float64 and c.tolist() == [1.0, 1.0, 1.0]
    x = tc.ones(2)
    assert tc.as_tensor(x) is x and tc.as_tensor(x, dtype=tc.float64).dtype == tc.float64
    assert tc.as_tensor([1.5]).dtype == tc.float32


def test_optimizer_step_does_not_write_into_the_callers_array():
    # Issue 14 item 9: tc.tensor(ndarray) used to share the array, so training changed the user's data.
    w0 = np.ones(3, dtype=np.float32)
    w = tc.tensor(w0, requires_grad=True)
    (w * 2.0).sum().backward()
    tc.optim.SGD([w], lr=0.1).step()
    assert w0.tolist() == [1.0, 1.0, 1.0] and w.tolist() != [1.0, 1.0, 1.0]


def test_tensor_of_a_tensor_copies_and_warns_as_torch():
    x = tc.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="recommended to use sourceTensor.clone\\(\\).detach\\(\\)"):
        y = tc.tensor(x)
    with tc.no_grad():
        x.fill_(3.0)
    assert y.tolist() == [1.0, 1.0] and not y.requires_grad and y.is_leaf


def test_tensor_keeps_numpy_dtypes_and_makes_python_floats_the_default(torch, default_dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for data in [np.zeros(2, dtype=np.float16), np.arange(3, dtype=np.int16), [1.5, 2.0], [1, 2], [[True]], 2.0]:
            assert tc.tensor(data).dtype == _np(torch.tensor(data).dtype), data
    default_dtype("float64")
    assert tc.tensor([1.5]).dtype == _np(torch.tensor([1.5]).dtype) == tc.float64


def test_from_numpy_errors_match_torch(torch):
    with pytest.raises(TypeError, match="expected np.ndarray \\(got list\\)"):
        torch.from_numpy([1.0])
    with pytest.raises(TypeError, match="from_numpy: expected np.ndarray \\(got list\\)"):
        tc.from_numpy([1.0])
    with pytest.raises(TypeError, match="can't convert np.ndarray of type numpy.complex128"):
        tc.from_numpy(np.zeros(2, dtype=np.complex128))


# ----------------------------------------------------------------------------- errors
ERRORS = [
    ("zeros(-1, 2)", lambda m: m.zeros(-1, 2), "Dimension size must be non-negative"),
    ("zeros(2.0)", lambda m: m.zeros(2.0), "argument 'size' \\(position 1\\) must be tuple of ints"),
    ("zeros()", lambda m: m.zeros(), "missing 1 required positional arguments"),
    ("full(3, 1.0)", lambda m: m.full(3, 1.0), "argument 'size' \\(position 1\\) must be tuple of ints, not int"),
    ("arange step 0", lambda m: m.arange(0, 5, 0), "step must be nonzero"),
    ("arange wrong sign", lambda m: m.arange(5, 0, 1), "upper bound and lower bound inconsistent with step sign"),
    ("linspace negative", lambda m: m.linspace(0, 1, -1), "number of steps must be non-negative"),
    ("eye(-1)", lambda m: m.eye(-1), "n must be greater or equal to 0, got -1"),
    ("eye(2, -1)", lambda m: m.eye(2, -1), "m must be greater or equal to 0, got -1"),
    ("randint empty range", lambda m: m.randint(5, 5, (2,)), "random_ expects 'from' to be less than 'to', but "
                                                               "got from=5 >= to=5"),
    ("randint size int", lambda m: m.randint(10, 3), "argument 'size' \\(position 2\\) must be tuple of ints"),
    ("rand int64", lambda m: m.rand(2, dtype=m.int64), None),
    ("randn int64", lambda m: m.randn(2, dtype=m.int64), None),
    ("zeros_like list", lambda m: m.zeros_like([1]), "argument 'input' \\(position 1\\) must be Tensor, not list"),
]


@pytest.mark.parametrize("what,call,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(torch, what, call, message):
    with pytest.raises(Exception) as ref:
        call(torch)
    kind = type(ref.value)
    with pytest.raises(kind, match=message) as ours:
        call(tc)
    assert what.split("(")[0].split(" ")[0] in str(ours.value)  # names the op


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_other_devices_are_refused_clearly(torch, name):
    fn = getattr(tc, name)
    for cpu in [None, "cpu", "cpu:0", torch.device("cpu")]:
        assert fn(2, device=cpu).shape == (2,)
    with pytest.raises(RuntimeError, match=f"{name}: device 'cuda' is not available: tinygrad_conv only supports "
                                           "the CPU"):
        fn(2, device="cuda")
    with pytest.raises(RuntimeError, match="only supports the CPU"):
        fn(2, device=torch.device("meta"))
    with pytest.raises(RuntimeError, match="tensor: device 'cuda:0' is not available"):
        tc.tensor([1.0], device="cuda:0")


def test_pin_memory_is_refused_as_on_a_cpu_only_torch(torch):
    with pytest.raises(RuntimeError, match="pin_memory=True needs an accelerator"):
        tc.randn(2, pin_memory=True)
    with pytest.raises(RuntimeError, match="pin_memory"):
        tc.tensor([1.0], pin_memory=True)


def test_bad_dtype_names_the_factory():
    with pytest.raises(TypeError, match="zeros: unsupported dtype complex64"):
        tc.zeros(2, dtype=np.complex64)
    with pytest.raises(TypeError, match="ones: dtype must be a dtype such as tinygrad_conv.float32, got 'nope'"):
        tc.ones(2, dtype="nope")
    assert tc.zeros(2, dtype=float).dtype == tc.float64 and tc.zeros(2, dtype=int).dtype == tc.int64
    assert tc.zeros(2, dtype=bool).dtype == tc.bool and tc.zeros(2, dtype="float16").dtype == tc.half


def test_every_random_draw_in_the_library_follows_manual_seed():
    # Issue 14 item 10: weights, dropout, factories and the bundled loader's shuffling all draw from
    # the one default generator.
    from tinygrad_conv.data import DataLoader, TensorDataset

    def draws():
        layer = tc.nn.Linear(4, 3)
        mask = tc.functional.dropout(tc.ones(50), p=0.5)
        loader = DataLoader(TensorDataset(np.arange(20, dtype=np.float32).reshape(10, 2)), batch_size=10, shuffle=True)
        (batch,) = next(iter(loader))
        return [layer.weight.detach().numpy(), mask.numpy(), batch.numpy(), tc.randn(3).numpy(), tc.rand(3).numpy()]

    tc.manual_seed(3)
    first, second = draws(), draws()
    tc.manual_seed(3)
    again = draws()
    for a, b, c in zip(first, second, again):
        np.testing.assert_array_equal(a, c)
        assert not np.array_equal(a, b)


def test_tensor_of_a_list_of_tensors_and_ragged_lists(torch):
    ours = tc.tensor([tc.tensor(1.5), tc.tensor(2.0)])
    ref = torch.tensor([torch.tensor(1.5), torch.tensor(2.0)])
    assert ours.tolist() == ref.tolist() and ours.dtype == _np(ref.dtype)
    assert tc.tensor([[1, 2], [3, tc.tensor(4)]]).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="expected sequence of length"):
        torch.tensor([[1, 2], [3]])
    with pytest.raises(ValueError, match="Tensor: the nested lists are ragged.*got lengths \\[2, 1\\]"):
        tc.tensor([[1, 2], [3]])
