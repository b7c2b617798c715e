"""Every registered op passes ``check_op`` (issue: experimenting with new ops).

The test is parametrized over the registry when pytest collects it, after importing every module
of ``tinygrad_conv.ops``: an op added later is checked without anyone writing a test for it, and
an op registered without sample inputs fails here. tests/conftest.py prints how many ops ran.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tinygrad_conv as tc
import tinygrad_conv.ops
from tinygrad_conv.ops.registry import register, registry, unregister
from tinygrad_conv.testing import OpReport, check_op


def _all_registered_ops() -> list[str]:
    for module in pkgutil.iter_modules(tinygrad_conv.ops.__path__):
        importlib.import_module(f"{tinygrad_conv.ops.__name__}.{module.name}")
    return sorted(registry())


OPS = _all_registered_ops()


def run_check(name: str) -> OpReport:
    """What the registry test does for one op (also used on a deliberately sample-less op)."""
    return check_op(name, raise_on_failure=False)


@pytest.mark.parametrize("name", OPS)
def test_registered_op_passes_check_op(name: str, record_property) -> None:
    report = run_check(name)
    record_property("op_checks", report.checks)
    assert report.ok, "\n" + str(report)


def test_the_registry_holds_the_builtin_families() -> None:
    # The parametrization above is only as good as the list it iterates.
    for op in ("add", "mul", "exp", "sum", "matmul", "reshape", "getitem", "softmax",  # the core
               "conv2d", "conv_transpose2d", "conv2d_weight_grad",  # the convolution family
               "max_pool2d", "avg_pool2d", "max_unpool2d", "relu"):  # pooling and activations
        assert op in OPS, f"{op} is not registered, so the registry test does not check it"
    assert len(OPS) >= 50


def test_an_op_without_samples_fails_the_registry_check() -> None:
    class Twice(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    register("twice_without_samples", method=False, functional=False)(Twice)
    try:
        report = run_check("twice_without_samples")
    finally:
        unregister("twice_without_samples")
    assert not report.ok
    assert "declares no sample inputs" in str(report) and "samples=" in str(report)
    with pytest.raises(AssertionError, match="declares no sample inputs"):
        check_op(Twice)


def test_every_op_lists_its_signature_and_order() -> None:
    for name, info in registry().items():
        assert repr(info).startswith(f"<op {name}(")
        assert ("twice-differentiable" in repr(info)) == info.twice_differentiable
        assert isinstance(info.twice_differentiable, bool)


def test_registry_check_is_deterministic() -> None:
    # Same seed, same samples: a failure seen once can be reproduced.
    a = check_op("mul", raise_on_failure=False, torch_parity=False)
    b = check_op("mul", raise_on_failure=False, torch_parity=False)
    assert a.checks == b.checks and a.ok and b.ok
