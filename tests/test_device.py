"""The CPU device API (issue 15, item 2) against PyTorch: ``tc.device``, ``Tensor.device``,
``Tensor.to``'s overloads, ``cpu``/``cuda``, ``device=`` on every factory, ``tc.cuda``,
``tc.accelerator``, ``tc.backends`` and ``Module.to``. Every other device is refused with an error
that says only the CPU is available."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import nn

ONLY_CPU = "only supports the CPU"


# ----------------------------------------------------------------------------- tc.device
@pytest.mark.parametrize("args", [("cpu",), ("cpu:0",), ("cpu", 0), ("cpu:3",)])
def test_device_matches_torch_device(torch, args):
    ours, theirs = tc.device(*args), torch.device(*args)
    assert ours.type == theirs.type and ours.index == theirs.index
    assert str(ours) == str(theirs) and repr(ours) == repr(theirs)
    assert (ours == tc.device("cpu")) == (theirs == torch.device("cpu"))
    assert tc.device(ours) == ours and hash(tc.device(ours)) == hash(ours)
    assert tc.device(theirs) == ours  # PyTorch's device objects are accepted too
    assert pickle.loads(pickle.dumps(ours)) == ours


def test_device_is_not_equal_to_a_string(torch):
    assert (tc.device("cpu") == "cpu") == (torch.device("cpu") == "cpu") is False
    assert len({tc.device("cpu"), tc.device("cpu"), tc.device("cpu:0")}) == 2


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "mps", "xpu", "meta"])
def test_other_devices_say_only_the_cpu_is_available(spec):
    with pytest.raises(RuntimeError, match=f"device '{spec}' is not available: tinygrad_conv {ONLY_CPU}"):
        tc.device(spec)
    with pytest.raises(RuntimeError, match=ONLY_CPU):
        tc.zeros(2).to(spec)
    with pytest.raises(RuntimeError, match=ONLY_CPU):
        nn.Linear(2, 2).to(spec)


def test_a_bare_index_means_an_accelerator():
    with pytest.raises(RuntimeError, match=ONLY_CPU):
        tc.device(0)


@pytest.mark.parametrize("spec, match", [("foo", "Expected one of cpu, cuda"), ("cpu:x", "Invalid device string"),
                                         ("cpu:-1", "Invalid device string"), ("", "Invalid device string")])
def test_malformed_device_strings_raise_as_pytorch(torch, spec, match):
    with pytest.raises(RuntimeError):
        torch.device(spec)
    with pytest.raises(RuntimeError, match=match):
        tc.device(spec)


def test_device_index_errors(torch):
    with pytest.raises(RuntimeError, match="must not include an index"):
        tc.device("cpu:0", 0)
    with pytest.raises(RuntimeError, match="must not be negative"):
        tc.device("cpu", -1)
    with pytest.raises(TypeError, match="must be str or device"):
        tc.device(1.5)


# ----------------------------------------------------------------------------- Tensor.device
def test_tensors_and_parameters_are_on_the_cpu(torch):
    x, p = tc.zeros(2), nn.Parameter(tc.zeros(2))
    for t in (x, p, x * 2, nn.Linear(2, 3).weight):
        assert t.device == tc.device("cpu") and str(t.device) == str(torch.zeros(2).device)
        assert t.is_cuda is False and t.is_cpu is True
    assert x.cpu() is x and p.cpu() is p


def test_cuda_is_refused(torch):
    with pytest.raises(RuntimeError, match=f"device 'cuda' is not available: tinygrad_conv {ONLY_CPU}"):
        tc.zeros(2).cuda()
    with pytest.raises(RuntimeError, match="'cuda:1' is not available"):
        tc.zeros(2).cuda(1)
    with pytest.raises(RuntimeError, match=ONLY_CPU):
        nn.Linear(2, 2).cuda()


# ----------------------------------------------------------------------------- Tensor.to
def _to_dtype(torch, name):
    return getattr(tc, name), getattr(torch, name)


@pytest.mark.parametrize("call", [
    lambda m, x: x.to("cpu"),
    lambda m, x: x.to(m.device("cpu")),
    lambda m, x: x.to(device="cpu"),
    lambda m, x: x.to(m.float32),
    lambda m, x: x.to(dtype=m.float32, device="cpu"),
    lambda m, x: x.to(m.zeros(1)),
    lambda m, x: x.to("cpu", non_blocking=True),
    lambda m, x: x.to(),
    lambda m, x: x.cpu(),
])
def test_to_without_a_change_returns_self(torch, call):
    ours, theirs = tc.zeros(2), torch.zeros(2)
    assert (call(tc, ours) is ours) == (call(torch, theirs) is theirs) is True


@pytest.mark.parametrize("call", [
    lambda m, x: x.to(m.float64),
    lambda m, x: x.to("cpu", m.float64),
    lambda m, x: x.to(m.device("cpu"), m.float64, False, True),
    lambda m, x: x.to(m.float64, True, True),
    lambda m, x: x.to(device="cpu", dtype=m.float64),
    lambda m, x: x.to(m.zeros(1, dtype=m.float64)),
    lambda m, x: x.to(m.float64, non_blocking=False, copy=True),
    lambda m, x: x.to(m.float32, copy=True),
    lambda m, x: x.to("cpu", copy=True),
    lambda m, x: x.double(),
    lambda m, x: x.type(m.float64),
])
def test_to_converts_and_differentiates_as_pytorch(torch, call):
    a = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    ours, theirs = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    o, t = call(tc, ours * 1), call(torch, theirs * 1)
    assert str(o.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_array_equal(o.detach().numpy(), t.detach().numpy())
    g = np.random.default_rng(1).standard_normal((3, 2))
    o.backward(tc.tensor(g.astype(o.dtype)))
    t.backward(torch.tensor(g.astype(o.dtype)))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)
    assert ours.grad.dtype == tc.float32


def test_to_copy_gives_new_memory(torch):
    x = tc.zeros(3)
    y = x.to("cpu", copy=True)
    y += 1
    assert x.tolist() == [0.0, 0.0, 0.0] and y is not x


def test_to_an_integer_dtype_leaves_the_graph(torch):
    x = tc.tensor([1.5, -2.5], requires_grad=True)
    y, ty = x.to(tc.int64), torch.tensor([1.5, -2.5], requires_grad=True).to(torch.int64)
    assert y.tolist() == ty.tolist() and y.dtype == tc.int64
    assert y.requires_grad is ty.requires_grad is False and y.grad_fn is None


def test_to_argument_errors():
    x = tc.zeros(2)
    with pytest.raises(TypeError, match="invalid combination"):
        x.to(tc.float64, dtype=tc.float64)
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        x.to(foo=1)
    with pytest.raises(TypeError, match="memory_format is not supported"):
        x.to(tc.float64, memory_format="channels_last")
    with pytest.raises(TypeError, match="'copy' must be bool"):
        x.to(tc.float64, False, "yes")
    with pytest.raises(TypeError, match="dtype"):
        x.to("cpu", "float128")


# ----------------------------------------------------------------------------- factories
FACTORIES = {
    "tensor": lambda d: tc.tensor([1.0], device=d), "as_tensor": lambda d: tc.as_tensor([1.0], device=d),
    "zeros": lambda d: tc.zeros(2, device=d), "ones": lambda d: tc.ones(2, device=d),
    "empty": lambda d: tc.empty(2, device=d), "full": lambda d: tc.full((2,), 1.0, device=d),
    "zeros_like": lambda d: tc.zeros_like(tc.zeros(2), device=d),
    "ones_like": lambda d: tc.ones_like(tc.zeros(2), device=d),
    "empty_like": lambda d: tc.empty_like(tc.zeros(2), device=d),
    "full_like": lambda d: tc.full_like(tc.zeros(2), 3.0, device=d),
    "rand": lambda d: tc.rand(2, device=d), "randn": lambda d: tc.randn(2, device=d),
    "rand_like": lambda d: tc.rand_like(tc.zeros(2), device=d),
    "randn_like": lambda d: tc.randn_like(tc.zeros(2), device=d),
    "randint": lambda d: tc.randint(5, (2,), device=d),
    "randint_like": lambda d: tc.randint_like(tc.zeros(2), 5, device=d),
    "arange": lambda d: tc.arange(3, device=d), "linspace": lambda d: tc.linspace(0, 1, 3, device=d),
    "eye": lambda d: tc.eye(2, device=d),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_factory_takes_device(torch, name):
    make = FACTORIES[name]
    for d in (None, "cpu", "cpu:0", tc.device("cpu"), tc.device("cpu", 0), torch.device("cpu")):
        assert make(d).device == tc.device("cpu")
    for bad in ("cuda", "mps", torch.device("cuda")):
        with pytest.raises(RuntimeError, match=f"{name}: device .* is not available: tinygrad_conv {ONLY_CPU}"):
            make(bad)
    with pytest.raises(RuntimeError, match="Expected one of cpu"):
        make("gpu")


# ----------------------------------------------------------------------------- tc.cuda and friends
def test_cuda_accelerator_and_backends_answer_as_a_cpu_only_torch(torch):
    assert tc.cuda.is_available() is False and tc.cuda.device_count() == 0
    tc.cuda.manual_seed(0)  # accepted and ignored, as torch.cuda.manual_seed without a GPU
    tc.cuda.manual_seed_all(0)
    assert tc.accelerator.is_available() is False and tc.accelerator.current_accelerator() is None
    assert tc.accelerator.device_count() == 0
    assert tc.backends.mps.is_available() is False and tc.backends.mps.is_built() is False
    assert tc.backends.cudnn.is_available() is False
    tc.backends.cudnn.benchmark = True  # programs set these; they change nothing here
    tc.backends.cudnn.deterministic = True
    tc.backends.cudnn.benchmark = tc.backends.cudnn.deterministic = False
    # The usual device pick runs unchanged.
    device = tc.device("cuda" if tc.cuda.is_available() else "cpu")
    model = nn.Linear(3, 2).to(device)
    assert model(tc.randn(4, 3).to(device)).device == device


# ----------------------------------------------------------------------------- Module.to
def _pair(torch):
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("call", [
    lambda m, mod: mod.to(m.float64),
    lambda m, mod: mod.to("cpu", m.float64),
    lambda m, mod: mod.to(device="cpu", dtype=m.float64),
    lambda m, mod: mod.to(m.zeros(1, dtype=m.float64)),
    lambda m, mod: mod.double(),
    lambda m, mod: mod.type(m.float64),
    lambda m, mod: mod.half(),
    lambda m, mod: mod.double().float(),
    lambda m, mod: mod.to("cpu"),
    lambda m, mod: mod.to(m.device("cpu"), non_blocking=True),
    lambda m, mod: mod.cpu(),
])
def test_module_to_converts_in_place_as_pytorch(torch, call):
    ours, theirs = _pair(torch)
    params = list(ours.parameters())
    assert call(tc, ours) is ours and call(torch, theirs) is theirs
    assert list(ours.parameters()) == params  # the same Parameter objects (optimisers keep them)
    for (name, o), (_, t) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert str(o.dtype) == str(t.dtype).replace("torch.", ""), name
        np.testing.assert_array_equal(o.numpy(), t.numpy())


def test_module_to_errors(torch):
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes, but got "
                                        "desired dtype=int64"):
        nn.Linear(2, 2).to(tc.int64)
    with pytest.raises(TypeError):
        torch.nn.Linear(2, 2).to(torch.int64)
    with pytest.raises(RuntimeError, match=ONLY_CPU):
        nn.Linear(2, 2).to("cuda:0", tc.float64)
    m = nn.Linear(2, 2)
    m.weight.grad = tc.ones(2, 2)
    m.to(tc.float64)
    assert m.weight.grad is None and m.weight.dtype == tc.float64


def test_module_type_casts_every_tensor_or_none(torch):
    m = nn.BatchNorm1d(2)
    m.eval().requires_grad_(False).type(tc.float64)
    assert m.num_batches_tracked.dtype == tc.float64 == np.dtype(
        str(torch.nn.BatchNorm1d(2).type(torch.float64).num_batches_tracked.dtype)[6:])
    m = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="requires grad can't become int64"):
        m.type(tc.int64)
    assert m.weight.dtype == m.bias.dtype == tc.float32  # the refusal changed nothing
