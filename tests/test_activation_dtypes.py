"""The dtypes PyTorch's activations take and refuse, side by side with PyTorch: hardtanh and relu6
clip integer tensors in their own dtype and refuse bool; softmax and log_softmax refuse integers
unless dtype= converts them; prelu does not promote between input and weight."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int8"])
@pytest.mark.parametrize("op, args", [("relu6", ()), ("hardtanh", ()), ("hardtanh", (-1.5, 2.5)),
                                      ("hardtanh", (0.0, 4.0))])
def test_clipping_activations_keep_integer_dtypes(torch, dtype: str, op: str, args: tuple) -> None:
    values = np.array([0, 1, 3, 7, 9, 100], dtype=dtype)
    if dtype.startswith("int"):
        values = np.concatenate([values, np.array([-1, -3, -100], dtype=dtype)])
    low = args[0] if args else -1.0 if op == "hardtanh" else 0.0
    if dtype.startswith("uint") and low < 0:  # refused by both, with PyTorch's message
        with pytest.raises(RuntimeError, match="unsigned type with negative limits"):
            getattr(torch.nn.functional, op)(torch.from_numpy(values.copy()), *args)
        with pytest.raises(RuntimeError, match=f"{op}: cannot do hardtanh on an unsigned type with negative limits"):
            getattr(F, op)(tc.tensor(values), *args)
        return
    ours = getattr(F, op)(tc.tensor(values), *args)
    theirs = getattr(torch.nn.functional, op)(torch.from_numpy(values.copy()), *args)
    assert ours.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("op", ["relu6", "hardtanh"])
def test_clipping_activations_refuse_bool_as_pytorch(torch, op: str) -> None:
    with pytest.raises(RuntimeError, match="Bool inputs not supported"):
        getattr(torch.nn.functional, op)(torch.tensor([True, False]))
    with pytest.raises(RuntimeError, match=f"{op}: Bool inputs not supported"):
        getattr(F, op)(tc.tensor([True, False]))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_refuses_integers_unless_dtype_converts(torch, op: str) -> None:
    values = np.array([[1, 2, 3], [0, -1, 5]])
    with pytest.raises(NotImplementedError):
        getattr(torch.nn.functional, op)(torch.from_numpy(values), 1)
    with pytest.raises(NotImplementedError, match=rf"{op}: not implemented for int64 .*dtype="):
        getattr(F, op)(tc.tensor(values), 1)
    ours = getattr(F, op)(tc.tensor(values), 1, dtype=tc.float32)
    theirs = getattr(torch.nn.functional, op)(torch.from_numpy(values), 1, dtype=torch.float32)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_prelu_does_not_promote_between_input_and_weight(torch) -> None:
    with pytest.raises(RuntimeError, match="Type promoting not supported"):
        torch.nn.functional.prelu(torch.ones(2, 3), torch.ones(1, dtype=torch.float64))
    x = tc.ones(2, 3)
    with pytest.raises(RuntimeError, match="prelu: Type promoting not supported: input is float32 and weight float64"):
        F.prelu(x, tc.ones(1, dtype=tc.float64))
    assert x.tolist() == [[1.0] * 3] * 2  # the failed call left the input as it was
