"""Tests of the conv kernels' variants (kernels/conv.py, ``VARIANTS``) and of the measured choice
between them (``ALGORITHM = "benchmark"``).

Each im2col variant is forced through ``ALGORITHM`` and held equal to the textbook kernels of
kernels/reference.py (themselves checked against PyTorch in test_reference_kernels.py), and through
the autograd ops to PyTorch where it is installed. Winograd has its own file, test_winograd.py.
The chooser is tested with a fake clock: which variant wins must not depend on this machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import conv as K
from tinygrad_conv.kernels import reference as R

IM2COL_VARIANTS = [v for v in K.VARIANTS if v != "winograd"]

P0 = ((0, 0), (0, 0))
P1 = ((1, 1), (1, 1))
# (N, C, H, W, F, groups, kernel, stride, padding pairs, dilation): junk columns or none, strides,
# dilations, groups, asymmetric padding, a batch split into chunks (see test_chunks_split_the_batch)
CONFIGS = [
    (3, 3, 9, 9, 4, 1, (3, 3), (1, 1), P1, (1, 1)),
    (2, 3, 8, 8, 5, 1, (5, 5), (1, 1), P0, (1, 1)),
    (2, 3, 10, 11, 4, 1, (3, 3), (2, 2), P1, (1, 1)),
    (2, 2, 11, 8, 3, 1, (3, 2), (1, 3), P0, (1, 1)),
    (2, 3, 7, 8, 4, 1, (4, 3), (1, 1), ((2, 2), (1, 1)), (1, 1)),
    (2, 2, 9, 9, 3, 1, (2, 4), (2, 2), ((0, 1), (1, 0)), (1, 1)),
    (2, 3, 13, 12, 4, 1, (3, 3), (2, 2), ((2, 2), (2, 2)), (3, 3)),
    (2, 4, 10, 9, 4, 2, (3, 2), (2, 1), ((0, 1), (1, 0)), (2, 1)),
    (2, 4, 9, 9, 4, 4, (3, 3), (1, 1), P1, (1, 1)),
    (2, 5, 7, 7, 4, 1, (1, 1), (1, 1), P0, (1, 1)),
    (3, 4, 10, 11, 6, 2, (3, 2), (1, 1), ((1, 2), (0, 1)), (2, 3)),
]


def _ids(cfg: tuple) -> str:
    n, c, h, w, f, g, k, s, p, d = cfg
    return f"N{n}C{c}_{h}x{w}_F{f}g{g}_k{k[0]}x{k[1]}_s{s[0]}{s[1]}_p{p}_d{d[0]}{d[1]}"


def _problem(cfg: tuple, dtype: type, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, c, h, w, f, g, k, s, p, d = cfg
    rng = np.random.default_rng(seed)
    oh = K.conv2d_output_size(h, k[0], s[0], sum(p[0]), d[0])
    ow = K.conv2d_output_size(w, k[1], s[1], sum(p[1]), d[1])
    return (rng.standard_normal((n, c, h, w)).astype(dtype), rng.standard_normal((f, c // g) + k).astype(dtype),
            rng.standard_normal((n, f, oh, ow)).astype(dtype))


@contextmanager
def _memory_budget(nbytes: int) -> Iterator[None]:
    """The kernels' memory budget set to ``nbytes`` for the block: a small one splits the batch."""
    old = K.get_memory_budget()
    K.set_memory_budget(nbytes)
    try:
        yield
    finally:
        K.set_memory_budget(old)


def _tols(dtype: type) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-11}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
@pytest.mark.parametrize("variant", IM2COL_VARIANTS)
def test_each_variant_matches_the_reference_kernels(monkeypatch, variant, cfg, dtype):
    monkeypatch.setattr(K, "ALGORITHM", variant)
    n, c, h, w, f, g, k, s, p, d = cfg
    x, wt, dy = _problem(cfg, dtype)
    y = K.conv2d(x, wt, s, p, d, g)
    dx = K.conv_transpose2d(dy, wt, s, p, d, g, (h, w))
    dw = K.conv2d_weight_grad(x, dy, k, s, p, d, g)
    assert y.dtype == dx.dtype == dw.dtype == dtype and y.flags.c_contiguous and dw.flags.c_contiguous
    np.testing.assert_allclose(y, R.conv2d(x, wt, s, p, d, g), **_tols(dtype))
    np.testing.assert_allclose(dx, R.conv2d_input_grad(dy, wt, (h, w), s, p, d, g), **_tols(dtype))
    np.testing.assert_allclose(dw, R.conv2d_weight_grad(x, dy, k, s, p, d, g), **_tols(dtype))


@pytest.mark.parametrize("variant", IM2COL_VARIANTS)
def test_each_variant_with_a_smaller_grad_output_and_in_chunks(monkeypatch, variant):
    """The weight gradient of a transposed conv with output_padding >= stride reads fewer windows
    than the input allows; and a small memory budget splits the batch into chunks, the last one
    partial (the junk columns of a reused buffer must stay zero), in all three kernels."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3, 9, 9))
    wt = rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((5, 4, 8, 7))  # the conv gives 9x9 outputs with padding 1
    dy_full = rng.standard_normal((5, 4, 9, 9))  # for the input gradient
    with _memory_budget(3 * 27 * 9 * 11 * 8):  # about two samples' columns
        dw = K.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1)
        y = K.conv2d(x, wt, (1, 1), P1, (1, 1), 1)
        dx = K.conv_transpose2d(dy_full, wt, (1, 1), P1, (1, 1), 1, (9, 9))
    np.testing.assert_allclose(dw, R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(y, R.conv2d(x, wt, (1, 1), P1, (1, 1), 1), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dx, R.conv2d_input_grad(dy_full, wt, (9, 9), (1, 1), P1, (1, 1), 1),
                               rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("variant", IM2COL_VARIANTS)
def test_each_variant_for_a_transposed_conv_with_output_padding(monkeypatch, variant):
    """Stride 1 with dilation 2 allows output_padding 1: the input gradient's image is one row and
    column larger than the conv's windows reach (they get zero)."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 5, 4))
    wt = rng.standard_normal((4, 3, 3, 3))
    pads = ((1, 1), (1, 1))
    size = (K.conv_transpose2d_output_size(5, 3, 1, 1, 1, 2), K.conv_transpose2d_output_size(4, 3, 1, 1, 1, 2))
    got = K.conv_transpose2d(x, wt, (1, 1), pads, (2, 2), 1, size)
    np.testing.assert_allclose(got, R.conv_transpose2d(x, wt, (1, 1), pads, (2, 2), 1, size), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("variant", IM2COL_VARIANTS)
def test_each_variant_keeps_inf_and_nan_where_they_belong(monkeypatch, variant):
    """Junk columns must not turn into NaN where the true result is finite (0 * inf)."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    x, wt, dy = _problem((2, 2, 7, 7, 3, 1, (3, 3), (1, 1), P1, (1, 1)), np.float64)
    x[0, 1, 3, 0] = np.inf  # left edge: junk windows wrap onto it from the previous row
    wt[1, 0, 2, 2] = np.nan
    with np.errstate(invalid="ignore"):
        expect = (R.conv2d(x, wt, (1, 1), P1, (1, 1), 1), R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1))
        got = (K.conv2d(x, wt, (1, 1), P1, (1, 1), 1), K.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1))
    for a, b in zip(got, expect):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert np.isfinite(got[1]).sum() == np.isfinite(expect[1]).sum() > 0


@pytest.mark.parametrize("variant", ["batched", "exact", "per_sample", "per_sample_exact", "gather_rows"])
def test_a_forced_variant_is_the_one_that_runs(monkeypatch, variant):
    """Forcing a name runs that variant in the kernel that offers it, plain im2col in the others."""
    ran = []
    forward, weight_grad = K._conv2d_im2col, K._weight_grad_im2col
    input_grad, gather_rows = K._input_grad_im2col, K._input_grad_gather_rows
    # the variant follows the conv arguments: (x, w, stride, padding, dilation, groups, variant, ...) and
    # (x, dy, kernel_size, stride, padding, dilation, groups, variant, ...)
    monkeypatch.setattr(K, "_conv2d_im2col", lambda *a: ran.append(("fwd", a[6])) or forward(*a))
    monkeypatch.setattr(K, "_weight_grad_im2col", lambda *a: ran.append(("dw", a[7])) or weight_grad(*a))
    monkeypatch.setattr(K, "_input_grad_im2col", lambda *a: ran.append(("dx", "im2col")) or input_grad(*a))
    monkeypatch.setattr(K, "_input_grad_gather_rows", lambda *a: ran.append(("dx", "gather_rows")) or gather_rows(*a))
    forward_rows, weight_rows = K._conv2d_gather_rows, K._weight_grads_gather_rows
    monkeypatch.setattr(K, "_conv2d_gather_rows", lambda *a: ran.append(("fwd", "gather_rows")) or forward_rows(*a))
    monkeypatch.setattr(K, "_weight_grads_gather_rows", lambda *a: ran.append(("dw", "gather_rows")) or weight_rows(*a))
    monkeypatch.setattr(K, "ALGORITHM", variant)
    x, wt, dy = _problem(CONFIGS[0], np.float64)
    K.conv2d(x, wt, (1, 1), P1, (1, 1), 1)
    K.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1)
    K.conv_transpose2d(dy, wt, (1, 1), P1, (1, 1), 1, x.shape[2:])
    offers = {"fwd": {"batched", "exact", "gather_rows"}, "dw": {"per_sample", "per_sample_exact", "gather_rows"},
              "dx": {"gather_rows"}}
    assert ran == [(kernel, variant if variant in offers[kernel] else "im2col") for kernel in ("fwd", "dw", "dx")]


def test_gather_rows_is_offered_for_stride_1_only_and_leaves_nonfinite_weights_to_im2col(monkeypatch):
    monkeypatch.setattr(K, "ALGORITHM", "gather_rows")
    x, wt, dy = _problem(CONFIGS[2], np.float64)  # stride 2: plain im2col
    ran = []
    gather_rows = K._input_grad_gather_rows
    monkeypatch.setattr(K, "_input_grad_gather_rows", lambda *a: ran.append(a) or gather_rows(*a))
    np.testing.assert_allclose(K.conv_transpose2d(dy, wt, (2, 2), P1, (1, 1), 1, x.shape[2:]),
                               R.conv2d_input_grad(dy, wt, x.shape[2:], (2, 2), P1, (1, 1), 1), rtol=1e-11, atol=1e-11)
    assert ran == []
    x, wt, dy = _problem(CONFIGS[0], np.float64)
    wt[1, 0, 2, 2] = np.inf  # the zeros shifted in would give 0 * inf = nan where the gradient is inf
    assert gather_rows(dy, wt, x.shape[2:], P1, (1, 1), 1) is None
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(K.conv_transpose2d(dy, wt, (1, 1), P1, (1, 1), 1, x.shape[2:]),
                                   R.conv2d_input_grad(dy, wt, x.shape[2:], (1, 1), P1, (1, 1), 1))
    assert len(ran) == 1


def test_an_unknown_algorithm_is_refused(monkeypatch):
    monkeypatch.setattr(K, "ALGORITHM", "fastest")
    x, wt, _ = _problem(CONFIGS[0], np.float64)
    with pytest.raises(ValueError, match="ALGORITHM must be 'benchmark' or one of"):
        K.conv2d(x, wt, (1, 1), P1, (1, 1), 1)


def test_benchmark_mode_offers_the_variants_only_where_timing_pays(monkeypatch):
    """Small problems (the column matrix under _TIMED_MIN_BYTES) are not timed: plain im2col. Larger
    ones offer the variants that apply: "exact" only where rows have junk columns."""
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    small = K._conv_plan((2, 3, 8, 8), 4, 1, (3, 3), (1, 1), P1, (1, 1), False)
    a32 = np.zeros(1, np.float32)
    assert K._offer(small, a32, {"batched": True, "exact": True}) == ["im2col"]
    big = K._conv_plan((32, 3, 32, 32), 64, 1, (3, 3), (1, 1), P1, (1, 1), False)
    assert big.has_junk
    assert K._offer(big, a32, {"batched": True, "exact": big.has_junk}) == ["im2col", "batched", "exact"]
    pointwise = K._conv_plan((32, 64, 32, 32), 64, 1, (1, 1), (1, 1), P0, (1, 1), False)
    assert not pointwise.has_junk
    assert K._offer(pointwise, a32, {"batched": True, "exact": pointwise.has_junk}) == ["im2col", "batched"]
    monkeypatch.setattr(K, "ALGORITHM", "exact")  # forced: offered at any size (the tests above rely on it)
    assert K._offer(small, a32, {"batched": True, "exact": True}) == ["im2col", "batched", "exact"]


class _FakeClock:
    """A perf_counter that each timed kernel call advances by the cost it declares."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _candidates(clock, costs, calls):
    """Variants named after ``costs`` (name -> seconds a call takes); each returns its own value.
    The cost is read at each call, so a test can change it between calls (a load burst that slows
    one variant for a while)."""

    def make(name, value):
        def run():
            calls[name] += 1
            clock.now += costs[name]
            return np.full(2, value)

        return run

    return {name: make(name, float(i)) for i, name in enumerate(costs)}


@pytest.mark.parametrize("costs,expect", [
    ({"im2col": 2.0, "winograd": 1.0}, "winograd"),
    ({"im2col": 2.0, "winograd": 5.0}, "im2col"),
    ({"im2col": 2.0, "batched": 3.0, "exact": 0.5}, "exact"),
    ({"im2col": 1.0, "per_sample": 1.5, "per_sample_exact": 4.0}, "im2col"),
    # another variant must beat plain im2col by the margin, or timing noise would decide
    ({"im2col": 1.0, "batched": 0.97}, "im2col"),
    ({"im2col": 1.0, "batched": 0.9, "exact": 0.93}, "batched"),
])
def test_benchmark_mode_times_each_variant_once_per_shape_and_keeps_the_fastest(monkeypatch, costs, expect):
    """As torch.backends.cudnn.benchmark: the first call of a shape times every variant, the choice
    is cached for that key, and later calls run only the chosen one."""
    clock = _FakeClock()
    monkeypatch.setattr(K.time, "perf_counter", clock)
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    calls = dict.fromkeys(costs, 0)
    candidates = _candidates(clock, costs, calls)
    value = float(list(costs).index(expect))
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, value))
    assert K._choices == {("k",): expect}
    tried = 1 + K._TRIES * K._BLOCK  # one warm-up call each, then the timed blocks
    assert calls == dict.fromkeys(costs, tried)
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, value))
    assert calls == {name: tried + (name == expect) for name in costs}


def test_benchmark_mode_times_a_shape_again_once_the_recheck_is_due(monkeypatch):
    """A burst that slows the faster variant during the first timing settles the shape on the slower
    one only until its first call _RECHECK_AFTER seconds later, which times both again and switches;
    after that the choice is final and no call times anything."""
    clock = _FakeClock()
    monkeypatch.setattr(K.time, "perf_counter", clock)
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    costs = {"im2col": 2.0, "gather_rows": 5.0}  # gather_rows is slowed by the burst
    calls = dict.fromkeys(costs, 0)
    candidates = _candidates(clock, costs, calls)
    tried = 1 + K._TRIES * K._BLOCK
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, 0.0))
    assert K._choices == {("k",): "im2col"} and calls == dict.fromkeys(costs, tried)
    costs["gather_rows"] = 1.0  # the burst is over
    clock.now += K._RECHECK_AFTER - 1e-3  # the next call starts just before the recheck is due
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, 0.0))
    assert calls == {"im2col": tried + 1, "gather_rows": tried}
    # due now: this call times both again, and returns the new winner's result
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, 1.0))
    assert K._choices == {("k",): "gather_rows"} and K._rechecks == {}
    assert calls == {"im2col": 2 * tried + 1, "gather_rows": 2 * tried}
    costs["gather_rows"] = 9.0  # final: a later burst changes nothing and times nothing
    for _ in range(5):
        clock.now += 10 * K._RECHECK_AFTER
        np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, 1.0))
    assert calls == {"im2col": 2 * tried + 1, "gather_rows": 2 * tried + 5}


def test_benchmark_mode_keeps_each_variants_minimum_over_both_timings(monkeypatch):
    """A burst during the second timing does not undo what the first one measured: each variant's
    best time over both decides. The winner there need not be the second timing's fastest, whose
    result alone is kept: the winner then runs once more for this call's result."""
    clock = _FakeClock()
    monkeypatch.setattr(K.time, "perf_counter", clock)
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    costs = {"im2col": 2.0, "batched": 3.0, "gather_rows": 1.0}
    calls = dict.fromkeys(costs, 0)
    candidates = _candidates(clock, costs, calls)
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, 2.0))
    costs.update({"batched": 1.5, "gather_rows": 8.0})  # a burst slows gather_rows alone
    clock.now += K._RECHECK_AFTER
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.full(2, 2.0))
    assert K._choices == {("k",): "gather_rows"} and K._rechecks == {}
    tried = 1 + K._TRIES * K._BLOCK
    assert calls == {"im2col": 2 * tried, "batched": 2 * tried, "gather_rows": 2 * tried + 1}


def test_benchmark_mode_keeps_the_first_choice_when_the_recheck_meets_input_that_is_not_finite(monkeypatch):
    """A variant that returns None (Winograd on input that is not finite) makes the re-check no
    timing: that call returns plain im2col's result and the first choice stays, final."""
    clock = _FakeClock()
    monkeypatch.setattr(K.time, "perf_counter", clock)
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    finite = [True]

    def winograd():
        clock.now += 1.0
        return np.zeros(1) if finite[0] else None

    def plain():
        clock.now += 2.0
        return np.ones(1)

    candidates = {"im2col": plain, "winograd": winograd}
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.zeros(1))
    clock.now += K._RECHECK_AFTER
    finite[0] = False
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.ones(1))
    assert K._choices == {("k",): "winograd"} and K._rechecks == {}
    finite[0] = True
    np.testing.assert_array_equal(K._pick(("k",), candidates), np.zeros(1))


def test_benchmark_mode_forgets_the_pending_rechecks_with_the_choices(monkeypatch):
    """When the table of choices is full it starts over, and so do the pending re-checks: neither
    grows without end."""
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    monkeypatch.setattr(K, "_MAX_CHOICES", 3)
    candidates = {"im2col": lambda: np.ones(1), "batched": lambda: np.zeros(1)}
    for i in range(7):
        K._pick((i,), candidates)
        assert len(K._choices) <= 3 and set(K._rechecks) == set(K._choices)


def test_benchmark_mode_does_not_time_the_warm_up_calls(monkeypatch):
    """A variant's first call is slow (fresh memory), its later ones fast: it still wins."""
    clock = _FakeClock()
    monkeypatch.setattr(K.time, "perf_counter", clock)
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    costs = iter([100.0] + [1.0] * 10)

    def fast():
        clock.now += next(costs)
        return np.zeros(1)

    def plain():
        clock.now += 2.0
        return np.ones(1)

    np.testing.assert_array_equal(K._pick(("k",), {"im2col": plain, "winograd": fast}), np.zeros(1))
    assert K._choices == {("k",): "winograd"}


def test_benchmark_mode_times_each_variant_in_blocks(monkeypatch):
    """Each round runs a variant's calls back to back: a variant whose first call after another
    variant is slow (it pays for what that one left behind) but whose next is fast still wins, as
    it would run in a process that keeps calling it."""
    clock = _FakeClock()
    monkeypatch.setattr(K.time, "perf_counter", clock)
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    order = []
    costs = iter([9.0] + [5.0, 1.0] * K._TRIES)  # warm-up, then per block: after im2col, then again

    def other():
        order.append("winograd")
        clock.now += next(costs)
        return np.zeros(1)

    def plain():
        order.append("im2col")
        clock.now += 2.0
        return np.ones(1)

    np.testing.assert_array_equal(K._pick(("k",), {"im2col": plain, "winograd": other}), np.zeros(1))
    assert K._choices == {("k",): "winograd"}
    assert order == ["im2col", "winograd"] + (["im2col"] * K._BLOCK + ["winograd"] * K._BLOCK) * K._TRIES


def test_benchmark_mode_takes_im2col_when_winograd_is_not_finite(monkeypatch):
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    out = K._pick(("k",), {"im2col": lambda: np.zeros(3), "winograd": lambda: None})
    np.testing.assert_array_equal(out, np.zeros(3))
    assert K._choices == {}  # no timing was recorded from a call that fell back


def test_benchmark_mode_through_the_kernels_matches_the_reference(monkeypatch):
    """At a size where the variants are timed, whichever wins gives the reference values to
    rounding, and each kernel remembers its choice under its own key."""
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    cfg = (16, 3, 24, 24, 8, 1, (3, 3), (1, 1), P1, (1, 1))  # 1.3 MB of float32 columns
    x, wt, dy = _problem(cfg, np.float32, seed=5)
    np.testing.assert_allclose(K.conv2d(x, wt, (1, 1), P1, (1, 1), 1), R.conv2d(x, wt, (1, 1), P1, (1, 1), 1),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(K.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1),
                               R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1), rtol=1e-3, atol=1e-3)
    chosen = {key[0]: name for key, name in K._choices.items()}
    assert set(chosen) == {"conv2d", "weight_grad"}
    assert chosen["conv2d"] in ("im2col", "batched", "exact", "gather_rows")
    assert chosen["weight_grad"] in ("im2col", "per_sample", "per_sample_exact", "gather_rows")


@pytest.mark.parametrize("variant", IM2COL_VARIANTS)
def test_each_variant_through_autograd_matches_torch(monkeypatch, variant):
    """conv2d and conv_transpose2d forward and every gradient (random upstream gradient) against
    PyTorch, with the variant forced."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(K, "ALGORITHM", variant)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((6, 4, 3, 3))
    wt = rng.standard_normal((4, 5, 4, 4))
    b = rng.standard_normal(6)
    for transposed in (False, True):
        weight = wt if transposed else w
        bias = rng.standard_normal(5) if transposed else b
        kw = {"stride": 2, "padding": 1}
        ours_args = [tc.Tensor(a, requires_grad=True) for a in (x, weight, bias)]
        theirs_args = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        ours_op = F.conv_transpose2d if transposed else F.conv2d
        theirs_op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
        y = ours_op(*ours_args, **kw)
        ty = theirs_op(*theirs_args, **kw)
        g = rng.standard_normal(ty.shape)
        y.backward(tc.Tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        for ours, theirs in zip(ours_args, theirs_args):
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- conv2d_and_weight_grad
SHARED = ["shared", "shared_batched"]


def _record_shared(monkeypatch) -> list:
    """Calls of the shared-columns kernel, by whether they ran channel-major."""
    ran = []
    shared = K._shared_columns
    monkeypatch.setattr(K, "_shared_columns", lambda *a: ran.append(a[-1]) or shared(*a))
    return ran


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
@pytest.mark.parametrize("variant", SHARED + ["im2col"])
def test_conv2d_and_weight_grad_matches_the_reference_kernels(monkeypatch, variant, cfg, dtype):
    """Both products from one gather of the columns equal the two textbook kernels; forcing a plain
    variant ("im2col") runs the two kernels separately."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    ran = _record_shared(monkeypatch)
    n, c, h, w, f, g, k, s, p, d = cfg
    x, wt, dy = _problem(cfg, dtype)
    y, dw = K.conv2d_and_weight_grad(x, wt, dy, s, p, d, g)
    assert y.dtype == dw.dtype == dtype and y.flags.c_contiguous and dw.flags.c_contiguous
    np.testing.assert_allclose(y, R.conv2d(x, wt, s, p, d, g), **_tols(dtype))
    np.testing.assert_allclose(dw, R.conv2d_weight_grad(x, dy, k, s, p, d, g), **_tols(dtype))
    assert ran == ([variant == "shared_batched"] if variant in SHARED else [])


@pytest.mark.parametrize("variant", SHARED)
def test_conv2d_and_weight_grad_in_chunks(monkeypatch, variant):
    """A small memory budget splits the batch, the last chunk partial: the zero junk columns of the
    reused upstream-gradient buffer must stay zero, and the chunks' weight gradients add up."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    cfg = (5, 3, 9, 9, 4, 1, (3, 3), (1, 1), P1, (1, 1))
    x, wt, dy = _problem(cfg, np.float64, seed=8)
    assert K._conv_plan(x.shape, 4, 1, (3, 3), (1, 1), P1, (1, 1), False).has_junk
    with _memory_budget(3 * 27 * 9 * 11 * 8):  # about two samples' columns
        y, dw = K.conv2d_and_weight_grad(x, wt, dy, (1, 1), P1, (1, 1), 1)
    np.testing.assert_allclose(y, R.conv2d(x, wt, (1, 1), P1, (1, 1), 1), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dw, R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("variant", SHARED)
def test_conv2d_and_weight_grad_keeps_inf_and_nan_where_they_belong(monkeypatch, variant):
    """An inf in the input reaches junk columns, where the upstream gradient's zeros would make NaN
    of finite weight gradients: the shared kernel redoes the weight gradient without junk."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    x, wt, dy = _problem((2, 2, 7, 7, 3, 1, (3, 3), (1, 1), P1, (1, 1)), np.float64)
    x[0, 1, 3, 0] = np.inf
    with np.errstate(invalid="ignore"):
        expect = (R.conv2d(x, wt, (1, 1), P1, (1, 1), 1), R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1))
        got = K.conv2d_and_weight_grad(x, wt, dy, (1, 1), P1, (1, 1), 1)
    for a, b in zip(got, expect):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert np.isfinite(got[1]).sum() == np.isfinite(expect[1]).sum() > 0


def test_conv2d_and_weight_grad_with_fewer_windows_runs_the_kernels_separately(monkeypatch):
    """A grad_output smaller than the conv's output (a transposed conv with output_padding >= stride)
    is not the same column matrix: the two kernels run on their own."""
    monkeypatch.setattr(K, "ALGORITHM", "shared")
    ran = _record_shared(monkeypatch)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 9))
    wt = rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 8, 7))  # the conv gives 9x9 outputs with padding 1
    y, dw = K.conv2d_and_weight_grad(x, wt, dy, (1, 1), P1, (1, 1), 1)
    np.testing.assert_allclose(y, R.conv2d(x, wt, (1, 1), P1, (1, 1), 1), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dw, R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1), rtol=1e-11, atol=1e-11)
    assert ran == []


def test_conv2d_and_weight_grad_refuses_mismatched_arrays():
    x, wt, dy = _problem(CONFIGS[0], np.float64)
    with pytest.raises(ValueError, match="conv2d: input .* and weight .* do not match"):
        K.conv2d_and_weight_grad(x, wt[:, :2], dy, (1, 1), P1, (1, 1), 1)
    with pytest.raises(ValueError, match="conv2d_weight_grad: input .* and grad_output .* different batch sizes"):
        K.conv2d_and_weight_grad(x, wt, dy[:2], (1, 1), P1, (1, 1), 1)


def test_benchmark_mode_offers_the_shared_columns_where_timing_pays(monkeypatch):
    """Timed at a size with >= _TIMED_MIN_BYTES of columns, whichever wins gives the reference's
    values; the plain way (the two kernels) stays unless a shared variant beats it."""
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    monkeypatch.setattr(K, "_rechecks", {})
    cfg = (16, 3, 24, 24, 8, 1, (3, 3), (1, 1), P1, (1, 1))  # 1.3 MB of float32 columns
    x, wt, dy = _problem(cfg, np.float32, seed=5)
    y, dw = K.conv2d_and_weight_grad(x, wt, dy, (1, 1), P1, (1, 1), 1)
    np.testing.assert_allclose(y, R.conv2d(x, wt, (1, 1), P1, (1, 1), 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1), rtol=1e-3, atol=1e-3)
    chosen = {key[0]: name for key, name in K._choices.items()}
    assert chosen["conv2d_and_weight_grad"] in ("separate", "shared", "shared_batched")


@pytest.mark.parametrize("create_graph", [False, True])
def test_transposed_conv_backward_shares_the_columns_unless_it_records(monkeypatch, create_graph):
    """A transposed conv's backward computes dx and dw with the shared kernel when nothing records
    (and matches PyTorch with a random upstream gradient); with create_graph it builds them from the
    differentiable ops, so that they can be differentiated again."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(K, "ALGORITHM", "shared")
    ran = _record_shared(monkeypatch)
    rng = np.random.default_rng(12)
    x, w, g = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((4, 3, 4, 4)), rng.standard_normal((2, 3, 10, 10))
    ox, ow = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = F.conv_transpose2d(ox, ow, stride=2, padding=1)
    gx, gw = tc.autograd.grad(y, (ox, ow), tc.Tensor(g), create_graph=create_graph)
    tgx, tgw = torch.autograd.grad(torch.nn.functional.conv_transpose2d(tx, tw, stride=2, padding=1), (tx, tw),
                                   torch.tensor(g))
    np.testing.assert_allclose(gx.detach().numpy(), tgx.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw.detach().numpy(), tgw.numpy(), rtol=1e-10, atol=1e-10)
    assert ran == ([] if create_graph else [False])
    assert (gx.grad_fn is not None) == create_graph


# ----------------------------------------------------------------------------- dx, dw and db together
def _record_rows(monkeypatch) -> list:
    """Calls of the kernel that shares dy's shifted rows between the input and weight gradients."""
    ran = []
    shared = K._input_and_weight_grads_gather_rows
    monkeypatch.setattr(K, "_input_and_weight_grads_gather_rows", lambda *a: ran.append(a[-1]) or shared(*a))
    return ran


def _three_grads_both_ways(x, wt, dy, cfg, with_bias) -> tuple[tuple, tuple]:
    n, c, h, w, f, g, k, s, p, d = cfg
    got = K.conv2d_input_and_weight_grads(x, wt, dy, s, p, d, g, with_bias)
    expect = R.conv2d_input_and_weight_grads(x, wt, dy, s, p, d, g, with_bias)
    return got, expect


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
@pytest.mark.parametrize("variant", ["gather_rows", "im2col"])
def test_conv2d_input_and_weight_grads_match_the_reference_kernels(monkeypatch, variant, cfg, dtype, with_bias):
    """The three gradients from one call equal the textbook kernels; the shared shifted rows run for
    a stride-1 conv when forced, and the kernels run separately otherwise."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    ran = _record_rows(monkeypatch)
    x, wt, dy = _problem(cfg, dtype)
    got, expect = _three_grads_both_ways(x, wt, dy, cfg, with_bias)
    assert got[0].dtype == got[1].dtype == dtype and got[0].flags.c_contiguous and got[1].flags.c_contiguous
    assert (got[2] is None) == (not with_bias)
    for a, e in zip(got, expect):
        if e is not None:
            np.testing.assert_allclose(a, e, **_tols(dtype))
    assert ran == ([with_bias] if variant == "gather_rows" and cfg[7] == (1, 1) else [])


def test_conv2d_input_and_weight_grads_in_chunks(monkeypatch):
    """A small memory budget splits the batch, the last chunk shorter: each chunk's shifted rows
    serve both products, the weight gradients add up and the input gradient lands in its samples."""
    monkeypatch.setattr(K, "ALGORITHM", "gather_rows")
    ran = _record_rows(monkeypatch)
    cfg = (5, 4, 9, 8, 6, 2, (3, 3), (1, 1), ((1, 2), (1, 0)), (1, 2))
    x, wt, dy = _problem(cfg, np.float64, seed=9)
    chunks = []
    taps = K._row_taps
    monkeypatch.setattr(K, "_row_taps", lambda *a: chunks.append(a[3].shape[0]) or taps(*a))
    with _memory_budget(90_000):  # two samples' scratch (4324 float64 elements each): chunks of 2, 2, 1
        got, expect = _three_grads_both_ways(x, wt, dy, cfg, True)
    for a, e in zip(got, expect):
        np.testing.assert_allclose(a, e, rtol=1e-11, atol=1e-11)
    assert ran == [True] and chunks == [2, 2, 1]


def test_conv2d_input_and_weight_grads_leave_inf_and_nan_to_the_separate_kernels(monkeypatch):
    """An inf in the weight or the input would meet the shifts' zeros (0 * inf = nan where the true
    gradient is finite): the shared kernel gives up and the separate kernels' plain variants run."""
    monkeypatch.setattr(K, "ALGORITHM", "gather_rows")
    cfg = (2, 2, 7, 7, 3, 1, (3, 3), (1, 1), P1, (1, 1))
    for where in ("weight", "input"):
        x, wt, dy = _problem(cfg, np.float64)
        if where == "weight":
            wt[1, 0, 2, 2] = np.inf
        else:
            x[0, 1, 3, 0] = np.inf
        with np.errstate(invalid="ignore"):
            assert K._input_and_weight_grads_gather_rows(x, wt, dy, P1, (1, 1), 1, True) is None
            got, expect = _three_grads_both_ways(x, wt, dy, cfg, True)
        for a, e in zip(got, expect):
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
            assert np.isfinite(a).sum() == np.isfinite(e).sum() > 0


def test_conv2d_input_and_weight_grads_with_fewer_windows_an_empty_batch_and_bad_arrays(monkeypatch):
    monkeypatch.setattr(K, "ALGORITHM", "gather_rows")
    ran = _record_rows(monkeypatch)
    rng = np.random.default_rng(3)
    x, wt = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 8, 7))  # the conv gives 9x9 outputs with padding 1: not the same rows
    got = K.conv2d_input_and_weight_grads(x, wt, dy, (1, 1), P1, (1, 1), 1)
    tol = {"rtol": 1e-11, "atol": 1e-11}
    np.testing.assert_allclose(got[0], R.conv_transpose2d(dy, wt, (1, 1), P1, (1, 1), 1, (9, 9)), **tol)
    np.testing.assert_allclose(got[1], R.conv2d_weight_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1), **tol)
    assert got[2] is None and ran == []
    dx, dw, db = K.conv2d_input_and_weight_grads(np.zeros((0, 3, 9, 9)), wt, np.zeros((0, 4, 9, 9)), (1, 1), P1,
                                                 (1, 1), 1, True)
    assert dx.shape == (0, 3, 9, 9) and dw.shape == wt.shape and not dw.any() and db.tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="conv2d: input .* and weight .* do not match"):
        K.conv2d_input_and_weight_grads(x, wt[:, :2], dy, (1, 1), P1, (1, 1), 1)
    with pytest.raises(ValueError, match="conv2d_weight_grad: input .* and grad_output .* different batch sizes"):
        K.conv2d_input_and_weight_grads(x, wt, dy[:1], (1, 1), P1, (1, 1), 1)


@pytest.mark.parametrize("create_graph", [False, True])
def test_conv2d_backward_shares_the_shifted_rows_unless_it_records(monkeypatch, create_graph):
    """A stride-1 conv2d's backward takes dx, dw and db from the shared kernel when nothing records
    (and matches PyTorch with a random upstream gradient); with create_graph the differentiable ops
    run, so that the gradients can be differentiated again."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(K, "ALGORITHM", "gather_rows")
    ran = _record_rows(monkeypatch)
    rng = np.random.default_rng(14)
    arrays = rng.standard_normal((3, 4, 8, 7)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    ours = [tc.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    g = rng.standard_normal((3, 6, 8, 5))
    y = F.conv2d(*ours, padding=(1, 0), dilation=(1, 1), groups=2)
    ty = torch.nn.functional.conv2d(*theirs, padding=(1, 0), groups=2)
    grads = tc.autograd.grad(y, ours, tc.Tensor(g), create_graph=create_graph)
    expect = torch.autograd.grad(ty, theirs, torch.tensor(g))
    for a, e in zip(grads, expect):
        np.testing.assert_allclose(a.detach().numpy(), e.numpy(), rtol=1e-10, atol=1e-10)
    assert ran == ([] if create_graph else [True])
    assert (grads[0].grad_fn is not None) == create_graph


# ----------------------------------------------------------------------------- the bias in the GEMM
def _bias_problem(cfg: tuple, dtype: type, seed: int = 0) -> tuple[np.ndarray, ...]:
    x, wt, dy = _problem(cfg, dtype, seed)
    return x, wt, dy, np.random.default_rng(seed + 100).standard_normal(wt.shape[0]).astype(dtype)


def _with_bias_both_ways(x, wt, dy, b, cfg) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(fast y, dw, db) and (reference y, dw, db) of one problem, with its bias."""
    k, s, p, d, g = cfg[6], cfg[7], cfg[8], cfg[9], cfg[5]
    got = (K.conv2d(x, wt, s, p, d, g, b),) + K.conv2d_weight_and_bias_grad(x, dy, k, s, p, d, g)
    expect = (R.conv2d(x, wt, s, p, d, g, b),) + R.conv2d_weight_and_bias_grad(x, dy, k, s, p, d, g)
    return got, expect


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
@pytest.mark.parametrize("variant", ["im2col", "batched", "exact", "per_sample", "per_sample_exact"])
def test_each_variant_adds_the_bias_and_sums_its_gradient_in_the_gemm(monkeypatch, variant, cfg, dtype):
    """A bias column of the weight against a row of ones in the columns adds the bias (every group's
    filters get their own); in the weight gradient's GEMM the same row sums dy into the bias
    gradient. Both equal the textbook conv + bias and dy.sum((0, 2, 3)); the weight gradient equals
    the one computed without the row."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    x, wt, dy, b = _bias_problem(cfg, dtype)
    got, expect = _with_bias_both_ways(x, wt, dy, b, cfg)
    for a, e in zip(got, expect):
        assert a.dtype == dtype and a.shape == e.shape and a.flags.c_contiguous
        np.testing.assert_allclose(a, e, **_tols(dtype))
    k, s, p, d, g = cfg[6], cfg[7], cfg[8], cfg[9], cfg[5]
    np.testing.assert_allclose(got[1], K.conv2d_weight_grad(x, dy, k, s, p, d, g), **_tols(dtype))


@pytest.mark.parametrize("variant", ["im2col", "batched", "exact", "per_sample", "per_sample_exact"])
def test_the_bias_row_in_chunks_with_a_shorter_last_chunk(monkeypatch, variant):
    """Batch chunks of 2, 2 and 1 samples: the row of ones sits elsewhere in a shorter chunk's
    channel-major columns, and the column buffer is reused."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    cfg = (5, 4, 9, 9, 6, 2, (3, 3), (1, 1), P1, (1, 1))
    x, wt, dy, b = _bias_problem(cfg, np.float64, seed=7)
    with _memory_budget(4 * 10 * 9 * 11 * 8 * 2):  # about two samples' columns
        got, expect = _with_bias_both_ways(x, wt, dy, b, cfg)
    for a, e in zip(got, expect):
        np.testing.assert_allclose(a, e, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("variant", ["im2col", "per_sample", "per_sample_exact"])
def test_the_bias_gradient_keeps_inf_and_nan_where_they_belong(monkeypatch, variant):
    """An inf in x reaches junk columns (0 * inf) but not the bias gradient; an inf in dy makes the
    bias gradient of that channel inf, as dy.sum does."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    cfg = (2, 2, 7, 7, 3, 1, (3, 3), (1, 1), P1, (1, 1))
    x, wt, dy, b = _bias_problem(cfg, np.float64, seed=8)
    x[0, 1, 3, 0] = np.inf  # left edge: junk windows wrap onto it from the previous row
    with np.errstate(invalid="ignore"):
        got, expect = _with_bias_both_ways(x, wt, dy, b, cfg)
    for a, e in zip(got, expect):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
    assert np.isfinite(got[2]).all() and np.isfinite(got[1]).sum() == np.isfinite(expect[1]).sum() > 0
    dy[1, 2, 0, 0] = np.inf
    with np.errstate(invalid="ignore"):
        dw, db = K.conv2d_weight_and_bias_grad(x, dy, (3, 3), (1, 1), P1, (1, 1), 1)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-12)
    assert np.isinf(db[2]) and np.isfinite(db[:2]).all()


def test_the_bias_through_winograd(monkeypatch):
    """Winograd's forward adds the bias after its transforms; its weight gradient takes dy's sum."""
    from tinygrad_conv.kernels import winograd

    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(K, "ALGORITHM", "winograd")
    cfg = (2, 3, 10, 10, 4, 1, (3, 3), (1, 1), P1, (1, 1))
    x, wt, dy, b = _bias_problem(cfg, np.float32, seed=9)
    ran = []
    forward, weight_grad = winograd.conv2d, winograd.weight_grad
    monkeypatch.setattr(winograd, "conv2d", lambda *a: ran.append("fwd") or forward(*a))
    monkeypatch.setattr(winograd, "weight_grad", lambda *a: ran.append("dw") or weight_grad(*a))
    got, expect = _with_bias_both_ways(x, wt, dy, b, cfg)
    assert ran == ["fwd", "dw"]
    for a, e in zip(got, expect):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4)


def test_the_bias_with_an_empty_batch_and_bad_bias():
    x, wt = np.zeros((0, 3, 5, 5)), np.ones((4, 3, 3, 3))
    assert K.conv2d(x, wt, (1, 1), P0, (1, 1), 1, np.ones(4)).shape == (0, 4, 3, 3)
    dw, db = K.conv2d_weight_and_bias_grad(x, np.zeros((0, 4, 3, 3)), (3, 3), (1, 1), P0, (1, 1), 1)
    assert dw.shape == (4, 3, 3, 3) and not dw.any() and db.tolist() == [0.0] * 4
    x = np.ones((1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d: the bias must be a \(4,\) array .* got shape \(3,\)"):
        K.conv2d(x, wt, (1, 1), P0, (1, 1), 1, np.ones(3))
    with pytest.raises(ValueError, match="dtype float32"):
        K.conv2d(x, wt, (1, 1), P0, (1, 1), 1, np.ones(4, np.float32))


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("needs", ["all", "no bias", "bias and weight only"])
def test_conv2d_backward_sums_the_bias_gradient_in_the_gemm_unless_it_records(monkeypatch, create_graph, needs):
    """conv2d's backward takes its gradients from one kernel call when nothing records: the input,
    weight and bias gradients from conv2d_input_and_weight_grads where the input's is needed, else
    the weight and bias gradients from conv2d_weight_and_bias_grad (and matches PyTorch with a random
    upstream gradient); with create_graph it builds them from the differentiable ops, so that they
    can be differentiated again."""
    torch = pytest.importorskip("torch")
    ran = []
    fused = K.conv2d_weight_and_bias_grad
    monkeypatch.setattr(K, "conv2d_weight_and_bias_grad", lambda *a: ran.append(("dw, db", a[0].shape)) or fused(*a))
    all_three = K.conv2d_input_and_weight_grads
    monkeypatch.setattr(K, "conv2d_input_and_weight_grads",
                        lambda *a: ran.append(("dx, dw", a[-1])) or all_three(*a))
    rng = np.random.default_rng(13)
    arrays = rng.standard_normal((2, 4, 7, 7)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    req = {"all": (True, True, True), "no bias": (True, True, False),
           "bias and weight only": (False, True, True)}[needs]
    ours = [tc.Tensor(a, requires_grad=r) for a, r in zip(arrays, req)]
    theirs = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, req)]
    g = rng.standard_normal((2, 6, 4, 4))
    y = F.conv2d(*ours, stride=2, padding=1, groups=2)
    ty = torch.nn.functional.conv2d(*theirs, stride=2, padding=1, groups=2)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    wanted = [t for t, r in zip(ours, req) if r]
    grads = tc.autograd.grad(y, wanted, tc.Tensor(g), create_graph=create_graph)
    expect = torch.autograd.grad(ty, [t for t, r in zip(theirs, req) if r], torch.tensor(g))
    for a, e in zip(grads, expect):
        np.testing.assert_allclose(a.detach().numpy(), e.numpy(), rtol=1e-10, atol=1e-10)
    expect_ran = {"all": [("dx, dw", True)], "no bias": [("dx, dw", False)],
                  "bias and weight only": [("dw, db", (2, 4, 7, 7))]}[needs]
    assert ran == ([] if create_graph else expect_ran)
    if req[0]:  # the weight's gradient depends on x: recorded with create_graph only
        assert (grads[1].grad_fn is not None) == create_graph
