"""Tests of the threaded elementwise kernels (kernels/parallel.py, kernels/elementwise.py).

The reference is the plain NumPy expression each kernel replaces; results must be bit-identical
whatever the thread count, including at NaN, -0.0 and the infinities.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv.kernels import elementwise as K
from tinygrad_conv.kernels import parallel as P
from tinygrad_conv.ops import activation

# Big enough to be split over 3 threads (the split needs MIN_PER_THREAD elements a range).
BIG = 3 * P.MIN_PER_THREAD + 12345


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"threads{n}")
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    before = P.get_num_threads()
    P.set_num_threads(request.param)
    # relu's kernels split only arrays of millions of elements; split these test arrays too.
    monkeypatch.setattr(K, "_SPLIT_FROM", 0)
    yield request.param
    P.set_num_threads(before)


def _special(n: int, dtype, seed: int = 0) -> np.ndarray:
    """Random values with NaN, +-0.0 and +-inf sprinkled in."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    idx = rng.choice(n, size=40, replace=False)
    a[idx[:10]] = np.nan
    a[idx[10:20]] = 0.0
    a[idx[20:30]] = -0.0
    a[idx[30:35]] = np.inf
    a[idx[35:]] = -np.inf
    return a


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(BIG,), (3, 7, BIG // 21), (64,)], ids=["flat", "4d", "small"])
def test_kernels_match_numpy(threads, dtype, shape):
    x = _special(int(np.prod(shape)), dtype).reshape(shape)
    g = _special(x.size, dtype, seed=1).reshape(shape)
    y = K.relu(x)
    expected = np.maximum(x, 0)
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == x.dtype and y.flags.c_contiguous
    # the sign of a zero output is np.maximum's, whichever range a value fell in
    assert np.array_equal(np.signbit(y), np.signbit(expected))
    # relu's backward passes its output as the mask (true where nonzero, NaN included), or a bool
    for mask in (y, y != 0, y.astype(np.float64)):
        out = K.masked(g, mask)
        # a select: 0 where the mask is false, whatever g holds there (inf and NaN included)
        np.testing.assert_array_equal(out, np.where(mask, g, 0))
        assert np.array_equal(np.signbit(out), np.signbit(np.where(mask, g, 0)))
        assert out.dtype == g.dtype


def test_non_contiguous_and_integer_inputs_take_the_plain_path(threads):
    x = _special(2 * BIG, np.float32).reshape(2, BIG)[:, ::2]
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(K.relu(x), np.maximum(x, 0))
    np.testing.assert_array_equal(K.masked(x, x), np.where(x, x, 0))
    ints = np.arange(-BIG // 2, BIG - BIG // 2)
    np.testing.assert_array_equal(K.relu(ints), np.maximum(ints, 0))
    # an integer mask counts its nonzero entries as true, as np.where does
    g_big = _special(BIG, np.float32)
    mask_i = np.arange(BIG) % 3
    np.testing.assert_array_equal(K.masked(g_big, mask_i), np.where(mask_i, g_big, 0))
    # a mask that broadcasts against g
    g = np.ones((4, 5), dtype=np.float32)
    np.testing.assert_array_equal(K.masked(g[:1], np.eye(4, 5, dtype=bool)), np.eye(4, 5, dtype=np.float32))


def test_inputs_are_left_unchanged(threads):
    x = _special(BIG, np.float32)
    g = _special(BIG, np.float32, seed=1)
    x0, g0 = x.copy(), g.copy()
    K.masked(g, K.relu(x))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("n", [0, 1, P.MIN_PER_THREAD - 1, 2 * P.MIN_PER_THREAD, 5 * P.MIN_PER_THREAD + 3])
@pytest.mark.parametrize("grain", [1, 1000, P.MIN_PER_THREAD])
def test_parallel_for_covers_each_index_once(threads, n, grain):
    hits = np.zeros(n, dtype=np.int64)
    ranges = []

    def body(start: int, stop: int) -> None:
        ranges.append((start, stop))
        hits[start:stop] += 1

    P.parallel_for(n, body, grain)
    assert (hits == 1).all()
    assert len(ranges) <= threads * P.RANGES_PER_THREAD
    if len(ranges) > 1:
        assert min(stop - start for start, stop in ranges) >= grain
    assert sorted(ranges) == sorted(set(ranges))  # contiguous, disjoint ranges, each handed out once


def test_parallel_for_does_not_wait_for_a_thread_that_never_started():
    # The pool's only thread is kept busy, so the calling thread must take every range itself and
    # return without waiting; the task it queued is cancelled and never runs a range later.
    before = P.get_num_threads()
    P.set_num_threads(2)
    release = threading.Event()
    # so that a parallel_for that waits for the busy thread fails this test instead of hanging it
    safety = threading.Timer(10.0, release.set)
    safety.start()
    try:
        P._executor().submit(release.wait)  # occupies the pool's one thread
        seen = []

        def body(start: int, stop: int) -> None:
            seen.append((threading.get_ident(), stop - start))

        P.parallel_for(4 * P.MIN_PER_THREAD, body)
        assert sum(size for _, size in seen) == 4 * P.MIN_PER_THREAD
        assert {ident for ident, _ in seen} == {threading.get_ident()}
        release.set()
        P._executor().submit(lambda: None).result()  # the queue has drained past the cancelled task
        assert len(seen) == 4  # nothing ran after the call returned
    finally:
        safety.cancel()
        release.set()
        P.set_num_threads(before)


def test_parallel_for_raises_after_every_range_is_done():
    before = P.get_num_threads()
    P.set_num_threads(3)
    finished = []

    def body(start: int, stop: int) -> None:
        if start == 0:
            raise ValueError("range 0 failed")
        finished.append(start)

    try:
        with pytest.raises(ValueError, match="range 0 failed"):
            P.parallel_for(3 * P.MIN_PER_THREAD, body)
        assert len(finished) == 2  # the other two ranges ran to the end before the raise
    finally:
        P.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_counts(bad):
    before = P.get_num_threads()
    with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
        tc.set_num_threads(bad)
    assert P.get_num_threads() == before


def test_top_level_thread_count_matches_pytorch_names():
    before = tc.get_num_threads()
    try:
        tc.set_num_threads(1)
        assert tc.get_num_threads() == 1 == P.get_num_threads()
    finally:
        tc.set_num_threads(before)


def _split_relu(x: np.ndarray) -> np.ndarray:
    """relu's block loop split over the pool (the library runs it on one thread)."""
    out = np.empty_like(x)
    P.parallel_for(x.size, lambda lo, hi: K.relu_range(x[lo:hi], out[lo:hi]))
    return out


def _child(queue) -> None:
    x = np.arange(-BIG // 2, BIG - BIG // 2, dtype=np.float32)
    queue.put(bool(np.array_equal(_split_relu(x), np.maximum(x, 0))))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_gets_a_pool_of_its_own():
    before = P.get_num_threads()
    P.set_num_threads(2)
    try:
        x = np.ones(BIG, dtype=np.float32)
        _split_relu(x)  # the parent's pool now has a thread, which the child will not have
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(queue,))
        proc.start()
        result = queue.get(timeout=60)  # a child that reused the parent's pool would hang here
        proc.join(timeout=60)
        assert result is True and proc.exitcode == 0
    finally:
        P.set_num_threads(before)


def test_relu_op_gradients_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(3)
    x_np = _special(BIG, np.float32)
    dy = tc.Tensor(rng.standard_normal(BIG).astype(np.float32))
    before = P.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            P.set_num_threads(n)
            x = tc.Tensor(x_np, requires_grad=True)
            y = activation.relu(x)
            y.backward(dy)
            results.append((y.detach().numpy(), x.grad.numpy()))
    finally:
        P.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    passes = (x_np > 0) | np.isnan(x_np)  # relu passes the gradient where x > 0, and at NaN
    np.testing.assert_array_equal(results[0][1], np.where(passes, dy.numpy(), 0))


def test_default_thread_count_follows_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert P._default_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    assert P._default_threads() == expected
