"""The argument checks the conv and pool families share (tinygrad_conv/ops/_args.py): one rule for
an int-or-pair argument and one for the input, so both families accept and refuse the same things
with the same words."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def _x(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape)


# (op name, input shape, extra positional args (weights), keyword arguments with one-element sequences)
ONE_ELEMENT = [
    ("conv2d", (1, 2, 7, 6), [(3, 2, 3, 2)], {"stride": (2,), "padding": [1], "dilation": (1,)}),
    ("conv_transpose2d", (1, 2, 4, 3), [(2, 3, 3, 2)], {"stride": [2], "padding": (1,), "output_padding": (1,)}),
    ("max_pool2d", (1, 2, 7, 6), [], {"kernel_size": (3,), "stride": [2], "padding": (1,)}),
    ("avg_pool2d", (1, 2, 7, 6), [], {"kernel_size": [3], "stride": (2,), "padding": [1]}),
]


@pytest.mark.parametrize("op,shape,weights,kwargs", ONE_ELEMENT, ids=[c[0] for c in ONE_ELEMENT])
def test_one_element_sequences_mean_both_dimensions_as_in_pytorch(op, shape, weights, kwargs, torch):
    """PyTorch expands a one-element kernel_size, stride, padding or dilation to both dimensions,
    in its convolutions as in its pools; the conv family used to refuse it. Values and gradients
    (random upstream gradient) match PyTorch's."""
    arrays = [_x(*shape)] + [_x(*w) for w in weights]
    ours = [tc.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = getattr(F, op)(*ours, **kwargs)
    ty = getattr(torch.nn.functional, op)(*theirs, **kwargs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = _x(*ty.shape)
    y.backward(tc.Tensor(g))
    ty.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def _conv(x: tc.Tensor, **kwargs: Any) -> tc.Tensor:
    return F.conv2d(x, tc.Tensor(np.ones((1, 1, 2, 2))), **kwargs)


def _pool(x: tc.Tensor, **kwargs: Any) -> tc.Tensor:
    return F.max_pool2d(x, **{"kernel_size": 2, **kwargs})


@pytest.mark.parametrize("call,op", [(_conv, "conv2d"), (_pool, "max_pool2d")])
@pytest.mark.parametrize("kwargs,error,words", [
    ({"stride": (1, 1, 1)}, ValueError, "stride must be an int or a pair of ints (height, width), got "
                                        "stride=(1, 1, 1) with 3 element(s)"),
    ({"stride": (1.5, 1)}, TypeError, "stride must be an int or a pair of ints (height, width), got (1.5, 1) "
                                      "of type tuple"),
    ({"stride": True}, TypeError, "stride must be an int or a pair of ints (height, width), got True of type bool"),
    ({"stride": (1, 0)}, ValueError, "stride must be positive in both dimensions, got stride=(1, 0)"),
    ({"padding": -1}, ValueError, "padding must be non-negative in both dimensions, got padding=-1"),
])
def test_both_families_refuse_a_bad_pair_with_the_same_words(call, op, kwargs, error, words):
    x = tc.Tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    with pytest.raises(error) as err:
        call(x, **kwargs)
    assert str(err.value) == f"{op}: {words}"
    assert x.grad is None and x._version == 0


@pytest.mark.parametrize("call,op", [(_conv, "conv2d"), (_pool, "max_pool2d")])
@pytest.mark.parametrize("x,error,words", [
    (np.ones((1, 1, 4, 4)), TypeError, "expected a Tensor as input, got ndarray"),
    (tc.Tensor(np.ones((4, 4))), ValueError,
     "expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape (4, 4) (2-d)"),
    (tc.Tensor(np.ones((1, 1, 4, 4), dtype=np.int64)), TypeError,
     "expected a floating-point input, got dtype int64; convert it with .float() or .double()"),
    (tc.Tensor(np.ones((1, 1, 0, 4))), ValueError,
     "expected non-empty channel, height and width dimensions, got input shape (1, 1, 0, 4) "
     "(only the batch dimension may be 0)"),
])
def test_both_families_check_the_input_with_the_same_words(call, op, x, error, words):
    with pytest.raises(error) as err:
        call(x)
    assert str(err.value) == f"{op}: {words}"
