"""``with tc.kernels.use_reference():`` runs the conv family, pooling and relu on the textbook kernels
of kernels/reference.py. A small model runs both ways (and against PyTorch): the same outputs and
the same gradient for every parameter, with a random upstream gradient; a spy on the kernel modules
shows which kernels each way really called."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import conv as fast_conv
from tinygrad_conv.kernels import elementwise as fast_elementwise
from tinygrad_conv.kernels import pick, reference
from tinygrad_conv.kernels import pool as fast_pool
from tinygrad_conv.testing import check_op

# The kernels the switch routes, by the module the ops call when it is off.
ROUTED = {
    fast_conv: ("conv2d", "conv_transpose2d", "conv2d_weight_grad"),
    fast_pool: ("max_pool2d", "max_unpool2d", "gather_plane", "avg_pool2d", "avg_pool2d_backward",
                "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"),
    fast_elementwise: ("relu", "masked"),
}

# The registered ops whose kernels those are: each runs its registry samples on the reference kernels.
OPS = ("conv2d", "conv_transpose2d", "conv2d_weight_grad", "max_pool2d", "max_pool2d_backward", "max_unpool2d",
       "max_unpool2d_backward", "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d",
       "adaptive_avg_pool2d_backward", "relu", "masked_grad")


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def _params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "w1": rng.standard_normal((4, 2, 3, 3)), "b1": rng.standard_normal(4),     # conv2d
        "wt": rng.standard_normal((4, 3, 3, 2)), "bt": rng.standard_normal(6),     # conv_transpose2d, 2 groups
        "wl": rng.standard_normal((5, 4 * 3 * 2)), "bl": rng.standard_normal(5),   # linear
    }


def model(F: Any, x: Any, p: dict[str, Any]) -> tuple[Any, Any]:
    """conv2d -> relu -> max_pool2d -> avg_pool2d, then two heads: a grouped, strided
    conv_transpose2d, and adaptive_avg_pool2d -> linear. ``F`` is tinygrad_conv's functional or
    PyTorch's, so the same code runs on both."""
    h = F.conv2d(x, p["w1"], p["b1"], padding=2, dilation=2)
    h = F.relu(h)
    h = F.max_pool2d(h, 3, stride=2, padding=1)
    h = F.avg_pool2d(h, 2, stride=1, padding=1, count_include_pad=False)
    image = F.conv_transpose2d(h, p["wt"], p["bt"], stride=2, padding=1, output_padding=1, groups=2)
    pooled = F.adaptive_avg_pool2d(h, (3, 2))
    logits = pooled.reshape(pooled.shape[0], -1) @ p["wl"].T + p["bl"]
    return image, logits


def _run(arrays: dict[str, np.ndarray], x: np.ndarray, upstream: list[np.ndarray],
         create_graph: bool = False) -> dict[str, np.ndarray]:
    """The model's outputs and the gradients of x and every parameter (with create_graph, also the
    gradient of a random projection of those gradients: a double backward)."""
    params = {k: tc.Tensor(v, requires_grad=True) for k, v in arrays.items()}
    xt = tc.Tensor(x, requires_grad=True)
    outs = model(F, xt, params)
    leaves = [xt, *params.values()]
    grads = tc.autograd.grad(list(outs), leaves, [tc.Tensor(g) for g in upstream], create_graph=create_graph)
    result = {"image": outs[0].detach().numpy(), "logits": outs[1].detach().numpy()}
    result.update({f"d{name}": g.detach().numpy() for name, g in zip(["x", *params], grads)})
    if create_graph:
        rng = np.random.default_rng(3)
        gx = grads[0]
        assert gx is not None
        ggs = tc.autograd.grad([gx], leaves, [tc.Tensor(rng.standard_normal(gx.shape))], allow_unused=True)
        result.update({f"dd{name}": g.detach().numpy() for name, g in zip(["x", *params], ggs) if g is not None})
    return result


def _problem(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    params, x = _params(rng), rng.standard_normal((3, 2, 11, 10))
    shapes = [(3, 6, 14, 11), (3, 5)]  # the model's two outputs
    return params, x, [rng.standard_normal(s) for s in shapes]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Wrap every routed kernel, fast and reference, to count calls as 'fast.NAME' / 'reference.NAME'."""
    calls: Counter[str] = Counter()

    def wrap(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[label] += 1
            return fn(*args, **kwargs)
        return counted

    for module, names in ROUTED.items():
        for name in names:
            monkeypatch.setattr(module, name, wrap(getattr(module, name), f"fast.{name}"))
            monkeypatch.setattr(reference, name, wrap(getattr(reference, name), f"reference.{name}"))
    yield calls


def test_the_model_gives_the_same_outputs_and_gradients_on_both_kernel_sets():
    params, x, upstream = _problem()
    fast = _run(params, x, upstream, create_graph=True)
    with tc.kernels.use_reference():
        textbook = _run(params, x, upstream, create_graph=True)
    assert fast.keys() == textbook.keys() and {"dw1", "db1", "dwt", "dbt", "dwl", "dbl", "ddw1", "ddwt"} <= fast.keys()
    for key in fast:
        np.testing.assert_allclose(textbook[key], fast[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_the_model_on_the_reference_kernels_matches_pytorch(torch):
    params, x, upstream = _problem(1)
    with tc.kernels.use_reference():
        ours = _run(params, x, upstream)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx = torch.tensor(x, requires_grad=True)
    outs = model(torch.nn.functional, tx, tp)
    grads = torch.autograd.grad(outs, [tx, *tp.values()], [torch.tensor(g) for g in upstream])
    theirs = {"image": outs[0].detach().numpy(), "logits": outs[1].detach().numpy()}
    theirs.update({f"d{name}": g.numpy() for name, g in zip(["x", *tp], grads)})
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_the_switch_routes_every_kernel_of_the_model(spy):
    params, x, upstream = _problem()
    with tc.kernels.use_reference():
        _run(params, x, upstream, create_graph=True)
    used = {label.split(".", 1)[1] for label in spy}
    assert used == {name for names in ROUTED.values() for name in names}, used
    assert not [label for label in spy if label.startswith("fast.")], spy
    spy.clear()
    _run(params, x, upstream, create_graph=True)
    assert not [label for label in spy if label.startswith("reference.")], spy
    assert used == {label.split(".", 1)[1] for label in spy}


def test_the_switch_nests_restores_on_error_and_decorates():
    assert pick(fast_conv) is fast_conv
    with tc.kernels.use_reference():
        with tc.kernels.use_reference():
            assert pick(fast_pool) is reference
        assert pick(fast_pool) is reference  # the inner block restores the outer setting
    assert pick(fast_pool) is fast_pool
    with pytest.raises(ValueError, match="conv2d"), tc.kernels.use_reference():
        F.conv2d(tc.Tensor(np.zeros((1, 1, 2, 2))), tc.Tensor(np.zeros((1, 1, 3, 3))))
    assert pick(fast_conv) is fast_conv  # an error leaves the fast kernels on

    @tc.kernels.use_reference()
    def which() -> Any:
        return pick(fast_elementwise)

    assert which() is reference and pick(fast_elementwise) is fast_elementwise


@pytest.mark.parametrize("name", OPS)
def test_every_routed_op_passes_check_op_on_the_reference_kernels(name: str):
    """The registry's samples (groups, dilation, unbatched, ceil_mode, ...) in float32 and float64:
    values against PyTorch where it is installed, gradients and second gradients by finite
    differences, all on the textbook kernels."""
    with tc.kernels.use_reference():
        report = check_op(name, raise_on_failure=False)
    assert report.ok, "\n" + str(report)
